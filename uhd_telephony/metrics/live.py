"""Live metrics: call counters fed by domain events, gauges sampled from live state, rendered for Prometheus.

``CallCounters`` is a bus subscriber. It counts each queue stay once, the way ``kpi.py`` classifies it: offered
at its first event (``CallOffered``, or whatever comes first for a stay the tracker rebuilt), answered and its
wait at ``CallAnswered`` (or at ``CallEnded`` when no answer event came), talk and the unanswered outcomes at
``CallEnded``. Calls restored from the store after a restart were counted by the previous process: ``restore``
marks them, so a restart never counts a stay twice. The counters start at 0 in every process; Prometheus'
``increase()``/``rate()`` handle that reset. ``increase()`` only counts what changed after a series' first
sample, so the first call of a new (tenant, queue) would be lost: pairs seen recently are created at 0 at start
(``prime``), and a pair that appears later is shown at 0 in its first scrape and with its counts from then on.

Everything is sampled on the event loop into plain values (``Sample``) and turned into text by
``generate_latest`` in an executor thread: the loop never waits for the rendering, and the rendering never
reads a dict the loop is changing. Label values are bounded: tenant, queue, top-level category and nothing
else; beyond ``max_pairs`` (tenant, queue) pairs new ones are counted under ``_other``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample as PromSample
from prometheus_client.utils import floatToGoString

from uhd_telephony.ami.events import AmiEvent
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallEvent
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.members import QueueAgents

log = logging.getLogger(__name__)

# call reaction time; must hold the service-level threshold so le="20" is "answered within T"
# (few buckets: each is a sample per tenant and queue, and the scrape must stay under 50 ms at 50 tenants)
WAIT_BUCKETS: tuple[float, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120, 300)
TALK_BUCKETS: tuple[float, ...] = (60, 180, 300, 600, 1200)
# ticket creation -> first forwarding: 5 min .. 3 days, with the 10-minute rule's boundary
ESCALATION_BUCKETS: tuple[float, ...] = (300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
assert kpi.SERVICE_LEVEL_S in WAIT_BUCKETS

OTHER = "_other"  # the label value of series beyond the cap
Pair = tuple[str, str]  # (tenant, queue)

_OFFERED = 1
_ANSWERED = 2


class Histogram:
    """Bucket counts (not cumulative), sum and count of observed values; plain data, copied for rendering."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        self.sum += value
        self.count += 1

    def copy(self) -> Histogram:
        other = Histogram(self.bounds)
        other.counts = list(self.counts)
        other.sum = self.sum
        other.count = self.count
        return other

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs ending with ``+Inf``, as HistogramMetricFamily takes them."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            out.append((_le(bound), running))
        out.append(("+Inf", self.count))
        return out


def _le(bound: float) -> str:
    # "20.0", as prometheus-client's own histograms write it and as Prometheus 3 normalises every ``le`` on
    # ingestion: the dashboards' le="20.0" matches on Prometheus 2 and 3 alike
    return floatToGoString(bound)


@dataclass(slots=True)
class QueueCalls:
    """The counters of one (tenant, queue)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    timed_out: int = 0
    closed: int = 0
    transferred_in: int = 0
    wait: Histogram = field(default_factory=lambda: Histogram(WAIT_BUCKETS))
    talk: Histogram = field(default_factory=lambda: Histogram(TALK_BUCKETS))

    def copy(self) -> QueueCalls:
        return QueueCalls(
            self.offered,
            self.answered,
            self.abandoned,
            self.short_abandoned,
            self.timed_out,
            self.closed,
            self.transferred_in,
            self.wait.copy(),
            self.talk.copy(),
        )


class CallCounters:
    """Bus subscriber (sync, inline): counts queue stays per (tenant, queue), once each, as ``kpi`` defines them."""

    def __init__(self, max_pairs: int = 2_000, max_live: int = 200_000, max_transfers: int = 20_000) -> None:
        self.max_pairs = max_pairs
        self.max_live = max_live
        self.max_transfers = max_transfers
        self.queues: dict[Pair, QueueCalls] = {}
        self._live: OrderedDict[str, tuple[Pair, int]] = OrderedDict()  # call_id -> (pair, flags)
        self._transferred: OrderedDict[str, None] = OrderedDict()  # linkedids of stays that ended transferred
        self._unexposed: set[Pair] = set()  # pairs no scrape has shown yet
        self._capped = False

    def __call__(self, event: CallEvent) -> None:
        call = event.call
        seen = self._live.get(call.call_id)
        if isinstance(event, CallEnded):
            self._live.pop(call.call_id, None)
            self._ended(call, seen)
            return
        if seen is None:
            pair = self._pair(call.tenant, call.queue)
            seen = (pair, self._offer(pair, call))
        pair, flags = seen
        if isinstance(event, CallAnswered) and not flags & _ANSWERED:
            self._answer(pair, call)
            flags |= _ANSWERED
        self._live[call.call_id] = (pair, flags)
        if len(self._live) > self.max_live:
            self._live.popitem(last=False)  # a stay whose CallEnded never came (cannot happen; bounded anyway)

    def _ended(self, call: CallRecord, seen: tuple[Pair, int] | None) -> None:
        outcome = call.outcome
        if kpi.is_closed(outcome):
            self.queues[self._pair(call.tenant, call.queue)].closed += 1
            return
        if seen is None:
            pair = self._pair(call.tenant, call.queue)
            seen = (pair, self._offer(pair, call))
        pair, flags = seen
        q = self.queues[pair]
        if kpi.is_answered(outcome):
            if not flags & _ANSWERED:
                self._answer(pair, call)
            if call.talk_s is not None:
                q.talk.observe(call.talk_s)
            if outcome == Outcome.TRANSFERRED:
                self._transferred[call.linkedid] = None
                if len(self._transferred) > self.max_transfers:
                    self._transferred.popitem(last=False)
        elif kpi.is_abandoned(outcome):
            q.abandoned += 1
        elif kpi.is_short_abandon(outcome):
            q.short_abandoned += 1
        elif kpi.is_timed_out(outcome):
            q.timed_out += 1

    def _offer(self, pair: Pair, call: CallRecord) -> int:
        q = self.queues[pair]
        q.offered += 1
        if call.linkedid in self._transferred:
            q.transferred_in += 1
        return _OFFERED

    def _answer(self, pair: Pair, call: CallRecord) -> None:
        q = self.queues[pair]
        q.answered += 1
        if call.wait_s is not None:
            q.wait.observe(call.wait_s)

    def _pair(self, tenant: str, queue: str) -> Pair:
        pair = (tenant, queue)
        if pair in self.queues:
            return pair
        if len(self.queues) >= self.max_pairs:
            if not self._capped:
                self._capped = True
                log.warning("more than %d tenant/queue pairs: further ones are counted as %r", self.max_pairs, OTHER)
            pair = (OTHER, OTHER)
            if pair in self.queues:
                return pair
        self.queues[pair] = QueueCalls()
        self._unexposed.add(pair)
        return pair

    def prime(self, pairs: Iterable[Pair]) -> None:
        """Create the series of these pairs at 0 (the pairs seen recently, read from the store at start)."""
        for tenant, queue in pairs:
            if len(self.queues) >= self.max_pairs:
                break
            self._pair(tenant, queue)

    def restore(self, calls: Iterable[CallRecord]) -> None:
        """Calls in progress taken back from the store: the previous process counted their offer (and answer)."""
        for call in calls:
            if call.finished:
                continue
            pair = self._pair(call.tenant, call.queue)
            self._live[call.call_id] = (pair, _OFFERED | (_ANSWERED if call.answered_at is not None else 0))

    def pair_of(self, tenant: str, queue: str) -> Pair:
        """The series a live call of (tenant, queue) is shown under (its own pair, or ``_other`` beyond the cap)."""
        pair = (tenant, queue)
        return pair if pair in self.queues else (OTHER, OTHER) if self._capped else pair

    def sample(self) -> dict[Pair, QueueCalls]:
        """The counters to show now: a pair's first showing is all zeros (module docstring), then its counts."""
        fresh, self._unexposed = self._unexposed, set()
        return {pair: QueueCalls() if pair in fresh else q.copy() for pair, q in self.queues.items()}


class EventClock:
    """AMI time as of now: the latest event ``Timestamp`` plus the wall time passed since it was received.

    A pipeline observer; the longest-wait gauge measures on this time line, so it is right whatever the skew
    between Asterisk's clock and ours.
    """

    def __init__(self) -> None:
        self.last_ts: float | None = None
        self.last_received: float | None = None

    def observe(self, event: AmiEvent, received: float) -> None:
        if self.last_ts is None or event.ts >= self.last_ts:
            self.last_ts = event.ts
            self.last_received = received

    def resynced(self, snapshot: Snapshot) -> None:
        pass

    def now(self, wall: float) -> float:
        if self.last_ts is None or self.last_received is None:
            return wall
        return self.last_ts + max(0.0, wall - self.last_received)


@dataclass(frozen=True, slots=True)
class AmiSample:
    connected: bool
    reconnects: int
    event_lag_s: float | None
    frames_skipped: int
    frames_malformed: int
    frames_oversized: int


@dataclass(frozen=True, slots=True)
class TicketTotals:
    """All-time ticket numbers from the database (``queries.ticket_totals``)."""

    created: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (tenant, category)
    routed: Mapping[tuple[str, str], int] = field(default_factory=dict)
    escalated: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # tenant -> (cumulative bucket counts for ESCALATION_BUCKETS then +Inf, sum in seconds)
    escalation: Mapping[str, tuple[list[int], float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """Everything one scrape shows, as plain values taken on the event loop."""

    calls: dict[Pair, QueueCalls]
    waiting: dict[Pair, tuple[int, float]]  # (callers waiting, longest current wait s)
    agents: dict[str, QueueAgents]
    ami: AmiSample | None
    tickets: TicketTotals | None


def waiting_callers(
    calls: Iterable[CallRecord], now: float, pair_of: Callable[[str, str], Pair], known: Iterable[Pair] = ()
) -> dict[Pair, tuple[int, float]]:
    """Callers waiting in a queue now and the longest current wait, per (tenant, queue); 0 for known pairs.

    Waiting: in a queue, not answered, not decided (a refused call has its wait set at once).
    """
    out: dict[Pair, tuple[int, float]] = {pair: (0, 0.0) for pair in known}
    for call in calls:
        if call.answered_at is not None or call.wait_s is not None:
            continue
        pair = pair_of(call.tenant, call.queue)
        n, longest = out.get(pair, (0, 0.0))
        out[pair] = (n + 1, max(longest, now - call.entered_at))
    return out


class PairLabels:
    """The label dicts of each (tenant, queue), made once: a scrape builds thousands of samples from them.

    Shared by concurrent renders (they only read them); bounded by the pair cap of ``CallCounters``.
    """

    def __init__(self) -> None:
        self._cache: dict[Pair, tuple[dict[str, str], list[dict[str, str]], list[dict[str, str]]]] = {}

    def __call__(self, pair: Pair) -> tuple[dict[str, str], list[dict[str, str]], list[dict[str, str]]]:
        found = self._cache.get(pair)
        if found is None:
            base = {"tenant": pair[0], "queue": pair[1]}
            found = (
                base,
                [{**base, "le": le} for le in [*map(_le, WAIT_BUCKETS), "+Inf"]],
                [{**base, "le": le} for le in [*map(_le, TALK_BUCKETS), "+Inf"]],
            )
            self._cache[pair] = found
        return found


class LiveCollector:
    """The prometheus-client collector of ``/metrics``; yields the families of the last ``Sample`` it was given."""

    def __init__(self) -> None:
        self.sample: Sample | None = None
        self.labels = PairLabels()

    def collect(self) -> Iterator[Metric]:
        sample = self.sample
        if sample is not None:
            yield from families(sample, self.labels)


_COUNTERS = (
    (
        "uhd_calls_offered",
        "Queue stays offered, counted as the caller enters the queue (refused joins included)",
        "offered",
    ),
    ("uhd_calls_answered", "Queue stays answered (answered + transferred)", "answered"),
    ("uhd_calls_abandoned", "Queue stays abandoned by the caller after the short-abandon threshold", "abandoned"),
    ("uhd_calls_short_abandoned", "Queue stays abandoned within the short-abandon threshold", "short_abandoned"),
    ("uhd_calls_timed_out", "Queue stays that timed out of the queue (timeout + overflow)", "timed_out"),
    ("uhd_calls_closed", "Calls outside business hours (not offered to a queue)", "closed"),
    ("uhd_calls_transferred_in", "Offered queue stays that came by an agent's transfer", "transferred_in"),
)


def _histogram(fam: Metric, labels: dict[str, str], les: list[dict[str, str]], h: Histogram) -> None:
    # HistogramMetricFamily.add_metric builds every label dict anew: samples straight from the cached ones
    name = fam.name
    running = 0
    for bucket_labels, n in zip(les, h.counts, strict=False):
        running += n
        fam.samples.append(PromSample(name + "_bucket", bucket_labels, running))
    fam.samples.append(PromSample(name + "_bucket", les[-1], h.count))
    fam.samples.append(PromSample(name + "_count", labels, h.count))
    fam.samples.append(PromSample(name + "_sum", labels, h.sum))


def families(s: Sample, labels: PairLabels | None = None) -> Iterator[Metric]:
    """The metric families of one sample (names and labels are listed in ``METRIC_NAMES``)."""
    labels = labels or PairLabels()
    calls = [(labels(pair), q) for pair, q in sorted(s.calls.items())]
    for name, doc, attr in _COUNTERS:
        fam = CounterMetricFamily(name, doc, labels=["tenant", "queue"])
        for (base, _, _), q in calls:
            fam.samples.append(PromSample(name + "_total", base, getattr(q, attr)))
        yield fam
    wait = Metric("uhd_call_wait_seconds", "Call reaction time: queue entry to answer of answered stays", "histogram")
    talk = Metric("uhd_call_talk_seconds", "Talk time of answered stays", "histogram")
    for (base, wait_les, talk_les), q in calls:
        _histogram(wait, base, wait_les, q.wait)
        _histogram(talk, base, talk_les, q.talk)
    yield wait
    yield talk

    waiting = GaugeMetricFamily("uhd_callers_waiting", "Callers waiting in a queue now", labels=["tenant", "queue"])
    longest = GaugeMetricFamily(
        "uhd_callers_longest_wait_seconds", "Longest current wait in a queue", labels=["tenant", "queue"]
    )
    for pair, (n, wait_s) in sorted(s.waiting.items()):
        base = labels(pair)[0]
        waiting.samples.append(PromSample(waiting.name, base, n))
        longest.samples.append(PromSample(longest.name, base, round(wait_s, 3)))
    yield waiting
    yield longest

    logged_in = GaugeMetricFamily(
        "uhd_queue_agents_logged_in", "Queue members logged in (device reachable)", labels=["queue"]
    )
    paused = GaugeMetricFamily("uhd_queue_agents_paused", "Queue members logged in and paused", labels=["queue"])
    for queue, agents in s.agents.items():
        logged_in.add_metric([queue], agents.logged_in)
        paused.add_metric([queue], agents.paused)
    yield logged_in
    yield paused

    if s.ami is not None:
        yield from _ami_families(s.ami)


class TicketCollector:
    """The collector of the ticket totals: rendered apart, and again only when the totals were read anew."""

    def __init__(self) -> None:
        self.totals: TicketTotals | None = None

    def collect(self) -> Iterator[Metric]:
        totals = self.totals
        if totals is not None:
            yield from ticket_families(totals)


def ticket_families(t: TicketTotals) -> Iterator[Metric]:
    tc = ["tenant", "category"]
    for name, doc, values in (
        ("uhd_tickets_created", "Tickets stored, by current top-level category (database total)", t.created),
        ("uhd_tickets_routed", "Tickets routed beyond 1st level, by top-level category (database total)", t.routed),
        ("uhd_tickets_escalated", "Tickets with an escalation, by top-level category (database total)", t.escalated),
    ):
        fam = GaugeMetricFamily(name, doc, labels=tc)
        for (tenant, category), n in sorted(values.items()):
            fam.add_metric([tenant, category], n)
        yield fam
    hist = HistogramMetricFamily(
        "uhd_ticket_escalation_seconds",
        "Escalation time: ticket creation to first forwarding (routed beyond 1st level or escalated), database total",
        labels=["tenant"],
    )
    les = [*(_le(b) for b in ESCALATION_BUCKETS), "+Inf"]
    for tenant, (counts, total) in sorted(t.escalation.items()):
        hist.add_metric([tenant], list(zip(les, counts, strict=True)), total)
    yield hist


def _ami_families(a: AmiSample) -> Iterator[Metric]:
    yield GaugeMetricFamily("uhd_ami_connected", "1 while logged in to the Asterisk Manager Interface", a.connected)
    yield CounterMetricFamily("uhd_ami_reconnects", "AMI reconnects since the service started", a.reconnects)
    if a.event_lag_s is not None:
        yield GaugeMetricFamily(
            "uhd_ami_event_lag_seconds", "Now minus the Timestamp of the latest AMI event", round(a.event_lag_s, 3)
        )
    for kind, n in (
        ("skipped", a.frames_skipped),
        ("malformed", a.frames_malformed),
        ("oversized", a.frames_oversized),
    ):
        yield CounterMetricFamily(f"uhd_ami_frames_{kind}", f"AMI frames {kind} by the decoder", n)


# every metric name /metrics can show, with its labels (tests and the dashboards' checks read this)
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "uhd_calls_offered_total": ("tenant", "queue"),
    "uhd_calls_answered_total": ("tenant", "queue"),
    "uhd_calls_abandoned_total": ("tenant", "queue"),
    "uhd_calls_short_abandoned_total": ("tenant", "queue"),
    "uhd_calls_timed_out_total": ("tenant", "queue"),
    "uhd_calls_closed_total": ("tenant", "queue"),
    "uhd_calls_transferred_in_total": ("tenant", "queue"),
    "uhd_call_wait_seconds": ("tenant", "queue"),
    "uhd_call_talk_seconds": ("tenant", "queue"),
    "uhd_callers_waiting": ("tenant", "queue"),
    "uhd_callers_longest_wait_seconds": ("tenant", "queue"),
    "uhd_queue_agents_logged_in": ("queue",),
    "uhd_queue_agents_paused": ("queue",),
    "uhd_tickets_created": ("tenant", "category"),
    "uhd_tickets_routed": ("tenant", "category"),
    "uhd_tickets_escalated": ("tenant", "category"),
    "uhd_ticket_escalation_seconds": ("tenant",),
    "uhd_ami_connected": (),
    "uhd_ami_reconnects_total": (),
    "uhd_ami_event_lag_seconds": (),
    "uhd_ami_frames_skipped_total": (),
    "uhd_ami_frames_malformed_total": (),
    "uhd_ami_frames_oversized_total": (),
}


class Renderer:
    """Exposition text of samples by ``generate_latest`` over registries of our own (never the global one).

    Two registries: the calls, queues and AMI (changing every scrape) and the ticket totals (read from the
    database at most every 30 s), whose text is kept until the totals change. ``render`` is synchronous and
    CPU-bound: run it in an executor, after setting the sample on the event loop (``prepare``).
    """

    def __init__(self) -> None:
        self.live = LiveCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.live)
        self.tickets = TicketCollector()
        self.ticket_registry = CollectorRegistry(auto_describe=False)
        self.ticket_registry.register(self.tickets)
        self._ticket_text: tuple[TicketTotals | None, bytes] = (None, b"")
        self._ticket_lock = threading.Lock()

    def prepare(self, sample: Sample) -> Sample:
        """Hand the sample to the collectors (on the event loop, before ``render`` runs elsewhere)."""
        self.live.sample = sample
        return sample

    def render(self, sample: Sample) -> bytes:
        totals = sample.tickets
        with self._ticket_lock:  # renders of overlapping scrapes run in different executor threads
            cached_for, text = self._ticket_text
            if totals is not cached_for:
                self.tickets.totals = totals
                text = generate_latest(self.ticket_registry) if totals is not None else b""
                self._ticket_text = (totals, text)
        return generate_latest(self.registry) + text
