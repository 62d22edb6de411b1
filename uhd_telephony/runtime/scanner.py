"""Periodic work in one owned task: THE way this application writes a loop that does something every so often.

``PeriodicTask`` is the loop (interval, retry interval after a failure, ``wake()``, ``start``/``close``);
``PeriodicScanner`` adds the database, the clock and the batch size of the scanners over persisted due times (the
10-minute rule, the SLA escalations, the follow-up catch-up). A failed scan (the database briefly away) is logged
and retried at the next interval: the due times wait in their table meanwhile, so nothing is lost and nothing fires
twice."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

SCAN_BATCH = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


class PeriodicTask(abc.ABC):
    """Calls ``scan_once()`` every ``interval_s`` in one owned task; ``start``/``close``.

    After a failed scan the next one comes after ``retry_s`` (default: the interval); ``wake()`` scans at once.
    """

    label = "scan"  # how the logs name this scanner
    scan_at_start = True  # False: the first scan waits one interval (the state was just loaded)

    def __init__(self, *, interval_s: float = 15.0, retry_s: float | None = None) -> None:
        self.interval_s = interval_s
        self.retry_s = interval_s if retry_s is None else min(retry_s, interval_s)
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @abc.abstractmethod
    async def scan_once(self) -> int:
        """Handle everything due now; how many items this instance handled."""

    def wake(self) -> None:
        """Scan now instead of at the end of the current wait (a scan under way is followed by another)."""
        self._wake.set()

    def next_delay(self, failed: bool) -> float:
        """How long to wait before the next scan."""
        return self.retry_s if failed else self.interval_s

    def closing_summary(self) -> str | None:
        """A line for the log when the scanner stops, or None."""
        return None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.label)

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        summary = self.closing_summary()
        if summary:
            log.info("%s", summary)

    async def _run(self) -> None:
        if not self.scan_at_start:
            await self._sleep(self.interval_s)
        while True:
            self._wake.clear()
            failed = False
            try:
                await self.scan_once()
                self.last_error = None
            except Exception as exc:  # the database may be away: the due times wait in the table meanwhile
                failed = True
                self.last_error = repr(exc)
                log.warning("%s failed: %r", self.label, exc)
            await self._sleep(self.next_delay(failed))

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()


class PeriodicScanner(PeriodicTask):
    """A ``PeriodicTask`` over the database: due times in a table, read a batch at a time; ``clock`` injectable."""

    def __init__(
        self,
        db: Database,
        *,
        interval_s: float = 15.0,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = SCAN_BATCH,
        retry_s: float | None = None,
    ) -> None:
        super().__init__(interval_s=interval_s, retry_s=retry_s)
        self.db = db
        self.clock = clock
        self.batch_size = batch_size
