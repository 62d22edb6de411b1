"""Fan-out of pops from the process that follows Asterisk to every web process that holds agent consoles.

With Redis (``UHD_REDIS_URL``) a pop is published on one channel that every web process subscribes to, and the
agent's current pop is kept under a key with a time to live, so a console that reconnects — to any process —
during a live call gets the pop it missed. Without Redis the same happens within the one process.

Several instances following the same PBX (for availability) all compose the same pop: through Redis, the first
to publish a call's pop (or end) for an agent claims it with ``SET NX`` and the others' copies are dropped, in
one script with the publish, so an agent's console gets one pop per answer.
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
SENT_TTL_S = CURRENT_TTL_S  # how long a published pop's claim keeps other instances from publishing it again

# KEYS[1]: the claim of this message (call, agent, type); KEYS[2], if given: the agent's current pop.
# ARGV: the claim's TTL, the message, the current pop's TTL, the channel. 1 if published, 0 if already claimed.
_PUBLISH_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
"""


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Fanout(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, message: dict[str, Any]) -> bool:
        """Deliver to the agent's consoles everywhere; a ``pop`` also becomes the agent's current pop.
        False when another instance published the same message (call, agent, type) already."""

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

    async def publish(self, message: dict[str, Any]) -> bool:
        if message.get("type") == "pop":
            self._current[message["agent_id"]] = message
        await self.hub.deliver(message, encode(message))
        return True

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
        self._publish_once: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.received = 0

    def _key(self, agent_id: int) -> str:
        return f"{self.prefix}pop:current:{agent_id}"

    def _claim_key(self, message: dict[str, Any]) -> str | None:
        """The key that makes a call's message to an agent once-only across instances; None: not a call's."""
        call = message.get("call")
        call_key = (call.get("call_id") or call.get("linkedid")) if isinstance(call, dict) else None
        if not call_key or message.get("agent_id") is None:
            return None
        return f"{self.prefix}pop:sent:{message.get('type')}:{message['agent_id']}:{call_key}"

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True)
        self._publish_once = self._redis.register_script(_PUBLISH_ONCE)
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

    async def publish(self, message: dict[str, Any]) -> bool:
        text = encode(message)
        claim = self._claim_key(message)
        if claim is not None:
            keys = [claim]
            if message.get("type") == "pop":
                keys.append(self._key(message["agent_id"]))
            published = await self._publish_once(keys=keys, args=[SENT_TTL_S, text, CURRENT_TTL_S, self.channel])
            if not published:
                log.debug("%s of call %s for agent %s was published by another instance", message.get("type"),
                          message["call"].get("call_id"), message["agent_id"])  # fmt: skip
            return bool(published)
        async with self._redis.pipeline(transaction=False) as pipe:
            if message.get("type") == "pop":
                pipe.set(self._key(message["agent_id"]), text, ex=CURRENT_TTL_S)
            pipe.publish(self.channel, text)
            await pipe.execute()
        return True

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
