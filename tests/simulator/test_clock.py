"""Virtual time and the load distributions: the pure parts underneath the simulator."""

from __future__ import annotations

import asyncio
import functools
import random
import statistics

import pytest

from uhd_telephony.simulator.clock import LiveClock, VirtualClock
from uhd_telephony.simulator.scenario import draw


def test_virtual_clock_runs_timers_in_time_order_at_their_time() -> None:
    clock = VirtualClock(100.0)
    seen: list[tuple[str, float]] = []
    clock.call_later(5, lambda: seen.append(("b", clock.now())))
    clock.call_later(1, lambda: seen.append(("a", clock.now())))
    cancelled = clock.call_later(3, lambda: seen.append(("x", clock.now())))

    def chain() -> None:
        clock.call_later(0, lambda: seen.append(("c", clock.now())))

    clock.call_later(5, chain)
    cancelled.cancel()
    assert clock.run() == 4
    assert seen == [("a", 101.0), ("b", 105.0), ("c", 105.0)]
    assert clock.pending() == 0


def test_virtual_clock_stops_at_until() -> None:
    clock = VirtualClock(0.0)
    seen: list[int] = []
    for i in range(10):
        clock.call_at(float(i), functools.partial(seen.append, i))
    clock.run(until=4.5)
    assert seen == [0, 1, 2, 3, 4] and clock.now() == 4.5


async def test_live_clock_with_speed_zero_only_moves_on_advance() -> None:
    clock = LiveClock(1000.0, speed=0)
    clock.bind(asyncio.get_running_loop())
    fired: list[float] = []
    clock.call_later(30, lambda: fired.append(clock.now()))
    runner = asyncio.create_task(clock.run())
    try:
        await asyncio.sleep(0.05)
        assert clock.now() == 1000.0 and not fired
        clock.advance(31)
        assert fired == [1030.0] and clock.now() == 1031.0
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


async def test_live_clock_paces_by_speed() -> None:
    clock = LiveClock(0.0, speed=200)
    fired = asyncio.Event()
    clock.call_later(20, fired.set)  # 0.1 s of wall time
    runner = asyncio.create_task(clock.run())
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(2):
            await fired.wait()
        assert 0.08 <= loop.time() - started < 1.0
        assert clock.now() >= 20
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


@pytest.mark.parametrize("dist", ["exponential", "lognormal", "fixed"])
def test_distributions_have_the_asked_mean(dist: str) -> None:
    rng = random.Random(1)
    samples = [draw(rng, dist, 120.0) for _ in range(20_000)]
    assert statistics.fmean(samples) == pytest.approx(120.0, rel=0.05)
    assert min(samples) > 0
    with pytest.raises(ValueError):
        draw(rng, "uniform", 1.0)
