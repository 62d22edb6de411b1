"""``/metrics`` at 50 tenants: how long one scrape takes, and how long it holds the event loop.

    python bench/metrics_render.py [--tenants 50] [--queues 3] [--agents 8] [--waiting 4] [--calls 200]
                                   [--churn 30] [--renders 300]

Builds the live state of a busy installation in a ``MetricsService``: ``--tenants`` tenants with ``--queues``
queues each (every other tenant with business hours from its SLA calendar, the others around the clock), a day
of calls per queue pushed through the counters as domain events (every outcome, transfers between the queues,
closed calls), ``--waiting`` callers waiting per queue in the tracker, ``--agents`` members per queue (some
paused, some logged out), and ticket totals for 7 top-level categories per tenant with an escalation histogram.
Then, over ``--renders`` scrapes each:

- scrape: ``MetricsService.render()`` end to end, with ``--churn`` more calls of random queues counted and 15 s
  passed between two scrapes (a busy hour at Prometheus' default interval): the common case, where the text of
  the queues without news is kept;
- cold: the same with the kept text dropped before each scrape (every queue and the ticket totals rendered anew,
  as in the first scrape after a start): the worst case, and big enough to go to the executor;
- loop: the longest stretch one scrape held the event loop (steady and cold), as a task yielding in a loop
  between them sees it (measured in a pass of its own: that task competes with the render thread);
- baseline: ``generate_latest`` of the same series held in prometheus-client's own labelled Counter,
  Histogram and Gauge objects (the library's default way), measured in the same run;
- gc: the garbage collections during the scrape pass, per generation.

The target is a scrape under 50 ms (p99) at 50 tenants.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from uhd_telephony.ami.events import QueueMemberEvent
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.metrics.exposition import Renderer
from uhd_telephony.metrics.live import ESCALATION_BUCKETS, TALK_BUCKETS, WAIT_BUCKETS, TicketTotals
from uhd_telephony.metrics.service import MetricsService, TicketStatsCache
from uhd_telephony.sla.calendar import Calendar

CATEGORIES = ["kis", "pacs", "hardware", "network", "standard-apps", "facility", "none"]
OUTCOMES = [
    (Outcome.ANSWERED, 70),
    (Outcome.TRANSFERRED, 6),
    (Outcome.ABANDONED, 10),
    (Outcome.SHORT_ABANDON, 5),
    (Outcome.TIMEOUT, 4),
    (Outcome.OVERFLOW, 1),
    (Outcome.REFUSED, 1),
    (Outcome.CALLBACK, 2),
    (Outcome.CLOSED, 1),
]
SCRAPE_INTERVAL_S = 15.0
HOURS = Calendar.from_config({"hours": {d: ["07:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})


class State:
    """The service under test, its clock, and a source of calls."""

    def __init__(self, service: MetricsService, now: float, queues: list[tuple[str, str]]) -> None:
        self.service = service
        self.now = now
        self.queues = queues
        self.rng = random.Random(1)
        self.n = 0

    def call(self, tenant: str, queue: str, entered: float) -> None:
        """One queue stay through the counters, as the tracker publishes it (a closed call: its end alone)."""
        rng, counters = self.rng, self.service.counters
        self.n += 1
        call = CallRecord(f"{self.n}@{queue}", f"l{self.n}", str(self.n), queue, tenant, entered)
        outcome = rng.choices(*zip(*OUTCOMES, strict=True))[0]
        if outcome != Outcome.CLOSED:
            counters(CallOffered(call, entered))
        call.wait_s = 0.0 if outcome == Outcome.CLOSED else round(rng.expovariate(1 / 25), 3)
        if outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED):
            call.answered_at = entered + call.wait_s
            counters(CallAnswered(call, call.answered_at))
            call.talk_s = round(rng.expovariate(1 / 240), 3)
        call.outcome = outcome
        counters(CallEnded(call, entered + call.wait_s + (call.talk_s or 0)))

    def churn(self, calls: int) -> None:
        """``calls`` more calls of random queues, and a scrape interval passed."""
        self.now += SCRAPE_INTERVAL_S
        for _ in range(calls):
            tenant, queue = self.rng.choice(self.queues)
            self.call(tenant, queue, self.now - self.rng.uniform(0, SCRAPE_INTERVAL_S))


def build(args: argparse.Namespace) -> State:
    rng = random.Random(1)
    tracker = CallTracker()
    state = State(MetricsService(tracker=tracker), time.time(), [])
    service = state.service
    service.clock = lambda: state.now
    service.counters.calendars = {f"klinikum-{t:02d}": HOURS for t in range(0, args.tenants, 2)}
    n = 0
    for t in range(args.tenants):
        tenant = f"klinikum-{t:02d}"
        for q in range(args.queues):
            queue = f"hotline-{t:02d}-{q}"
            state.queues.append((tenant, queue))
            for _ in range(args.calls):
                state.call(tenant, queue, state.now - rng.uniform(60, 86_400))
            for _ in range(args.waiting):
                n += 1
                tracker.calls[f"w{n}@{queue}"] = CallRecord(
                    f"w{n}@{queue}",
                    f"w{n}",
                    f"w{n}",
                    queue,
                    tenant,
                    state.now - rng.uniform(1, 180),
                    caller_number="+49231",
                )
            for a in range(args.agents):
                status = 5 if a == 0 else rng.choice([1, 1, 2, 6])
                service.members.apply(
                    QueueMemberEvent(
                        state.now, "added", queue, f"PJSIP/{t:02d}{q}{a}", f"Agent {a}", status, a == 1, "", False, ""
                    )
                )
    created = {(f"klinikum-{t:02d}", c): rng.randint(50, 5000) for t in range(args.tenants) for c in CATEGORIES}
    routed = {k: v // 4 for k, v in created.items()}
    escalated = {k: v // 20 for k, v in created.items()}
    escalation = {}
    for t in range(args.tenants):
        total = sum(routed[(f"klinikum-{t:02d}", c)] for c in CATEGORIES)
        counts = [*sorted(rng.randint(0, total) for _ in ESCALATION_BUCKETS), total]
        escalation[f"klinikum-{t:02d}"] = (counts, total * 1800.0)
    service.tickets = TicketStatsCache(None, ttl_s=1e9)  # type: ignore[arg-type]  # never reads: set() below
    service.tickets.set(TicketTotals(created, routed, escalated, escalation))
    return state


def baseline_registry(service: MetricsService) -> CollectorRegistry:
    """The same series in prometheus-client's own metric objects."""
    reg = CollectorRegistry()
    tq = ["tenant", "queue"]
    counters = [
        Counter(f"uhd_calls_{name}", name, tq, registry=reg)
        for name in (
            "offered",
            "answered",
            "abandoned",
            "short_abandoned",
            "timed_out",
            "closed",
            "outside_hours",
            "transferred_in",
        )
    ]
    wait = Histogram("uhd_call_wait_seconds", "wait", tq, buckets=WAIT_BUCKETS, registry=reg)
    talk = Histogram("uhd_call_talk_seconds", "talk", tq, buckets=TALK_BUCKETS, registry=reg)
    gauges = [Gauge(name, name, tq, registry=reg) for name in ("uhd_callers_waiting", "uhd_callers_longest_wait")]
    for (tenant, queue), q in service.counters.queues.items():
        for c in counters:
            c.labels(tenant, queue).inc(q.offered)
        wait.labels(tenant, queue).observe(10)
        talk.labels(tenant, queue).observe(100)
        for g in gauges:
            g.labels(tenant, queue).set(1)
    agents = [Gauge(name, name, ["queue"], registry=reg) for name in ("uhd_queue_agents_logged_in", "paused")]
    for queue in service.members.by_queue():
        for g in agents:
            g.labels(queue).set(3)
    tc = ["tenant", "category"]
    tickets = [Gauge(f"uhd_tickets_{n}", n, tc, registry=reg) for n in ("created", "routed", "escalated")]
    assert service.tickets is not None and service.tickets.totals is not None
    for key in service.tickets.totals.created:
        for g in tickets:
            g.labels(*key).set(5)
    esc = Histogram("uhd_ticket_escalation_seconds", "esc", ["tenant"], buckets=ESCALATION_BUCKETS, registry=reg)
    for tenant in service.tickets.totals.escalation:
        esc.labels(tenant).observe(1000)
    return reg


def pct(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(-(-p * len(ordered) // 100), 1) - 1]


async def held(scrape: Callable[[], Awaitable[bytes]]) -> float:
    """The longest the event loop was held (ms) while ``scrape`` ran, seen by a task that yields in a loop."""
    longest = 0.0
    running = True

    async def beat() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    task = asyncio.create_task(beat())
    await asyncio.sleep(0)  # the beat has started
    await scrape()
    running = False
    await task
    return longest * 1000


async def main(args: argparse.Namespace) -> None:
    state = build(args)
    service = state.service
    body = await service.render()
    lines = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    print(
        f"{args.tenants} tenants x {args.queues} queues: {len(service.counters.queues)} tenant/queue pairs, "
        f"{len(lines)} samples, {len(body) / 1024:.0f} KiB per scrape; {args.churn} calls between scrapes"
    )

    async def cold() -> bytes:
        service.renderer = Renderer()
        return await service.render()

    results: dict[str, list[float]] = {}
    gc_before = [s["collections"] for s in gc.get_stats()]
    for name, scrape in (("scrape", service.render), ("cold", cold)):
        times = results[name] = []
        for _ in range(args.renders):
            state.churn(args.churn)
            t0 = time.perf_counter()
            await scrape()
            times.append((time.perf_counter() - t0) * 1000)
    collections = [s["collections"] - b for s, b in zip(gc.get_stats(), gc_before, strict=True)]
    for name, scrape in (("loop", service.render), ("loop cold", cold)):
        results[name] = []
        for _ in range(args.renders):
            state.churn(args.churn)
            results[name].append(await held(scrape))
    reg = baseline_registry(service)
    base = results["baseline"] = []
    for _ in range(args.renders):
        t0 = time.perf_counter()
        generate_latest(reg)
        base.append((time.perf_counter() - t0) * 1000)
    for name, values in results.items():
        print(
            f"{name:>9}: p50 {statistics.median(values):6.2f} ms   p99 {pct(values, 99):6.2f} ms"
            f"   max {max(values):6.2f} ms"
        )
    print(f"       gc: {collections} collections (gen 0, 1, 2) in {2 * args.renders} scrapes")
    worst = max(pct(results["scrape"], 99), pct(results["cold"], 99))
    print(
        f"scrape p50 / baseline p50: {statistics.median(results['scrape']) / statistics.median(base):.2f}; "
        f"target p99 < 50 ms (steady and cold): {'met' if worst < 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--queues", type=int, default=3)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--waiting", type=int, default=4)
    parser.add_argument("--calls", type=int, default=200, help="calls per queue pushed through the counters")
    parser.add_argument("--churn", type=int, default=30, help="calls of random queues between two scrapes")
    parser.add_argument("--renders", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
