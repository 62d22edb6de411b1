"""The one definition of every call and ticket KPI: pure functions over call records and ticket facts.

``/metrics`` (``metrics.live``), the KPI API (``metrics.api``) and the monthly report all classify calls and
tickets with the functions here, so their numbers agree to the call.

Unit of counting: the QUEUE STAY. One ``CallRecord`` is one caller channel's stay in one queue, and every KPI
counts queue stays. A call the agent of queue A blind-transfers into queue B is two stays with the same
``linkedid``: A (outcome ``transferred``, which counts as answered) and B (a stay of its own, answered or not).
B is flagged a *transfer in*: a stay whose ``linkedid`` had an earlier stay that ended ``transferred``. The
SPEC counts "calls offered to the hotline queue(s)"; a per-hotline view excludes internal transfers either
by its queue filter (2nd-level queues receive transfers only) or with ``exclude_transfers_in=True`` here (the
API's ``exclude_transfers_in=true``). One conversation (``linkedid``) is one ticket; ``conversations`` counts
the distinct linkedids of the offered stays.

Calls:

- outside business hours: a stay that ended ``closed`` (the dialplan's HotlineClosed: never in a queue) OR that
  entered the queue outside the tenant's business hours — its SLA calendar (``sla.calendar``, holidays and closed
  days included; ``in_business_hours``), the same calendar its SLA clocks run on; no calendar: around the clock.
  Outside-hours stays are counted apart: not offered, in no ratio, no reaction or talk time — reachability,
  service level, abandon rate and reaction time are business-hours figures, as the contract measures them. They
  are reported with their own figures: ``outside_hours`` (all of them), of which ``closed`` (by the dialplan) and
  ``answered_outside_hours`` (queued and answered outside hours, e.g. by an agent who stayed on).
- left at the announcement: a call that ended at a major incident's announcement before the queue
  (``incident_subscribed``: the caller pressed the key to be told when it is over; ``incident_left``: hung up
  during it) never entered a queue: counted apart in ``left_at_announcement`` (of which
  ``subscribed_at_announcement``), in business hours or not — not offered, not outside hours, in no ratio and no
  reaction time; the service level is that of the calls that queued.
- offered: finished stays in business hours; ``refused`` (JOINEMPTY, FULL), ``exit_key``, ``callback`` and
  ``unknown`` (ended while the AMI link was down: not provably answered, so counted as not reached) are offered
  and not answered.
- answered: ``answered`` + ``transferred``. abandoned: ``abandoned`` (short abandons NOT included).
  short abandons: ``short_abandon``. timed out: ``timeout`` + ``overflow``. (All of offered stays.)
- base = offered - short abandons (the denominator of every ratio below).
- reachability = answered ÷ base. service level = answered with wait ≤ T (default 20 s) ÷ base — "within T"
  includes T itself, the same boundary as the ``le="20.0"`` bucket of the live wait histogram.
- abandon rate = abandoned ÷ base.
- call reaction time = wait (queue entry → answer) of answered stays: mean, median, p90.
- talk time = answered stays' talk (answer → end of that stay; a transferred stay ends at the transfer): mean.
- calls by weekday x hour of entry in Europe/Berlin: offered stays, and outside-hours stays apart.
- outcomes: every finished stay by its outcome, business hours or not (an excluded transfer in: not).
- Stays still in progress (no outcome yet) count nowhere; ``in_progress`` reports them.
- Each stay is classified on its own, by its own queue entry: the second stay of a transfer that enters the
  2nd-level queue after closing time is outside hours. A transfer in is a business-hours stay whose linkedid had
  an earlier ``transferred`` stay (in or outside hours); ``exclude_transfers_in`` leaves those out.

A period holds the stays that ENTERED a queue in it. The live counters classify with the same functions but
count as things happen (offered at queue entry, answered at the answer, the other outcomes at the end), so a
live window's edges differ from a period's by the calls in progress at them; a finished day agrees to the call.

Ratios are fractions 0..1, ``None`` when the base is 0. Percentiles use the NEAREST-RANK method everywhere:
p-th percentile = the smallest value with at least p % of the values at or below it (``sorted[ceil(p·n/100)-1]``),
always an observed value; "90 % of answered callers waited at most p90 seconds". The median is p50 by the same
method (for an even count, the lower of the two middle values). The live Grafana quantiles are estimates from
histogram buckets (``histogram_quantile``); the API and the report give these exact values.

Tickets (a cohort: the tickets CREATED in the period, with what happened to them since):

- created: by top-level category (``none`` when unclassified), priority and channel.
- routed: tickets with a ``routed`` history entry to a group beyond 1st level (``new_value`` is the support
  group; ``1st_level`` does not count, any other value or none does). forwarded = routed: the SPEC's and the
  seed's "escalated (forwarded) tickets" — functional escalation, the ticket goes to 2nd/3rd level or a partner.
  escalated: tickets with an ``escalated`` entry, i.e. an SLA warning or breach sent to the named managers
  (hierarchical escalation: the ticket stays where it is), counted apart and never as a forwarding — a warning
  fires at a fixed share of the target by construction, so it would only blur the forwarding figures.
- escalation time = ticket creation → its first forwarding (routing beyond 1st level): mean and p90 (nearest
  rank), in seconds.
- first-contact resolution = tickets resolved or closed (now) and never routed beyond 1st level ÷ created
  (an ``escalated`` entry alone keeps a ticket at 1st level).

The monthly report (``metrics.report``) counts with ``metrics.aggregates``: SQL that counts and fetches, and these
functions that classify; ``tests/metrics/test_aggregates.py`` proves the two paths equal.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from uhd_telephony.calls.records import ANNOUNCEMENT_OUTCOMES, ANSWERED_OUTCOMES, Outcome
from uhd_telephony.sla.calendar import Calendar, is_business_time

SERVICE_LEVEL_S = 20.0
TIMEZONE = ZoneInfo("Europe/Berlin")
TIMED_OUT_OUTCOMES = frozenset({Outcome.TIMEOUT, Outcome.OVERFLOW})
# never in a queue: the dialplan's closed hotline, a major incident's announcement
NOT_OFFERED_OUTCOMES = frozenset({Outcome.CLOSED, *ANNOUNCEMENT_OUTCOMES})

# ticket history actions (tickets.history.Action values) and the routing target that is not a forwarding
ROUTED = "routed"
ESCALATED = "escalated"
FIRST_LEVEL = "1st_level"
TICKET_ACTIONS = (ROUTED, ESCALATED)  # the history entries the ticket KPIs read
UNCLASSIFIED = "none"  # the category label of a ticket without a category

_MICROSECOND = timedelta(microseconds=1)


# ---------------------------------------------------------------------------------------------------- numbers
def percentile(values: Sequence[float], p: int) -> float | None:
    """The nearest-rank ``p``-th percentile (``p`` in 1..100) of ``values``; None when there are none."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in 1..100")
    if not values:
        return None
    return _nearest_rank(sorted(values), p)


def _nearest_rank(ordered: Sequence[float], p: int) -> float:
    rank = -(-p * len(ordered) // 100)  # ceil(p·n/100) in integers: no float rounding at exact ranks
    return ordered[max(rank, 1) - 1]


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean (``math.fsum``: the same result whatever order the values come in)."""
    return math.fsum(values) / len(values) if values else None


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` as a fraction, None when ``whole`` is 0."""
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class Distribution:
    """Count, mean, median and p90 (nearest rank) of some durations in seconds."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(0, None, None, None)
        ordered = sorted(values)  # once (timsort: linear when the values come sorted)
        return cls(len(ordered), mean(ordered), _nearest_rank(ordered, 50), _nearest_rank(ordered, 90))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "median": self.median, "p90": self.p90}


# ---------------------------------------------------------------------------------------------------- calls
class CallLike(Protocol):
    """What the call KPIs read of a call: a ``CallRecord``, or a ``CallFact`` read from the store."""

    @property
    def linkedid(self) -> str: ...
    @property
    def entered_at(self) -> float: ...
    @property
    def outcome(self) -> Outcome | None: ...
    @property
    def wait_s(self) -> float | None: ...
    @property
    def talk_s(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class CallFact:
    """The fields of a stored call the KPIs read (``metrics.queries`` fetches these, not whole records)."""

    linkedid: str
    queue: str
    entered_at: float
    outcome: Outcome | None
    wait_s: float | None
    talk_s: float | None


def is_offered(outcome: Outcome | None) -> bool:
    """Offered to a queue: every finished stay but a call the dialplan kept from the queue (closed, or left at a
    major incident's announcement). Business hours are decided apart (``is_outside_hours``)."""
    return outcome is not None and outcome not in NOT_OFFERED_OUTCOMES


def is_answered(outcome: Outcome | None) -> bool:
    return outcome in ANSWERED_OUTCOMES


def is_abandoned(outcome: Outcome | None) -> bool:
    """A caller hang-up after the short-abandon threshold (short abandons are not abandons here)."""
    return outcome == Outcome.ABANDONED


def is_short_abandon(outcome: Outcome | None) -> bool:
    return outcome == Outcome.SHORT_ABANDON


def is_timed_out(outcome: Outcome | None) -> bool:
    return outcome in TIMED_OUT_OUTCOMES


def is_closed(outcome: Outcome | None) -> bool:
    return outcome == Outcome.CLOSED


def is_at_announcement(outcome: Outcome | None) -> bool:
    """Ended at a major incident's announcement, never in a queue (``incident_subscribed``, ``incident_left``)."""
    return outcome in ANNOUNCEMENT_OUTCOMES


def in_business_hours(entered_at: float, calendar: Calendar | None) -> bool:
    """Whether a stay entered the queue inside the tenant's business hours: the SLA calendar decides
    (``sla.is_business_time``), the same calendar the SLA clocks run on. No calendar: around the clock."""
    return calendar is None or is_business_time(calendar, datetime.fromtimestamp(entered_at, UTC))


def is_outside_hours(outcome: Outcome | None, entered_at: float, calendar: Calendar | None) -> bool:
    """A finished stay outside business hours: closed by the dialplan, or queued outside the calendar's hours."""
    return outcome is not None and (is_closed(outcome) or not in_business_hours(entered_at, calendar))


Span = tuple[datetime, datetime]


def business_spans(calendar: Calendar | None, start: datetime, end: datetime) -> list[Span] | None:
    """The calendar's business time within ``[start, end)`` as sorted, disjoint, half-open UTC spans: exactly the
    instants ``in_business_hours`` accepts (the same ``Calendar.day_spans``), for SQL to classify stays with.
    None when every instant is business time (no calendar, or a 24/7 one)."""
    if calendar is None or calendar.always:
        return None
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    day = lo.astimezone(calendar.zone).date() - timedelta(days=1)  # is_business_time looks one day around too
    last = hi.astimezone(calendar.zone).date() + timedelta(days=1)
    clipped: list[Span] = []
    while day <= last:
        clipped.extend((max(s, lo), min(e, hi)) for s, e in calendar.day_spans(day))
        day += timedelta(days=1)
    spans: list[Span] = []
    for s, e in sorted(clipped):
        if s >= e:
            continue
        if spans and s <= spans[-1][1]:  # touching the previous day's span (24:00 - 00:00), or a DST overlap
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return spans


def within_service_level(wait_s: float | None, service_level_s: float = SERVICE_LEVEL_S) -> bool:
    """Answered within T: a wait of at most T seconds (T included, like a histogram's ``le`` bucket)."""
    return wait_s is not None and wait_s <= service_level_s


def weekday_hour(ts: float) -> tuple[int, int]:
    """(weekday 0 = Monday, hour) of an epoch time in Europe/Berlin."""
    local = datetime.fromtimestamp(ts, TIMEZONE)
    return local.weekday(), local.hour


def _grid() -> list[list[int]]:
    return [[0] * 24 for _ in range(7)]


@dataclass(frozen=True, slots=True)
class CallKpis:
    """Call KPIs over a set of queue stays (see the module docstring for each definition)."""

    offered: int
    answered: int
    answered_within_service_level: int
    abandoned: int
    short_abandons: int
    timed_out: int
    outside_hours: int
    closed: int
    answered_outside_hours: int
    left_at_announcement: int
    subscribed_at_announcement: int
    outcomes: dict[str, int]
    transfers_in: int
    conversations: int
    in_progress: int
    service_level_s: float
    transfers_in_excluded: bool
    reaction_time: Distribution
    talk_time: Distribution
    offered_by_weekday_hour: list[list[int]]
    outside_hours_by_weekday_hour: list[list[int]]

    @property
    def base(self) -> int:
        """offered - short abandons: the denominator of reachability, service level and abandon rate."""
        return self.offered - self.short_abandons

    @property
    def queued_outside_hours(self) -> int:
        """Outside-hours stays that were in a queue (entered outside the calendar's hours, not closed)."""
        return self.outside_hours - self.closed

    @property
    def reachability(self) -> float | None:
        return ratio(self.answered, self.base)

    @property
    def service_level(self) -> float | None:
        return ratio(self.answered_within_service_level, self.base)

    @property
    def abandon_rate(self) -> float | None:
        return ratio(self.abandoned, self.base)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the API and the report."""
        return {
            "offered": self.offered,
            "answered": self.answered,
            "answered_within_service_level": self.answered_within_service_level,
            "abandoned": self.abandoned,
            "short_abandons": self.short_abandons,
            "timed_out": self.timed_out,
            "outside_hours": self.outside_hours,
            "closed": self.closed,
            "queued_outside_hours": self.queued_outside_hours,
            "answered_outside_hours": self.answered_outside_hours,
            "left_at_announcement": self.left_at_announcement,
            "subscribed_at_announcement": self.subscribed_at_announcement,
            "outcomes": dict(sorted(self.outcomes.items())),
            "transfers_in": self.transfers_in,
            "transfers_in_excluded": self.transfers_in_excluded,
            "conversations": self.conversations,
            "in_progress": self.in_progress,
            "base": self.base,
            "reachability": self.reachability,
            "service_level": self.service_level,
            "service_level_s": self.service_level_s,
            "abandon_rate": self.abandon_rate,
            "reaction_time_s": self.reaction_time.to_dict(),
            "talk_time_s": {"count": self.talk_time.count, "mean": self.talk_time.mean},
            "offered_by_weekday_hour": [list(row) for row in self.offered_by_weekday_hour],
            "outside_hours_by_weekday_hour": [list(row) for row in self.outside_hours_by_weekday_hour],
        }


@dataclass(slots=True)
class CallTally:
    """Call KPIs built one stay at a time, so a long period can be streamed from the database.

    Stays must come in order of ``entered_at`` (a transfer's second stay after its first); ``call_kpis``
    sorts for you. ``calendar`` is the tenant's business calendar (None: around the clock).
    """

    service_level_s: float = SERVICE_LEVEL_S
    exclude_transfers_in: bool = False
    calendar: Calendar | None = None
    offered: int = 0
    answered: int = 0
    answered_within_service_level: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    timed_out: int = 0
    outside_hours: int = 0
    closed: int = 0
    answered_outside_hours: int = 0
    left_at_announcement: int = 0
    subscribed_at_announcement: int = 0
    transfers_in: int = 0
    in_progress: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)
    offered_grid: list[list[int]] = field(default_factory=_grid)
    outside_grid: list[list[int]] = field(default_factory=_grid)
    _transferred: set[str] = field(default_factory=set, init=False, repr=False)  # linkedids of transferred stays
    _conversations: set[str] = field(default_factory=set, init=False, repr=False)

    def add(self, call: CallLike) -> None:
        outcome = call.outcome
        if outcome is None:
            self.in_progress += 1
            return
        transfer_in = call.linkedid in self._transferred
        if outcome == Outcome.TRANSFERRED:  # in or outside hours: its next stay is a transfer in
            self._transferred.add(call.linkedid)
        business = not is_outside_hours(outcome, call.entered_at, self.calendar)
        if business and transfer_in and not is_at_announcement(outcome):
            self.transfers_in += 1
            if self.exclude_transfers_in:
                return
        within = int(within_service_level(call.wait_s, self.service_level_s))
        if not self.count(outcome, call.entered_at, business, within=within):
            return
        self._conversations.add(call.linkedid)
        if is_answered(outcome):
            if call.wait_s is not None:
                self.waits.append(call.wait_s)
            if call.talk_s is not None:
                self.talks.append(call.talk_s)

    def count(self, outcome: Outcome | None, entered_at: float, business: bool, n: int = 1, within: int = 0) -> bool:
        """Count ``n`` stays of one outcome that entered at ``entered_at``, in business hours or not; ``within`` of
        them waited at most T (counted if they were answered). True when they were offered.

        The one classification of a stay's outcome: ``add`` per stay, ``metrics.aggregates`` per SQL group (it
        counts transfers in, conversations, waits and talks in SQL)."""
        if outcome is None:
            self.in_progress += n
            return False
        self.outcomes[outcome.value] += n
        if is_at_announcement(outcome):  # never in a queue: apart, in business hours or not
            self.left_at_announcement += n
            if outcome == Outcome.INCIDENT_SUBSCRIBED:
                self.subscribed_at_announcement += n
            return False
        day, hour = weekday_hour(entered_at)
        if is_closed(outcome) or not business:  # is_outside_hours
            self.outside_hours += n
            self.outside_grid[day][hour] += n
            if is_closed(outcome):
                self.closed += n
            elif is_answered(outcome):
                self.answered_outside_hours += n
            return False
        self.offered += n
        self.offered_grid[day][hour] += n
        if is_answered(outcome):
            self.answered += n
            self.answered_within_service_level += within
        elif is_abandoned(outcome):
            self.abandoned += n
        elif is_short_abandon(outcome):
            self.short_abandons += n
        elif is_timed_out(outcome):
            self.timed_out += n
        return True

    def add_all(self, calls: Iterable[CallLike]) -> None:
        for call in calls:
            self.add(call)

    def result(self) -> CallKpis:
        return CallKpis(
            offered=self.offered,
            answered=self.answered,
            answered_within_service_level=self.answered_within_service_level,
            abandoned=self.abandoned,
            short_abandons=self.short_abandons,
            timed_out=self.timed_out,
            outside_hours=self.outside_hours,
            closed=self.closed,
            answered_outside_hours=self.answered_outside_hours,
            left_at_announcement=self.left_at_announcement,
            subscribed_at_announcement=self.subscribed_at_announcement,
            outcomes=dict(self.outcomes),
            transfers_in=self.transfers_in,
            conversations=len(self._conversations),
            in_progress=self.in_progress,
            service_level_s=self.service_level_s,
            transfers_in_excluded=self.exclude_transfers_in,
            reaction_time=Distribution.of(self.waits),
            talk_time=Distribution.of(self.talks),
            offered_by_weekday_hour=[list(row) for row in self.offered_grid],
            outside_hours_by_weekday_hour=[list(row) for row in self.outside_grid],
        )


def call_kpis(
    calls: Iterable[CallLike],
    *,
    service_level_s: float = SERVICE_LEVEL_S,
    exclude_transfers_in: bool = False,
    calendar: Calendar | None = None,
) -> CallKpis:
    """Every call KPI over ``calls`` (any order); ``calendar``: the tenant's business hours (None: 24/7)."""
    tally = CallTally(service_level_s=service_level_s, exclude_transfers_in=exclude_transfers_in, calendar=calendar)
    tally.add_all(sorted(calls, key=lambda c: c.entered_at))
    return tally.result()


# ---------------------------------------------------------------------------------------------------- tickets
def top_level(path: str | None) -> str:
    """The top-level category code of a category path (``kis/login`` → ``kis``); ``none`` without one."""
    if not path:
        return UNCLASSIFIED
    return path.split("/", 1)[0]


def is_routed_beyond_first_level(action: str, new_value: str | None) -> bool:
    """A ``routed`` history entry whose target group is not 1st level."""
    return action == ROUTED and new_value != FIRST_LEVEL


def is_escalation(action: str) -> bool:
    return action == ESCALATED


def is_forwarding(action: str, new_value: str | None) -> bool:
    """A history entry that forwards the ticket (the seed's "eskalierte (weitergeleitete) Tickets"): routed beyond
    1st level. An SLA warning or breach (``escalated``) tells the named managers; the ticket stays where it is."""
    return is_routed_beyond_first_level(action, new_value)


@dataclass(frozen=True, slots=True)
class TicketFact:
    """What the ticket KPIs read of one ticket and its history."""

    tenant: str
    created_at: datetime
    category: str  # top-level category code, ``none`` when unclassified
    priority: int | None
    channel: str
    routed_at: datetime | None = None  # first routing beyond 1st level
    escalated_at: datetime | None = None  # first escalation

    @property
    def forwarded_at(self) -> datetime | None:
        """The first forwarding: routing beyond 1st level (SLA escalations are counted apart)."""
        return self.routed_at

    @property
    def escalation_us(self) -> int | None:
        """Creation → first forwarding in whole microseconds (exact: the SQL aggregates compare the same)."""
        at = self.forwarded_at
        return None if at is None else (at - self.created_at) // _MICROSECOND


def ticket_fact(
    tenant: str,
    created_at: datetime,
    category: str,
    priority: int | None,
    channel: str,
    history: Iterable[tuple[str, str | None, datetime]],
) -> TicketFact:
    """A ticket's fact from its history entries ``(action, new_value, at)`` (any order, any actions)."""
    routed: datetime | None = None
    escalated: datetime | None = None
    for action, new_value, at in history:
        if is_routed_beyond_first_level(action, new_value) and (routed is None or at < routed):
            routed = at
        elif is_escalation(action) and (escalated is None or at < escalated):
            escalated = at
    return TicketFact(tenant, created_at, category, priority, channel, routed, escalated)


def priority_key(priority: int | None) -> str:
    """The ``by_priority`` key of a ticket's priority (``none`` without one)."""
    return "none" if priority is None else str(priority)


@dataclass(frozen=True, slots=True)
class TicketKpis:
    """Ticket KPIs over a cohort of tickets (see the module docstring); ``counted`` makes them from counts."""

    created: int
    by_category: dict[str, int]
    by_priority: dict[str, int]
    by_channel: dict[str, int]
    routed: int
    escalated: int
    routed_by_category: dict[str, int]
    escalated_by_category: dict[str, int]
    escalation_time: Distribution

    @classmethod
    def counted(
        cls,
        *,
        by_category: Mapping[str, int],
        by_priority: Mapping[str, int],
        by_channel: Mapping[str, int],
        routed_by_category: Mapping[str, int],
        escalated_by_category: Mapping[str, int],
        escalation_s: Sequence[float],
    ) -> TicketKpis:
        """The KPIs of a cohort from its tickets counted per key (created: per category) and its escalation times."""
        return cls(
            created=sum(by_category.values()),
            by_category=dict(sorted(by_category.items())),
            by_priority=dict(sorted(by_priority.items())),
            by_channel=dict(sorted(by_channel.items())),
            routed=sum(routed_by_category.values()),
            escalated=sum(escalated_by_category.values()),
            routed_by_category=dict(sorted(routed_by_category.items())),
            escalated_by_category=dict(sorted(escalated_by_category.items())),
            escalation_time=Distribution.of(escalation_s),
        )

    @property
    def forwarded(self) -> int:
        """Forwarded ("escalated (forwarded)" of the SPEC) = routed beyond 1st level (``is_forwarding``)."""
        return self.routed

    @property
    def forwarded_by_category(self) -> dict[str, int]:
        return self.routed_by_category

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "by_category": self.by_category,
            "by_priority": self.by_priority,
            "by_channel": self.by_channel,
            "routed": self.routed,
            "escalated": self.escalated,
            "forwarded": self.forwarded,
            "routed_by_category": self.routed_by_category,
            "escalated_by_category": self.escalated_by_category,
            "forwarded_by_category": self.forwarded_by_category,
            "escalation_time_s": {
                "count": self.escalation_time.count,
                "mean": self.escalation_time.mean,
                "p90": self.escalation_time.p90,
            },
        }


def ticket_kpis(tickets: Iterable[TicketFact]) -> TicketKpis:
    """Every ticket KPI over ``tickets``."""
    by_category: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    routed: Counter[str] = Counter()
    escalated: Counter[str] = Counter()
    times: list[float] = []
    for t in tickets:
        by_category[t.category] += 1
        by_priority[priority_key(t.priority)] += 1
        by_channel[t.channel] += 1
        if t.escalated_at is not None:
            escalated[t.category] += 1
        us = t.escalation_us  # not None exactly when routed (forwarded_at is routed_at)
        if us is not None:
            routed[t.category] += 1
            times.append(us / 1_000_000)
    return TicketKpis.counted(
        by_category=by_category,
        by_priority=by_priority,
        by_channel=by_channel,
        routed_by_category=routed,
        escalated_by_category=escalated,
        escalation_s=times,
    )


def cumulative_buckets(values: Iterable[float], bounds: Sequence[float]) -> list[int]:
    """Prometheus histogram buckets: for each upper bound, how many values are ≤ it (then +Inf: all)."""
    counts = [0] * (len(bounds) + 1)
    for v in values:
        for i, bound in enumerate(bounds):
            if v <= bound:
                counts[i] += 1
        counts[-1] += 1
    return counts


# ---------------------------------------------------------------------------------------------- first contact
# ticket statuses (tickets.models.TicketStatus values) that mean "solved"
RESOLVED_STATUSES = frozenset({"resolved", "closed"})


def is_resolved_at_first_level(status: str | None, routed_beyond_first_level: bool) -> bool:
    """First-contact resolution of one ticket: resolved or closed now, and never routed beyond 1st level.

    An ``escalated`` entry (an SLA warning to managers) does not move a ticket away from 1st level; a routing
    to 2nd/3rd level or a partner does, even when it came back and 1st level closed it.
    """
    return status in RESOLVED_STATUSES and not routed_beyond_first_level


@dataclass(frozen=True, slots=True)
class FirstContactResolution:
    """Tickets of a cohort resolved at 1st level ÷ tickets created in it (``None`` without tickets)."""

    created: int
    resolved_at_first_level: int

    @property
    def rate(self) -> float | None:
        return ratio(self.resolved_at_first_level, self.created)

    def to_dict(self) -> dict[str, Any]:
        return {"created": self.created, "resolved_at_first_level": self.resolved_at_first_level, "rate": self.rate}


def first_contact_resolution(tickets: Iterable[tuple[str | None, bool]]) -> FirstContactResolution:
    """FCR over ``(status, routed beyond 1st level)`` of each ticket of the cohort."""
    return first_contact_resolution_counted(Counter(tickets))


def first_contact_resolution_counted(counts: Mapping[tuple[str | None, bool], int]) -> FirstContactResolution:
    """FCR over how many tickets of the cohort have each ``(status, routed beyond 1st level)``."""
    created = solved = 0
    for (status, routed), n in counts.items():
        created += n
        if is_resolved_at_first_level(status, routed):
            solved += n
    return FirstContactResolution(created, solved)
