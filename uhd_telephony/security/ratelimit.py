"""The login rate limit and lockout, per username and per client address, over a moving window (``limits``).

Failed logins are counted per username and per address over ``window_s``. The ``max_failures``-th failure of a
username (``ip_max_failures``-th of an address) locks it out for ``lockout_s``: every login for it is then
answered 429 with ``Retry-After``, before the password is even looked at, so a lockout tells nothing about
passwords. A successful login clears its username's failures; an address's failures only age out (else an
attacker holding one valid login could clear its address's count between guesses). Storage: in memory, or
Redis (``UHD_REDIS_URL``, keys under ``UHD_REDIS_PREFIX``) so that every process counts the same failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures: int = 5
    ip_max_failures: int = 50  # a hospital sends all its staff through one NAT address: be generous
    window_s: int = 900
    lockout_s: int = 900


@dataclass(frozen=True, slots=True)
class Lockout:
    """A username or address locked out: what and for how long still."""

    kind: str  # "username" or "address"
    retry_after: int


def _user_key(username: str) -> str:
    # a digest: the key never carries what someone typed (possibly a password in the username field)
    return hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()[:32]


class LoginGuard:
    """Counts failed logins and answers whether a username or address is locked out."""

    def __init__(self, limits: LoginLimits, redis_url: str | None = None, prefix: str = "uhd:") -> None:
        self.limits = limits
        self.storage: MemoryStorage | RedisStorage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self.storage = RedisStorage(
                uri, implementation="redispy", key_prefix=f"{prefix}login", wrap_exceptions=True
            )
        else:
            self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        self._failures = {
            "username": RateLimitItemPerSecond(limits.max_failures, limits.window_s, namespace="failures-user"),
            "address": RateLimitItemPerSecond(limits.ip_max_failures, limits.window_s, namespace="failures-ip"),
        }
        # one hit fills it: the window of this item is the lockout
        self._lock = RateLimitItemPerSecond(1, limits.lockout_s, namespace="lockout")

    def _keys(self, username: str, ip: str | None) -> dict[str, str]:
        return {"username": _user_key(username), "address": ip or "unknown"}

    async def locked(self, username: str, ip: str | None) -> Lockout | None:
        """The lockout in force for this username or address, if any."""
        try:
            for kind, key in self._keys(username, ip).items():
                if not await self.limiter.test(self._lock, kind, key):
                    stats = await self.limiter.get_window_stats(self._lock, kind, key)
                    return Lockout(kind, max(1, math.ceil(stats.reset_time - time.time())))
        except StorageError as exc:  # Redis away: logins go on unthrottled rather than not at all
            log.warning("login rate limit unavailable: %s", exc)
        return None

    async def failed(self, username: str, ip: str | None) -> Lockout | None:
        """Count a failure; the lockout it starts, if it was the last one allowed."""
        started: Lockout | None = None
        try:
            for kind, key in self._keys(username, ip).items():
                item = self._failures[kind]
                await self.limiter.hit(item, kind, key)
                if not await self.limiter.test(item, kind, key):
                    await self.limiter.hit(self._lock, kind, key)
                    await self.limiter.clear(item, kind, key)  # after the lockout: a fresh count
                    started = started or Lockout(kind, self.limits.lockout_s)
        except StorageError as exc:
            log.warning("login rate limit unavailable: %s", exc)
        return started

    async def succeeded(self, username: str) -> None:
        """A good password: the username's failures are forgotten."""
        try:
            await self.limiter.clear(self._failures["username"], "username", _user_key(username))
        except StorageError as exc:
            log.warning("login rate limit unavailable: %s", exc)

    async def close(self) -> None:
        """Stop the memory storage's expiry task; close the Redis connection pool."""
        if isinstance(self.storage, MemoryStorage):
            timer: asyncio.Task[Any] | None = self.storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
            return
        client = getattr(self.storage.bridge, "storage", None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
