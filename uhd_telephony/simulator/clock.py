"""Simulated time: one heap of timers in virtual epoch seconds, run instantly offline or paced live.

Everything the PBX does happens in a timer callback or an AMI action, at the clock's ``now()``. Offline
(``VirtualClock``) the heap is drained as fast as Python goes; live (``LiveClock``) virtual time runs at
``speed`` times wall time, so an hour of traffic can pass in a minute while the ``Timestamp`` headers stay
consistent with the durations they describe. ``speed=0`` stops time: only ``advance()`` moves it (tests).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable


class Timer:
    """A scheduled callback; ``cancel()`` makes it a no-op."""

    __slots__ = ("cancelled", "fn", "seq", "when")

    def __init__(self, when: float, seq: int, fn: Callable[[], None]) -> None:
        self.when = when
        self.seq = seq
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class Clock:
    """Virtual time plus the timer heap; subclasses decide how time moves."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._heap: list[Timer] = []
        self._seq = 0
        self.start = start

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, fn: Callable[[], None]) -> Timer:
        self._seq += 1
        timer = Timer(when, self._seq, fn)
        heapq.heappush(self._heap, timer)
        self._scheduled(timer)
        return timer

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        return self.call_at(self.now() + max(delay, 0.0), fn)

    def next_due(self) -> float | None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    def pending(self) -> int:
        return sum(1 for t in self._heap if not t.cancelled)

    def run_due(self, until: float) -> int:
        """Run every timer due at or before ``until`` in order, each at its own time. Returns how many ran."""
        heap = self._heap
        ran = 0
        while heap and heap[0].when <= until:
            timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            if timer.when > self._now:
                self._now = timer.when
            timer.fn()
            ran += 1
        if until > self._now:
            self._now = until
        return ran

    def _scheduled(self, timer: Timer) -> None:
        """Hook for a clock that must wake up when an earlier timer appears."""


class VirtualClock(Clock):
    """Offline time: ``run()`` drains the heap without sleeping."""

    def run(self, until: float | None = None, max_timers: int | None = None) -> int:
        """Run timers in order until none is left (or ``until`` / ``max_timers`` is reached)."""
        ran = 0
        while True:
            due = self.next_due()
            if due is None or (until is not None and due > until):
                break
            timer = heapq.heappop(self._heap)
            if timer.when > self._now:
                self._now = timer.when
            timer.fn()
            ran += 1
            if max_timers is not None and ran >= max_timers:
                break
        if until is not None and until > self._now:
            self._now = until
        return ran


class LiveClock(Clock):
    """Wall-paced time for the TCP server: virtual = start + (loop time since start) * speed."""

    def __init__(self, start: float, speed: float = 1.0) -> None:
        super().__init__(start)
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = speed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._base_wall = 0.0
        self._base_virtual = start
        self._in_timer = False
        self._waiter: asyncio.Future[None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the virtual clock now; called by the server when it starts."""
        self._loop = loop
        self._base_wall = loop.time()
        self._base_virtual = self._now

    def now(self) -> float:
        # inside a timer callback the time is the timer's own, so durations in Timestamps are exact even when
        # the loop ran the timer a few milliseconds late (which at speed 1000 would be seconds)
        if not self._in_timer and self.speed > 0 and self._loop is not None:
            virtual = self._base_virtual + (self._loop.time() - self._base_wall) * self.speed
            if virtual > self._now:
                self._now = virtual
        return self._now

    def run_due(self, until: float) -> int:
        self._in_timer = True
        try:
            return super().run_due(until)
        finally:
            self._in_timer = False

    def advance(self, seconds: float) -> int:
        """Jump virtual time forward by ``seconds`` and run what became due (the manual mode of tests)."""
        target = self.now() + seconds
        ran = self.run_due(target)
        # keep the wall-paced part continuous from the new virtual time
        if self._loop is not None:
            self._base_wall = self._loop.time()
            self._base_virtual = self._now
        return ran

    def set_speed(self, speed: float) -> None:
        """Run at ``speed`` from now on; virtual time stays continuous (what passed so far keeps its pace)."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.now()  # settle the time passed at the old speed
        if self._loop is not None:
            self._base_wall = self._loop.time()
            self._base_virtual = self._now
        self.speed = speed
        self._wake()  # the pacing task sleeps for a wall delay computed at the old speed

    def _scheduled(self, timer: Timer) -> None:
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self) -> None:
        """The pacing task: sleep until the next timer is due in wall time, run it, repeat. Runs until cancelled."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self.bind(loop)
        while True:
            due = self.next_due()
            now = self.now()
            if due is not None and self.speed > 0 and due <= now:
                self.run_due(now)
                # let sockets and actions in between large bursts of timers
                await asyncio.sleep(0)
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            handle = None
            if due is not None and self.speed > 0:
                delay = (due - now) / self.speed
                handle = loop.call_later(delay, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if handle is not None:
                    handle.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
