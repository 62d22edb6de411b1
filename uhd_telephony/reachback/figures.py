"""The reach-back figures of a period, counted in SQL from what the matcher stored (``calls.reach``, ``reach_s``):
set-based (one GROUP BY, and the reached stays' times), never from caller numbers, so retention changes nothing.

Per tenant and queue, over the stays that ENTERED a queue in ``[start, end)`` (a stay whose window ends after the
period counts in its own period): lost stays (identified + anonymous), reached by calling again or by a callback,
and the business seconds each took (the caller of ``metrics`` makes the distribution by ``kpi``'s nearest rank).
Stays the matcher has not looked at yet (within its scan interval of their end) are in no figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from uhd_telephony.calls.models import Call
from uhd_telephony.reachback.rules import LOST, REACHED, Reach
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of

calls = table_of(Call)


@dataclass(slots=True)
class ReachCounts:
    """One tenant's (or queue's) lost stays by what became of them, and the reached ones' business seconds."""

    by_reach: Counter[str] = field(default_factory=Counter)
    times_s: list[float] = field(default_factory=list)  # sorted

    @property
    def identified(self) -> int:
        return sum(self.by_reach[r.value] for r in (Reach.OPEN, *REACHED))

    @property
    def anonymous(self) -> int:
        return self.by_reach[Reach.ANONYMOUS.value]

    @property
    def call_again(self) -> int:
        return self.by_reach[Reach.CALL_AGAIN.value]

    @property
    def callback(self) -> int:
        return self.by_reach[Reach.CALLBACK.value]

    @property
    def reached(self) -> int:
        return self.call_again + self.callback

    @property
    def lost_callers(self) -> int:
        """Lost stays not reached back, anonymous ones included."""
        return self.identified + self.anonymous - self.reached


@dataclass(slots=True)
class PeriodReach:
    """The period's counts: in total and per queue."""

    total: ReachCounts = field(default_factory=ReachCounts)
    queues: dict[str, ReachCounts] = field(default_factory=dict)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def period_reach(
    db: Database, tenant: str, start: datetime, end: datetime, *, queue: str | None = None
) -> PeriodReach:
    """The tenant's reach-back counts over the stays that entered in ``[start, end)`` (one queue: ``queue``)."""
    where = [
        calls.c.tenant == tenant,
        calls.c.entered_at >= _aware(start),
        calls.c.entered_at < _aware(end),
        calls.c.reach.in_([r.value for r in LOST]),
    ]
    if queue is not None:
        where.append(calls.c.queue == queue)
    out = PeriodReach()
    async with db.engine.connect() as conn:
        counted = await conn.execute(
            select(calls.c.queue, calls.c.reach, func.count()).where(*where).group_by(calls.c.queue, calls.c.reach)
        )
        for name, reach, n in counted:
            out.queues.setdefault(name, ReachCounts()).by_reach[reach] += n
            out.total.by_reach[reach] += n
        times = await conn.execute(
            select(calls.c.queue, calls.c.reach_s)
            .where(*where, calls.c.reach.in_([r.value for r in REACHED]), calls.c.reach_s.is_not(None))
            .order_by(calls.c.reach_s)
        )
        for name, seconds in times:
            out.queues.setdefault(name, ReachCounts()).times_s.append(seconds)
            out.total.times_s.append(seconds)
    out.queues = dict(sorted(out.queues.items()))
    return out


async def reach_today_by_tenant(db: Database, start: datetime) -> dict[str, ReachCounts]:
    """Every tenant's counts over the stays that entered since ``start`` (the /metrics gauges' background read)."""
    out: dict[str, ReachCounts] = {}
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(calls.c.tenant, calls.c.reach, func.count(), func.sum(calls.c.reach_s))
            .where(calls.c.entered_at >= _aware(start), calls.c.reach.in_([r.value for r in LOST]))
            .group_by(calls.c.tenant, calls.c.reach)
        )
        for tenant, reach, n, _total in rows:
            out.setdefault(tenant, ReachCounts()).by_reach[reach] += n
    return out
