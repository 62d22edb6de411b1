"""Live metrics: call counters fed by domain events, gauges sampled from live state, for ``/metrics``.

``CallCounters`` is a bus subscriber. It counts each queue stay once, the way ``kpi.py`` classifies it, deciding at
the stay's first event (``CallOffered``, or whatever comes first for a stay the tracker rebuilt) whether it is
*outside business hours*: it entered the queue outside its tenant's SLA calendar (``kpi.in_business_hours``;
no calendar: around the clock) or the dialplan closed it. Such a stay counts once into ``outside_hours`` (a
``closed`` one also into ``closed``) and nowhere else; the stay keeps that decision until its ``CallEnded``. A call
that ended at a major incident's announcement (it comes as its ``CallEnded`` alone) counts into
``left_at_announcement`` (a subscribed one also into ``subscribed_at_announcement``) and nowhere else. Any
other stay is offered at its first event, answered with its wait at ``CallAnswered`` (or at ``CallEnded`` when no
answer event came), and counts its talk and the unanswered outcomes at ``CallEnded``; it is a transfer in when
an earlier stay of its conversation ended ``transferred``, in business hours or not. Calls restored from the
store after a restart were counted by the previous process: ``restore`` marks them, so a restart never counts a
stay twice. The counters start at 0 in every process; Prometheus' ``increase()``/``rate()`` handle that reset.
``increase()`` only counts what changed after a series' first sample, so the first call of a new (tenant, queue)
would be lost: pairs seen recently are created at 0 at start (``prime``), and a pair that appears later is shown
at 0 in its first scrape and with its counts from then on.

The tenant's contract (``tenants.contract``: its rows, read in the background like the calendars, ``schedules``)
classifies each stay by the rules in force on the Berlin day it entered the queue, so the 1st of a month switches
at midnight Europe/Berlin without a read: a stay of a queue the contract does not count goes only into
``not_under_contract``; calls queued outside business hours are offered when the contract counts them; an abandon
is short iff it waited less than the contract's threshold (``kpi.contract_outcome``); an answered stay that waited
at most the contract's T counts into ``answered_within_service_level``; at its end an offered stay the contract
leaves out of the base counts into ``excluded_from_base`` and one it leaves out of the service level's base into
``excluded_from_service_level``. So a dashboard's reachability is answered ÷ (offered - excluded_from_base) and its
service level answered_within_service_level ÷ (offered - excluded_from_service_level), by each tenant's contract
(with the defaults: the SPEC's offered - short abandons).

Every (tenant, queue) carries a ``version`` that moves with each change of its counts: a scrape copies only
the pairs whose version differs from the one last rendered (``exposition.Renderer`` keeps the text of the
others). Label values are bounded: tenant, queue, top-level category and nothing else; beyond ``max_pairs``
(tenant, queue) pairs new ones are counted under ``_other``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from prometheus_client.utils import floatToGoString

from uhd_telephony.ami.events import AmiEvent
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallEvent
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.members import QueueAgents
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.tenants import contract

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
UNSHOWN = -1  # the version of a pair's first showing (all zeros): never a real version, so the next scrape renews it

# what the counters know of a stay in progress
_OFFERED = 1
_ANSWERED = 2
_OUTSIDE = 4  # outside business hours: counted there, and nowhere else until it ends
_ANNOUNCEMENT = 8  # ended at a major incident's announcement: never in a queue, counted apart at its end
_NOT_UNDER_CONTRACT = 16  # a queue the tenant's contract does not count: counted there, and nowhere else


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


def le(bound: float) -> str:
    """The ``le`` label of a bucket bound: "20.0", as prometheus-client's own histograms write it and as
    Prometheus 3 normalises every ``le`` on ingestion (the dashboards' le="20.0" matches on 2 and 3 alike)."""
    return floatToGoString(bound)


@dataclass(slots=True)
class QueueCalls:
    """The counters of one (tenant, queue); ``version`` moves with every change (``CallCounters.sample``)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    timed_out: int = 0
    closed: int = 0
    outside_hours: int = 0
    transferred_in: int = 0
    left_at_announcement: int = 0
    subscribed_at_announcement: int = 0
    answered_within_service_level: int = 0
    excluded_from_base: int = 0
    excluded_from_service_level: int = 0
    not_under_contract: int = 0
    wait: Histogram = field(default_factory=lambda: Histogram(WAIT_BUCKETS))
    talk: Histogram = field(default_factory=lambda: Histogram(TALK_BUCKETS))
    version: int = 0

    def copy(self) -> QueueCalls:
        return QueueCalls(
            self.offered,
            self.answered,
            self.abandoned,
            self.short_abandoned,
            self.timed_out,
            self.closed,
            self.outside_hours,
            self.transferred_in,
            self.left_at_announcement,
            self.subscribed_at_announcement,
            self.answered_within_service_level,
            self.excluded_from_base,
            self.excluded_from_service_level,
            self.not_under_contract,
            self.wait.copy(),
            self.talk.copy(),
            self.version,
        )


class CallCounters:
    """Bus subscriber (sync, inline): counts queue stays per (tenant, queue), once each, as ``kpi`` defines them.

    ``calendars`` (tenant -> SLA calendar, replaced as a whole by ``MetricsService``) decides business hours; a
    tenant missing from it is open around the clock. ``schedules`` (tenant -> its contract rows, likewise) the
    rules; a tenant missing from it counts by the defaults.
    """

    def __init__(
        self,
        max_pairs: int = 2_000,
        max_live: int = 200_000,
        max_transfers: int = 20_000,
        calendars: Mapping[str, Calendar] | None = None,
        schedules: Mapping[str, contract.Schedule] | None = None,
    ) -> None:
        self.max_pairs = max_pairs
        self.max_live = max_live
        self.max_transfers = max_transfers
        self.calendars: Mapping[str, Calendar] = calendars or {}
        self.schedules: Mapping[str, contract.Schedule] = schedules or {}
        self.queues: dict[Pair, QueueCalls] = {}
        self._live: OrderedDict[str, tuple[Pair, int]] = OrderedDict()  # call_id -> (pair, flags)
        self._transferred: OrderedDict[str, None] = OrderedDict()  # linkedids of stays that ended transferred
        self._sorted: list[Pair] | None = None  # the pairs in label order, made anew when one is added
        self._capped = False

    def __call__(self, event: CallEvent) -> None:
        call = event.call
        seen = self._live.get(call.call_id)
        if isinstance(event, CallEnded):
            self._live.pop(call.call_id, None)
            pair = self._ended(call, seen)
        else:
            if seen is None:
                seen = self._first(call)
            pair, flags = seen
            if isinstance(event, CallAnswered) and flags == _OFFERED:  # offered in business hours, not answered yet
                self._answer(self.queues[pair], call, self.rules(call))
                flags |= _ANSWERED
            self._live[call.call_id] = (pair, flags)
            if len(self._live) > self.max_live:
                self._live.popitem(last=False)  # a stay whose CallEnded never came (cannot happen; bounded anyway)
        self.queues[pair].version += 1  # whatever the event changed of this pair's counts, a scrape shows it anew

    def rules(self, call: CallRecord) -> kpi.KpiRules:
        """The tenant's contract in force on the Berlin day the stay entered its queue."""
        schedule = self.schedules.get(call.tenant)
        if not schedule:
            return kpi.DEFAULT_RULES
        return contract.rules_at(schedule, contract.berlin_day(call.entered_at))

    def outside_hours(self, call: CallRecord, rules: kpi.KpiRules | None = None) -> bool:
        """Outside business hours (``kpi``): closed by the dialplan, or entered outside the tenant's calendar (and
        its contract does not count such calls)."""
        if kpi.is_closed(call.outcome):
            return True
        if (rules or self.rules(call)).outside_hours_count:
            return False
        return not kpi.in_business_hours(call.entered_at, self.calendars.get(call.tenant))

    def _first(self, call: CallRecord) -> tuple[Pair, int]:
        """A stay's first event: counted outside business hours, or offered (or apart: not under contract)."""
        pair = self._pair(call.tenant, call.queue)
        q = self.queues[pair]
        rules = self.rules(call)
        if not rules.counts_queue(call.queue):
            q.not_under_contract += 1
            return pair, _NOT_UNDER_CONTRACT
        if kpi.is_at_announcement(call.outcome):
            return pair, _ANNOUNCEMENT
        if self.outside_hours(call, rules):
            q.outside_hours += 1
            return pair, _OUTSIDE
        q.offered += 1
        if call.linkedid in self._transferred:
            q.transferred_in += 1
        return pair, _OFFERED

    def _ended(self, call: CallRecord, seen: tuple[Pair, int] | None) -> Pair:
        if seen is None:
            seen = self._first(call)  # a closed call (never in a queue) comes as its CallEnded alone
        pair, flags = seen
        q = self.queues[pair]
        if flags & _NOT_UNDER_CONTRACT:
            return pair  # counted at its first event, and in no other counter (not even as a transfer)
        rules = self.rules(call)
        outcome = kpi.contract_outcome(call.outcome, call.wait_s, rules)
        if outcome == Outcome.TRANSFERRED:  # in or outside business hours: the next stay is a transfer in
            self._transferred[call.linkedid] = None
            if len(self._transferred) > self.max_transfers:
                self._transferred.popitem(last=False)
        if kpi.is_closed(outcome):
            q.closed += 1  # a subset of outside_hours (the dialplan's own "closed" announcement)
        elif flags & _ANNOUNCEMENT:
            q.left_at_announcement += 1
            q.subscribed_at_announcement += outcome == Outcome.INCIDENT_SUBSCRIBED
        elif flags & _OUTSIDE:
            pass  # counted at its first event, and in no other counter
        else:
            if kpi.is_answered(outcome):
                if not flags & _ANSWERED:
                    self._answer(q, call, rules)
                if call.talk_s is not None:
                    q.talk.observe(call.talk_s)
            elif kpi.is_abandoned(outcome):
                q.abandoned += 1
            elif kpi.is_short_abandon(outcome):
                q.short_abandoned += 1
            elif kpi.is_timed_out(outcome):
                q.timed_out += 1
            if not kpi.in_base(outcome, rules):
                q.excluded_from_base += 1
            if not kpi.in_service_level_base(outcome, rules):
                q.excluded_from_service_level += 1
        return pair

    @staticmethod
    def _answer(q: QueueCalls, call: CallRecord, rules: kpi.KpiRules) -> None:
        q.answered += 1
        if call.wait_s is not None:
            q.wait.observe(call.wait_s)
        q.answered_within_service_level += kpi.within_service_level(call.wait_s, rules.service_level_s)

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
        self._sorted = None
        return pair

    def prime(self, pairs: Iterable[Pair]) -> None:
        """Create the series of these pairs at 0 (the pairs seen recently, read from the store at start)."""
        for tenant, queue in pairs:
            if len(self.queues) >= self.max_pairs:
                break
            self._pair(tenant, queue)

    def restore(self, calls: Iterable[CallRecord]) -> None:
        """Calls in progress taken back from the store: the previous process counted their first event (and answer).

        Their business-hours decision is taken again from the calendars known now (the previous one took it with
        the calendars it knew then; they differ only if a calendar changed in between).
        """
        for call in calls:
            if call.finished:
                continue
            pair = self._pair(call.tenant, call.queue)
            rules = self.rules(call)
            if not rules.counts_queue(call.queue):
                self._live[call.call_id] = (pair, _NOT_UNDER_CONTRACT)
            elif self.outside_hours(call, rules):
                self._live[call.call_id] = (pair, _OUTSIDE)
            else:
                self._live[call.call_id] = (pair, _OFFERED | (_ANSWERED if call.answered_at is not None else 0))

    def pair_of(self, tenant: str, queue: str) -> Pair:
        """The series a live call of (tenant, queue) is shown under (its own pair, or ``_other`` beyond the cap)."""
        pair = (tenant, queue)
        return pair if pair in self.queues else (OTHER, OTHER) if self._capped else pair

    def sample(self, shown: Mapping[Pair, int]) -> tuple[list[Pair], dict[Pair, QueueCalls]]:
        """The pairs to show now (sorted) and a copy of the counters of those whose version is not the one
        ``shown`` (pair -> version of the counts last rendered) has. A pair missing from ``shown`` was never
        shown: its first showing is all zeros, at version ``UNSHOWN`` (module docstring)."""
        changed: dict[Pair, QueueCalls] = {}
        for pair, q in self.queues.items():
            version = shown.get(pair)
            if version is None:
                changed[pair] = QueueCalls(version=UNSHOWN)
            elif version != q.version:
                changed[pair] = q.copy()
        if self._sorted is None:
            self._sorted = sorted(self.queues)
        return self._sorted, changed


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
    """Everything one scrape shows, as plain values taken on the event loop (``MetricsService.sample``)."""

    pairs: Sequence[Pair]  # every (tenant, queue) with counters, sorted
    changed: dict[Pair, QueueCalls]  # copies of the counters whose text must be made anew (by ``version``)
    waiting: dict[Pair, tuple[int, float]]  # (callers waiting, longest current wait s)
    agents: dict[str, QueueAgents]
    ami: AmiSample | None
    tickets: TicketTotals | None
    schedules: Mapping[str, contract.Schedule] = field(default_factory=dict)  # the contracts' rows, per tenant
    day: date | None = None  # today in Europe/Berlin: the contracts' rules in force (None: take it now)


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


# every metric name /metrics can show, with its labels (tests and the dashboards' checks read this)
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "uhd_tracker_active": (),
    "uhd_calls_offered_total": ("tenant", "queue"),
    "uhd_calls_answered_total": ("tenant", "queue"),
    "uhd_calls_abandoned_total": ("tenant", "queue"),
    "uhd_calls_short_abandoned_total": ("tenant", "queue"),
    "uhd_calls_timed_out_total": ("tenant", "queue"),
    "uhd_calls_closed_total": ("tenant", "queue"),
    "uhd_calls_outside_hours_total": ("tenant", "queue"),
    "uhd_calls_transferred_in_total": ("tenant", "queue"),
    "uhd_calls_left_at_announcement_total": ("tenant", "queue"),
    "uhd_calls_subscribed_at_announcement_total": ("tenant", "queue"),
    "uhd_calls_answered_within_service_level_total": ("tenant", "queue"),
    "uhd_calls_excluded_from_base_total": ("tenant", "queue"),
    "uhd_calls_excluded_from_service_level_total": ("tenant", "queue"),
    "uhd_calls_not_under_contract_total": ("tenant", "queue"),
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
    "uhd_metrics_source_age_seconds": ("source",),
    "uhd_metrics_source_errors_total": ("source",),
    # lost stays of the day and their callers reached back (metrics.reachback, read in the background)
    "uhd_lost_stays_today": ("tenant",),
    "uhd_lost_stays_identified_today": ("tenant",),
    "uhd_lost_stays_reached_today": ("tenant", "by"),
    "uhd_lost_callers_today": ("tenant",),
}
