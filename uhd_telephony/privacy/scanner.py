"""The retention scanner: every hour, each tenant's periods applied (``privacy.retention``), in the process that
holds the tracker lease (one instance at a time; two at once would still do no harm: every batch selects only
rows not done yet). ``/healthz`` shows its last run and what it removed since the start."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from uhd_telephony.privacy.retention import Retention
from uhd_telephony.runtime.scanner import PeriodicTask, utc_now

SCAN_S = 3600.0
RETRY_S = 300.0


class RetentionScanner(PeriodicTask):
    label = "retention scanner"

    def __init__(self, retention: Retention, *, interval_s: float = SCAN_S, clock: Callable[[], datetime] = utc_now):
        super().__init__(interval_s=interval_s, retry_s=RETRY_S)
        self.retention = retention
        self.clock = clock
        self.last_run: datetime | None = None
        self.removed: Counter[str] = Counter()
        self.pending = False  # the last run stopped at its batch bound somewhere: the next one goes on

    async def scan_once(self) -> int:
        went = await self.retention.apply(await self.retention.tenants())
        for due in went:
            self.removed[due.data_class.code] += due.count
        self.pending = not all(due.done for due in went)
        self.last_run = self.clock()
        return sum(due.count for due in went)

    def next_delay(self, failed: bool) -> float:
        # a run that stopped at its bound goes on soon, not in an hour
        return RETRY_S if failed or self.pending else self.interval_s

    def health(self) -> dict[str, object]:
        return {
            "last_error": self.last_error,
            "last_run": None if self.last_run is None else self.last_run.isoformat(),
            "removed": dict(self.removed),
            "pending": self.pending,
        }

    def closing_summary(self) -> str | None:
        total = sum(self.removed.values())
        return f"retention scanner: {total} rows removed or pseudonymised" if total else None
