"""Password hashing off the event loop, in a bounded pool: a login storm waits in line or is refused, never starves.

One scrypt hash or verify takes about 50 ms of CPU (``accounts.passwords``). Run on the event loop, a storm of
logins stops the consoles, the pops and the API; run in the default executor (up to ``cpu + 4`` threads, an
unbounded queue, shared with the report renders) it takes every core from the loop and every waiting login
holds its request open, so 150 logins in 3 s took seconds each. ``PasswordHasher`` instead owns a
``ThreadPoolExecutor`` of ``UHD_PASSWORD_HASH_WORKERS`` threads (``hashlib.scrypt`` releases the GIL, so the
threads hash in parallel with the loop) and lets at most that many hashes run at once.

The line is bounded too: a verify (a login) finding ``UHD_PASSWORD_HASH_QUEUE`` others already waiting is
refused at once with ``Busy`` (429 with ``Retry-After``: the login page shows the message and the person tries
again a moment later) instead of piling up. The refusal happens before any hashing, for known and unknown
names alike, so it tells nothing about which names exist. Hashing new passwords (accounts created or changed
by an admin, a login's rehash after its verify succeeded) waits in line without a limit: few people do that.

The hashing threads run at a lower CPU priority than the rest of the process (``UHD_PASSWORD_HASH_NICE``, a
Linux thread's own nice value): on a machine whose cores the hashes fill, the event loop's thread still gets a
core the moment a pop, a WebSocket frame or an AMI event wakes it, and the hashes take what is left. A login
waits a little longer; the consoles do not.

The executor belongs to the web app (``accounts.plugin.services`` creates it and shuts it down); code without
the app (the CLI, the demo's seeding, tests) uses ``PasswordHasher.unowned()``: the same API on the loop's
default executor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from uhd_telephony.accounts import passwords
from uhd_telephony.errors import Busy
from uhd_telephony.i18n import Msg

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_S = 2  # what a refused login is told: the line drains at about 20 verifies per second per worker


def lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux: the nice value belongs to the thread, so the
    rest of the process keeps its priority). Elsewhere, or where it is refused, the thread stays as it is."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as exc:  # a container's seccomp profile may refuse it: hashing works the same, only less politely
        log.warning("password hashing threads keep their priority: %s", exc)


class PasswordHasher:
    """scrypt hash and verify in an owned thread pool, ``workers`` at a time, at most ``queue`` verifies waiting."""

    def __init__(self, workers: int, queue: int, *, own_pool: bool = True, nice: int = 0) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a hasher needs at least one worker and a queue of zero or more")
        if not 0 <= nice <= 19:
            raise ValueError("a hashing thread's nice value is 0 (as the process) to 19 (lowest priority)")
        self.workers = workers
        self.queue = queue
        self.nice = nice
        # None: the loop's default executor, which the loop owns
        self._executor = (
            ThreadPoolExecutor(workers, thread_name_prefix="uhd-password", initializer=lower_priority, initargs=(nice,))
            if own_pool
            else None
        )
        self._slots = asyncio.Semaphore(workers)
        self._waiting = 0
        self._closed = False

    @classmethod
    def unowned(cls) -> PasswordHasher:
        """A hasher on the loop's default executor (nothing to shut down), one hash at a time, never refusing:
        for code without the web app (the CLI, seeding, tests)."""
        return cls(1, 1 << 30, own_pool=False)

    @property
    def waiting(self) -> int:
        """How many hashes wait for a worker now."""
        return self._waiting

    async def hash(self, password: str) -> str:
        """``passwords.hash_password`` in the pool; waits its turn however long the line."""
        return await self._run(passwords.hash_password, password)

    async def verify(self, password: str, encoded: str) -> bool:
        """``passwords.verify_password`` in the pool; ``Busy`` at once when ``queue`` verifies already wait."""
        if self._slots.locked() and self._waiting >= self.queue:
            log.info("login refused: %d password checks already waiting", self._waiting)
            busy = Msg("too many logins at once: try again in %(seconds)s s", seconds=RETRY_AFTER_S)
            raise Busy(busy, RETRY_AFTER_S, {"busy": "logins"})
        return await self._run(passwords.verify_password, password, encoded)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self._closed:
            raise RuntimeError("the password hasher is shut down")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Shut the pool down: queued hashes are cancelled, a running one is waited for (off the loop)."""
        self._closed = True
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
