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
- base = offered - short abandons (the denominator of every ratio below; the contract may keep short abandons).
- reachability = answered ÷ base. service level = answered with wait ≤ T (default 20 s) ÷ base — "within T"
  includes T itself, the same boundary as ``uhd_calls_answered_within_service_level_total`` counts live.
- abandon rate = abandoned ÷ base.
- call reaction time = wait (queue entry → answer) of answered stays: mean, median, p90.
- talk time = answered stays' talk (answer → end of that stay; a transferred stay ends at the transfer): mean.
- calls by weekday x hour of entry in Europe/Berlin: offered stays, and outside-hours stays apart.
- outcomes: every finished stay by its outcome, business hours or not (an excluded transfer in: not).
- Stays still in progress (no outcome yet) count nowhere; ``in_progress`` reports them.
- Each stay is classified on its own, by its own queue entry: the second stay of a transfer that enters the
  2nd-level queue after closing time is outside hours. A transfer in is a business-hours stay whose linkedid had
  an earlier ``transferred`` stay (in or outside hours); ``exclude_transfers_in`` leaves those out.

The contract's rules (``tenants.contract.KpiRules``, per tenant, in force from the 1st of a month; no contract:
the defaults, which are the definitions above). Each stay is classified by the rules in force on the Berlin day it
entered its queue:

- ``queues``: None counts every queue of the tenant; a set counts only the stays of those queues. A stay of any
  other queue is in no figure of the tenant (not offered, not outside hours, no transfer in, no conversation):
  it is counted apart in ``not_under_contract``, whatever its outcome (in progress too).
- ``short_abandon_s``: an unanswered stay whose stored outcome is ``abandoned`` or ``short_abandon`` is a short
  abandon iff its ``wait_s`` < ``short_abandon_s``, an abandon otherwise: reclassified from its wait here, so the
  tracker's threshold at the time (``UHD_SHORT_ABANDON_S``) and a contract entered later do not matter. Without a
  ``wait_s`` the stored outcome stands. ``outcomes`` shows the reclassified outcome.
- ``short_abandons_in_base``: False (default) leaves short abandons out of every ratio's base (base = offered -
  short abandons); True keeps them in the base as offered and not answered (they lower reachability and the
  service level). Either way they are reported as ``short_abandons`` and never counted as ``abandoned``, so the
  abandon rate stays abandoned (without short abandons) ÷ base.
- ``abandons_in_service_level``: True (default): service level = answered within T ÷ base. False: answered within
  T ÷ (base - abandoned) (the "service level excluding abandons" of Asterisk's queue statistics); short abandons
  kept in the base stay in it. Reachability and abandon rate keep the base. ``service_level_base`` is the
  service level's denominator.
- ``service_level_s``: the T of "answered within T" (inclusive). The KPI API's ``service_level_s`` parameter
  replaces it for one question (a what-if); the report, the live figures and ``/metrics`` use the contract's.
- ``outside_hours_count``: False (default): as above. True: a stay that queued outside business hours is offered
  like any other (in every ratio, its wait in the reaction time); ``outside_hours`` then holds only the dialplan's
  ``closed`` calls, which never entered a queue.
- ``callback_window_s`` is the callbacks' figures' (not a call KPI here).

A period across a contract change is cut at the 1st (midnight Europe/Berlin) and each part is classified by its
own rules, as a period of its own (transfers in and conversations within the part), then the parts are summed:
counts and bases add up, ratios are taken from the summed counts, durations' mean and percentiles over all the
values of the parts together. ``rules`` lists the rules of each part (one for a month: a contract changes on the
1st); ``service_level_s`` is the one T of all parts (None when the parts' T differ).

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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from uhd_telephony.calls.records import ANNOUNCEMENT_OUTCOMES, ANSWERED_OUTCOMES, Outcome
from uhd_telephony.sla.calendar import Calendar, is_business_time
from uhd_telephony.tenants import contract
from uhd_telephony.tenants.contract import DEFAULT_RULES, SERVICE_LEVEL_S, KpiRules

__all__ = ["DEFAULT_RULES", "SERVICE_LEVEL_S", "KpiRules"]  # (re-exported: the KPIs' one place to import them from)
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
    def queue(self) -> str: ...
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


ABANDON_OUTCOMES = frozenset({Outcome.ABANDONED, Outcome.SHORT_ABANDON})


def contract_outcome(outcome: Outcome | None, wait_s: float | None, rules: KpiRules = DEFAULT_RULES) -> Outcome | None:
    """The outcome as the contract counts it: an abandon (short or not) is short iff it waited less than the
    contract's ``short_abandon_s``; without a wait, and for every other outcome, the stored one."""
    if wait_s is None or outcome not in ABANDON_OUTCOMES:
        return outcome
    return Outcome.SHORT_ABANDON if wait_s < rules.short_abandon_s else Outcome.ABANDONED


def split_abandons(
    outcome: Outcome | None, n: int, below: int, waited: int, rules: KpiRules = DEFAULT_RULES
) -> list[tuple[Outcome | None, int]]:
    """``contract_outcome`` for ``n`` stays of one stored outcome, of which ``waited`` have a wait and ``below`` a
    wait under the contract's short-abandon threshold: (outcome, count) pairs (the SQL aggregates' twin)."""
    if outcome not in ABANDON_OUTCOMES:
        return [(outcome, n)]
    short, long = below, waited - below
    if outcome == Outcome.SHORT_ABANDON:
        short += n - waited  # no wait: keeps its stored outcome
    else:
        long += n - waited
    return [(o, k) for o, k in ((Outcome.SHORT_ABANDON, short), (Outcome.ABANDONED, long)) if k]


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


def in_base(outcome: Outcome | None, rules: KpiRules = DEFAULT_RULES) -> bool:
    """Whether an offered stay of this (contract) outcome is in the base of reachability and abandon rate."""
    return rules.short_abandons_in_base or not is_short_abandon(outcome)


def in_service_level_base(outcome: Outcome | None, rules: KpiRules = DEFAULT_RULES) -> bool:
    """Whether an offered stay of this (contract) outcome is in the service level's base."""
    return in_base(outcome, rules) and (rules.abandons_in_service_level or not is_abandoned(outcome))


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
    base: int  # the denominator of reachability and abandon rate (module docstring: the contract decides)
    service_level_base: int  # the service level's denominator
    not_under_contract: int  # stays of queues the contract does not count: in no other figure
    rules: tuple[KpiRules, ...]  # the rules of each part of the period (one for a month)
    service_level_s: float | None  # the T of every part (None when the parts' T differ)
    transfers_in_excluded: bool
    reaction_time: Distribution
    talk_time: Distribution
    offered_by_weekday_hour: list[list[int]]
    outside_hours_by_weekday_hour: list[list[int]]

    @property
    def queued_outside_hours(self) -> int:
        """Outside-hours stays that were in a queue (entered outside the calendar's hours, not closed)."""
        return self.outside_hours - self.closed

    @property
    def reachability(self) -> float | None:
        return ratio(self.answered, self.base)

    @property
    def service_level(self) -> float | None:
        return ratio(self.answered_within_service_level, self.service_level_base)

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
            "service_level_base": self.service_level_base,
            "not_under_contract": self.not_under_contract,
            "rules": [r.to_dict() for r in self.rules],
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
    sorts for you. ``calendar`` is the tenant's business calendar (None: around the clock), ``rules`` its
    contract's (``next_part`` starts the next part of a period under other rules); ``service_level_s``, when given,
    replaces the rules' T in every part.
    """

    rules: KpiRules = DEFAULT_RULES
    exclude_transfers_in: bool = False
    calendar: Calendar | None = None
    service_level_s: float | None = None
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
    base: int = 0
    service_level_base: int = 0
    not_under_contract: int = 0
    conversations_before: int = 0  # distinct conversations of the earlier parts, or counted in SQL
    applied: list[KpiRules] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)
    offered_grid: list[list[int]] = field(default_factory=_grid)
    outside_grid: list[list[int]] = field(default_factory=_grid)
    _transferred: set[str] = field(default_factory=set, init=False, repr=False)  # linkedids of transferred stays
    _conversations: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rules = self._own(self.rules)
        self.applied.append(self.rules)

    def _own(self, rules: KpiRules) -> KpiRules:
        if self.service_level_s is None or self.service_level_s == rules.service_level_s:
            return rules
        return replace(rules, service_level_s=self.service_level_s)

    def next_part(self, rules: KpiRules) -> None:
        """The next part of the period, under ``rules``: a period of its own (its own transfers in and
        conversations), summed into this one."""
        self.conversations_before += len(self._conversations)
        self._conversations.clear()
        self._transferred.clear()
        self.rules = self._own(rules)
        self.applied.append(self.rules)

    def add(self, call: CallLike) -> bool:
        """Count one stay; True when it was offered (in the contract's business-hours figures)."""
        rules = self.rules
        if rules.queues is not None and call.queue not in rules.queues:
            self.not_under_contract += 1
            return False
        outcome = contract_outcome(call.outcome, call.wait_s, rules)
        if outcome is None:
            self.in_progress += 1
            return False
        transfer_in = call.linkedid in self._transferred
        if outcome == Outcome.TRANSFERRED:  # in or outside hours: its next stay is a transfer in
            self._transferred.add(call.linkedid)
        business = self.counts_as_business(outcome, call.entered_at)
        if business and transfer_in and not is_at_announcement(outcome):
            self.transfers_in += 1
            if self.exclude_transfers_in:
                return False
        within = int(within_service_level(call.wait_s, rules.service_level_s))
        if not self.count(outcome, call.entered_at, business, within=within):
            return False
        self._conversations.add(call.linkedid)
        if is_answered(outcome):
            if call.wait_s is not None:
                self.waits.append(call.wait_s)
            if call.talk_s is not None:
                self.talks.append(call.talk_s)
        return True

    def counts_as_business(self, outcome: Outcome | None, entered_at: float) -> bool:
        """In the business-hours figures: not closed, and queued in business hours or the contract counts
        calls outside them."""
        if is_closed(outcome):
            return False
        return self.rules.outside_hours_count or in_business_hours(entered_at, self.calendar)

    def count(self, outcome: Outcome | None, entered_at: float, business: bool, n: int = 1, within: int = 0) -> bool:
        """Count ``n`` stays of one (contract) outcome that entered at ``entered_at``, in business hours or not
        (the contract's ``outside_hours_count`` makes them so); ``within`` of them waited at most T (counted if
        they were answered). True when they were offered.

        The one classification of a stay's outcome: ``add`` per stay, ``metrics.aggregates`` per SQL group (it
        counts transfers in, conversations, waits and talks in SQL)."""
        business = business or (self.rules.outside_hours_count and not is_closed(outcome))
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
        if in_base(outcome, self.rules):
            self.base += n
            if in_service_level_base(outcome, self.rules):
                self.service_level_base += n
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
            conversations=self.conversations_before + len(self._conversations),
            in_progress=self.in_progress,
            base=self.base,
            service_level_base=self.service_level_base,
            not_under_contract=self.not_under_contract,
            rules=tuple(self.applied),
            service_level_s=one_threshold(self.applied),
            transfers_in_excluded=self.exclude_transfers_in,
            reaction_time=Distribution.of(self.waits),
            talk_time=Distribution.of(self.talks),
            offered_by_weekday_hour=[list(row) for row in self.offered_grid],
            outside_hours_by_weekday_hour=[list(row) for row in self.outside_grid],
        )


def one_threshold(rules: Sequence[KpiRules]) -> float | None:
    """The T shared by all ``rules`` (None when they differ)."""
    thresholds = {r.service_level_s for r in rules}
    return thresholds.pop() if len(thresholds) == 1 else None


def call_kpis(
    calls: Iterable[CallLike],
    *,
    service_level_s: float | None = None,
    exclude_transfers_in: bool = False,
    calendar: Calendar | None = None,
    rules: KpiRules | Sequence[contract.Part] = DEFAULT_RULES,
) -> CallKpis:
    """Every call KPI over ``calls`` (any order); ``calendar``: the tenant's business hours (None: 24/7);
    ``rules``: the contract's, or the parts of a period under its rules (``tenants.contract.split``), each stay
    classified by the part it entered in (a stay outside every part: by the part before it, or the first)."""
    ordered = sorted(calls, key=lambda c: c.entered_at)
    if isinstance(rules, KpiRules):
        tally = CallTally(rules, exclude_transfers_in, calendar, service_level_s)
        tally.add_all(ordered)
        return tally.result()
    parts = list(rules) or [contract.Part(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
                                          DEFAULT_RULES)]  # fmt: skip
    tally = CallTally(parts[0].rules, exclude_transfers_in, calendar, service_level_s)
    i = 0
    for call in ordered:
        while i + 1 < len(parts) and call.entered_at >= parts[i + 1].start.timestamp():
            i += 1
            tally.next_part(parts[i].rules)
        tally.add(call)
    for part in parts[i + 1 :]:
        tally.next_part(part.rules)
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
