"""A day's call figures hour by hour, and per agent where the tenant allows it: the live KPI page and the wallboard.

Every figure is ``kpi.py``'s: each hour is a ``kpi.CallTally`` over the stays that entered a queue in that hour
(Europe/Berlin), the day one over all of them, so an hour's offered, answered, abandoned and service level are
exactly what ``GET …/kpis`` answers for that hour, and the day's what it answers for the day. The service level
"through the day" at an hour is the same ratio over the stays from midnight to the end of that hour (answered
within T ÷ the service level's base, summed). The day is counted by the tenant's contract in force on it
(``tenants.contract``: a contract changes on the 1st, so a day has one set of rules).

Per agent (only when the tenant's works agreement allows figures per agent, ``tenants.per_agent_figures``): the
answered stays of the day each agent took (the ``answered`` of ``kpi``: in business hours, ``answered`` or
``transferred``; their sum is the team's), their mean talk time, and the rings the agent let run out
(``noanswer`` ring attempts of the day's offered stays; a busy phone is not one). An agent is named as the queue
names its member (``MemberName``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.queries import PARTITION, stored_outcome
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenants import contract

calls = table_of(Call)

HOURS = 24
NO_ANSWER = "noanswer"  # a ring attempt that ran out (calls.tracker: RingTime > 0)


@dataclass(frozen=True, slots=True)
class Stay:
    """What the day's figures read of one stored stay (a ``kpi.CallLike``, plus who answered and who was rung)."""

    linkedid: str
    queue: str
    entered_at: float
    outcome: Outcome | None
    wait_s: float | None
    talk_s: float | None
    agent: str | None = None
    unanswered_rings: tuple[str, ...] = ()  # the members whose phone rang out for this stay


def day_period(day: date) -> tuple[datetime, datetime]:
    """``[local midnight, next local midnight)`` of ``day`` in Europe/Berlin (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), kpi.TIMEZONE)
    return start, datetime.combine(day + timedelta(days=1), time(0), kpi.TIMEZONE)


@dataclass(slots=True)
class _Agent:
    answered: int = 0
    talks: list[float] = field(default_factory=list)
    rings_unanswered: int = 0


@dataclass(slots=True)
class DayTally:
    """The day's figures built one stay at a time (in order of queue entry, like ``kpi.CallTally``)."""

    calendar: Calendar | None = None
    rules: kpi.KpiRules = kpi.DEFAULT_RULES
    per_agent: bool = False
    day: kpi.CallTally = field(init=False)
    hours: list[kpi.CallTally] = field(init=False)
    agents: dict[str, _Agent] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.day = self._tally()
        self.hours = [self._tally() for _ in range(HOURS)]

    def _tally(self) -> kpi.CallTally:
        return kpi.CallTally(self.rules, calendar=self.calendar)

    def add(self, stay: Stay) -> None:
        offered = self.day.add(stay)
        self.hours[kpi.weekday_hour(stay.entered_at)[1]].add(stay)
        if not self.per_agent or not offered:
            return
        for member in stay.unanswered_rings:
            self.agents.setdefault(member, _Agent()).rings_unanswered += 1
        if kpi.is_answered(stay.outcome) and stay.agent:
            agent = self.agents.setdefault(stay.agent, _Agent())
            agent.answered += 1
            if stay.talk_s is not None:
                agent.talks.append(stay.talk_s)

    def add_all(self, stays: Iterable[Stay]) -> None:
        for stay in stays:
            self.add(stay)

    def result(self) -> DayFigures:
        hours = [h.result() for h in self.hours]
        rows = []
        within = base = 0
        for hour, figures in enumerate(hours):
            within += figures.answered_within_service_level
            base += figures.service_level_base
            rows.append(
                {
                    "hour": hour,
                    "offered": figures.offered,
                    "answered": figures.answered,
                    "abandoned": figures.abandoned,
                    "short_abandons": figures.short_abandons,
                    "answered_within_service_level": figures.answered_within_service_level,
                    "service_level": figures.service_level,
                    "service_level_to_hour": kpi.ratio(within, base),
                }
            )
        agents = None
        if self.per_agent:
            agents = [
                {
                    "agent": name,
                    "answered": a.answered,
                    "talk_mean_s": kpi.mean(a.talks),
                    "rings_unanswered": a.rings_unanswered,
                }
                for name, a in sorted(self.agents.items(), key=lambda item: item[0].casefold())
            ]
        return DayFigures(self.day.result(), rows, agents)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """The day (``kpi.CallKpis``), its 24 hours, and the agents (None: per-agent figures are not allowed)."""

    calls: kpi.CallKpis
    hours: list[dict[str, Any]]
    agents: list[dict[str, Any]] | None


def day_figures(
    stays: Iterable[Stay],
    *,
    calendar: Calendar | None = None,
    rules: kpi.KpiRules = kpi.DEFAULT_RULES,
    per_agent: bool = False,
) -> DayFigures:
    """The figures of ``stays`` (any order)."""
    tally = DayTally(calendar, rules, per_agent)
    tally.add_all(sorted(stays, key=lambda s: s.entered_at))
    return tally.result()


def _rings(attempts: Sequence[dict[str, Any]] | None) -> tuple[str, ...]:
    return tuple(
        str(a.get("member_name") or a.get("interface") or "")
        for a in attempts or ()
        if isinstance(a, dict) and a.get("result") == NO_ANSWER and (a.get("member_name") or a.get("interface"))
    )


async def stored_day(
    db: Database,
    tenant: str,
    day: date,
    *,
    calendar: Calendar | None,
    rules: kpi.KpiRules | None = None,
    per_agent: bool = False,
) -> DayFigures:
    """The figures of the tenant's stays that entered a queue on ``day`` (Europe/Berlin), streamed from the store,
    by ``rules`` (None: the tenant's contract in force that day); who answered and who was rung are read only when
    ``per_agent``."""
    start, end = day_period(day)
    if rules is None:
        rules = await contract.rules_in_force(db, tenant, day)
    columns = [calls.c.linkedid, calls.c.queue, calls.c.entered_at, calls.c.outcome, calls.c.wait_s, calls.c.talk_s]
    if per_agent:
        columns += [calls.c.agent, calls.c.ring_attempts]
    stmt = (
        select(*columns)
        .where(calls.c.tenant == tenant, calls.c.entered_at >= start, calls.c.entered_at < end)
        .order_by(calls.c.entered_at, calls.c.id)
    )
    tally = DayTally(calendar, rules, per_agent)
    async with db.engine.connect() as conn:
        result = await conn.stream(stmt)
        async for part in result.partitions(PARTITION):
            for row in part:
                tally.add(
                    Stay(
                        linkedid=row.linkedid,
                        queue=row.queue,
                        entered_at=row.entered_at.timestamp(),
                        outcome=stored_outcome(row.outcome),
                        wait_s=row.wait_s,
                        talk_s=row.talk_s,
                        agent=row.agent if per_agent else None,
                        unanswered_rings=_rings(row.ring_attempts) if per_agent else (),
                    )
                )
    return tally.result()
