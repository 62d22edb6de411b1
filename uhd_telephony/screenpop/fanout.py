"""Fan-out of pops from the process that follows Asterisk to every web process that holds agent consoles.

With Redis (``UHD_REDIS_URL``) a pop is published on one channel that every web process subscribes to, and the
agent's current pop is kept under a key with a time to live, so a console that reconnects — to any process —
during a live call gets the pop it missed. Without Redis the same happens within the one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any, Protocol

from uhd_telephony.screenpop.hub import PopHub

log = logging.getLogger(__name__)

CURRENT_TTL_S = 4 * 3600  # a pop outlives no call longer than this, even if its end was never seen


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Fanout(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, message: dict[str, Any]) -> None:
        """Deliver to the agent's consoles everywhere; a ``pop`` also becomes the agent's current pop."""

    async def current(self, agent_id: int) -> dict[str, Any] | None:
        """The pop of the call the agent is in now, for a console that (re)connects."""

    async def end(self, agent_id: int, linkedid: str) -> None:
        """The call is over: it is no longer the agent's current pop (if it still is)."""


class LocalFanout:
    """One process: publish hands the message straight to the hub."""

    def __init__(self, hub: PopHub) -> None:
        self.hub = hub
        self._current: dict[int, dict[str, Any]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._current.clear()

    async def publish(self, message: dict[str, Any]) -> None:
        if message.get("type") == "pop":
            self._current[message["agent_id"]] = message
        await self.hub.deliver(message, encode(message))

    async def current(self, agent_id: int) -> dict[str, Any] | None:
        return self._current.get(agent_id)

    async def end(self, agent_id: int, linkedid: str) -> None:
        pop = self._current.get(agent_id)
        if pop is not None and pop.get("call", {}).get("linkedid") == linkedid:
            del self._current[agent_id]


class RedisFanout:
    """Several processes: Redis pub/sub for delivery, a key per agent for the current pop."""

    def __init__(self, hub: PopHub, url: str, prefix: str = "uhd:", *, retry_max_s: float = 10.0) -> None:
        self.hub = hub
        self.url = url
        self.prefix = prefix
        self.channel = f"{prefix}pops"
        self.retry_max_s = retry_max_s
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.received = 0

    def _key(self, agent_id: int) -> str:
        return f"{self.prefix}pop:current:{agent_id}"

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True)
        self._listener = asyncio.create_task(self._listen(), name="pop-fanout")
        # a pop published before our subscription would be lost: wait until it is in place (or fails)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, message: dict[str, Any]) -> None:
        text = encode(message)
        async with self._redis.pipeline(transaction=False) as pipe:
            if message.get("type") == "pop":
                pipe.set(self._key(message["agent_id"]), text, ex=CURRENT_TTL_S)
            pipe.publish(self.channel, text)
            await pipe.execute()

    async def current(self, agent_id: int) -> dict[str, Any] | None:
        text = await self._redis.get(self._key(agent_id))
        return json.loads(text) if text else None

    async def end(self, agent_id: int, linkedid: str) -> None:
        key = self._key(agent_id)
        text = await self._redis.get(key)
        if text and json.loads(text).get("call", {}).get("linkedid") == linkedid:
            await self._redis.delete(key)

    async def _listen(self) -> None:
        """Subscribe and deliver; on a Redis failure, log, back off and subscribe again."""
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.1
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    self.received += 1
                    try:
                        message = json.loads(item["data"])
                    except (TypeError, ValueError):
                        log.warning("dropped a malformed pop message from Redis")
                        continue
                    await self.hub.deliver(message, item["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection to Redis: retry, never give up delivering pops
                log.warning("Redis pop channel failed (%s); resubscribing in %.1f s", exc, delay)
                await asyncio.sleep(delay * (1 + random.random() / 2))
                delay = min(delay * 2, self.retry_max_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def make_fanout(hub: PopHub, redis_url: str | None, prefix: str = "uhd:") -> LocalFanout | RedisFanout:
    return RedisFanout(hub, redis_url, prefix) if redis_url else LocalFanout(hub)
