"""Persisted due times, scanned on an interval: the one owned-task loop behind the 10-minute rule and the SLA
escalations. A failed scan (the database briefly away) is logged and retried at the next interval: the due
times wait in their table meanwhile, so nothing is lost and nothing fires twice."""

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


class PeriodicScanner(abc.ABC):
    """Calls ``scan_once()`` every ``interval_s`` in one owned task; ``start``/``close``; ``clock`` is injectable."""

    label = "scan"  # how the logs name this scanner
    scan_at_start = True  # False: the first scan waits one interval (the state was just loaded)

    def __init__(
        self,
        db: Database,
        *,
        interval_s: float = 15.0,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = SCAN_BATCH,
    ) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock
        self.batch_size = batch_size
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def scan_once(self) -> int:
        """Handle everything due now; how many items this instance handled."""

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
            await asyncio.sleep(self.interval_s)
        while True:
            try:
                await self.scan_once()
                self.last_error = None
            except Exception as exc:  # the database may be away: the due times wait in the table meanwhile
                self.last_error = repr(exc)
                log.warning("%s failed: %r", self.label, exc)
            await asyncio.sleep(self.interval_s)
