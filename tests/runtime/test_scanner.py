"""PeriodicScanner: scans on its interval in one owned task; a failed scan is kept in last_error, not fatal."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uhd_telephony.runtime.scanner import PeriodicScanner


class Counting(PeriodicScanner):
    label = "counting"

    def __init__(self, *, fail: bool = False, **options: Any) -> None:
        super().__init__(None, **options)  # type: ignore[arg-type]  # scan_once never touches the database
        self.fail = fail
        self.scans: asyncio.Queue[float] = asyncio.Queue()  # when each scan ran (monotonic)

    async def scan_once(self) -> int:
        self.scans.put_nowait(time.monotonic())
        if self.fail:
            raise RuntimeError("database away")
        return 0

    async def next_scan(self) -> float:
        return await asyncio.wait_for(self.scans.get(), 2.0)


async def test_scans_at_start_and_on_each_interval() -> None:
    scanner = Counting(interval_s=0.05)
    started = time.monotonic()
    await scanner.start()
    first = await scanner.next_scan()
    second = await scanner.next_scan()
    await scanner.close()
    assert first - started < 0.05
    assert second - first >= 0.045


async def test_scan_at_start_false_waits_one_interval() -> None:
    scanner = Counting(interval_s=0.1)
    scanner.scan_at_start = False
    started = time.monotonic()
    await scanner.start()
    first = await scanner.next_scan()
    await scanner.close()
    assert first - started >= 0.095


async def test_a_failed_scan_is_kept_and_retried() -> None:
    scanner = Counting(fail=True, interval_s=0.05)
    await scanner.start()
    await scanner.next_scan()
    await scanner.next_scan()
    assert scanner.last_error == "RuntimeError('database away')"
    await scanner.close()


async def test_wake_scans_at_once_and_a_failed_scan_is_retried_after_retry_s() -> None:
    scanner = Counting(fail=True, interval_s=60, retry_s=0.05)
    await scanner.start()
    first = await scanner.next_scan()
    second = await scanner.next_scan()  # failed: again after retry_s, not after the interval
    assert 0.045 <= second - first < 1
    scanner.fail = False
    await scanner.next_scan()  # succeeds: the next one would be a minute away ...
    scanner.wake()  # ... unless someone wakes it
    woken = time.monotonic()
    assert await scanner.next_scan() - woken < 0.5
    await scanner.close()
