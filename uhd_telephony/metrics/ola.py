"""The monthly report's OLA section (its HTML: ``templates/ola.html.j2``): per support group with an OLA, the
month's routings to it and how they went against the group's own targets, on the OLA clock of ``sla.ola`` (business
time of the group's calendar from the routing, paused while the ticket waits on the caller).

A cohort like the ticket KPIs': the routings (``routed`` history rows) of the month to a group that has an OLA for
the ticket's priority, with what happened to them up to the report's time.

- routed: those routings;
- response / resolution met %: met ÷ (met + missed); met = the group responded (resolved) within its target,
  missed = the clock reached the target first (whether the group did it later, the ticket was routed away after,
  or it is still open); a routing still running short of its target, or routed away before it, is neither;
- resolved: routings the group resolved (resolved or closed while with it);
- time to resolve: business time from the routing to the resolution, over the routings the group resolved: mean
  and p90 (nearest rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from uhd_telephony.i18n import N_
from uhd_telephony.metrics.kpi import Distribution, ratio
from uhd_telephony.sla.ola import Outcome, members, outcome, stints
from uhd_telephony.sla.ola_policy import load_olas
from uhd_telephony.sla.ola_timers import history_events, partner_groups
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.history import Action, history
from uhd_telephony.tickets.history_text import group_names
from uhd_telephony.tickets.view import tickets

if TYPE_CHECKING:
    from uhd_telephony.metrics.report import MonthlyReport


@dataclass(frozen=True, slots=True)
class GroupOlaFigures:
    """One group's routings of the month against its OLA."""

    group: str
    name: str  # the group's configured name (the code when it has none)
    routed: int = 0
    response_met: int = 0
    response_missed: int = 0
    resolution_met: int = 0
    resolution_missed: int = 0
    resolved: int = 0
    time_to_resolve: Distribution = field(default_factory=lambda: Distribution.of([]))

    @property
    def response_rate(self) -> float | None:
        return ratio(self.response_met, self.response_met + self.response_missed)

    @property
    def resolution_rate(self) -> float | None:
        return ratio(self.resolution_met, self.resolution_met + self.resolution_missed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "routed": self.routed,
            "response": {"met": self.response_met, "missed": self.response_missed, "rate": self.response_rate},
            "resolution": {"met": self.resolution_met, "missed": self.resolution_missed, "rate": self.resolution_rate},
            "resolved": self.resolved,
            "time_to_resolve_s": {"mean": self.time_to_resolve.mean, "p90": self.time_to_resolve.p90},
        }


@dataclass(frozen=True, slots=True)
class OlaFigures:
    """Every group with an OLA (by name), also one nothing was routed to in the month."""

    groups: tuple[GroupOlaFigures, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [g.to_dict() for g in self.groups]}


def group_figures(group: str, name: str, outcomes: Sequence[Outcome]) -> GroupOlaFigures:
    """The figures of one group from its routings' outcomes (pure: the definition above)."""
    resolved = [o.resolution_used.total_seconds() for o in outcomes if o.resolved]
    return GroupOlaFigures(
        group,
        name,
        routed=len(outcomes),
        response_met=sum(1 for o in outcomes if o.response_met is True),
        response_missed=sum(1 for o in outcomes if o.response_met is False),
        resolution_met=sum(1 for o in outcomes if o.resolution_met is True),
        resolution_missed=sum(1 for o in outcomes if o.resolution_met is False),
        resolved=len(resolved),
        time_to_resolve=Distribution.of(resolved),
    )


async def ola_figures(db: Database, tenant: str, start: datetime, end: datetime, at: datetime) -> OlaFigures:
    """The OLA section of ``tenant``'s report for ``[start, end)`` as of ``at``; no groups when it has no OLAs."""
    async with db.engine.connect() as conn:
        ola = (await load_olas(conn, [tenant])).get(tenant)
        if ola is None:
            return OlaFigures()
        routed = (
            select(history.c.ticket_id)
            .join(tickets, tickets.c.id == history.c.ticket_id)
            .where(
                tickets.c.tenant == tenant,
                history.c.action == Action.ROUTED.value,
                history.c.at >= start,
                history.c.at < end,
                history.c.new_value.in_(sorted(ola.groups)),
            )
        )
        ids = sorted(set((await conn.execute(routed)).scalars()))
        found = await conn.execute(
            select(tickets.c.id, tickets.c.status, tickets.c.priority).where(tickets.c.id.in_(ids))
        )
        now_of = {row.id: (row.status, row.priority) for row in found}
        events = await history_events(conn, ids)
        acts_for = members(await partner_groups(conn, {e.actor for each in events.values() for e in each}))
        names = await group_names(conn, tenant)
    outcomes: dict[str, list[Outcome]] = {code: [] for code in ola.groups}
    for ticket_id in ids:
        status, priority = now_of[ticket_id]
        for stint in stints(events[ticket_id], acts_for, status):
            group = ola.groups.get(stint.group)
            policy = None if group is None else group.policy_for(priority)
            if group is None or policy is None or not start <= stint.start < end:
                continue
            outcomes[stint.group].append(outcome(stint, policy, group.calendar, at))
    figures = [group_figures(code, names.get(code, code), found) for code, found in outcomes.items()]
    return OlaFigures(tuple(sorted(figures, key=lambda g: (g.name.casefold(), g.group))))


OLA_KEYS = ("ola.routed", "ola.response_met", "ola.resolution_met", "ola.time_to_resolve_s")


def write_csv(w: Any, report: MonthlyReport) -> None:
    """The OLA section of the CSV report: its title, each figure's definition, then a row per group (rates 0..1,
    times in seconds), in the report's language; every cell through the report's ``csv_safe`` writer."""
    t = report.t
    w.writerow([])
    w.writerow([t.gettext("Support groups' own targets (OLA)")])
    for key in OLA_KEYS:
        w.writerow([key, report.definition(key)])
    w.writerow([t.gettext(h) for h in (N_("Support group"), N_("Routed"), N_("Response met"), N_("Resolution met"),
                                       N_("Resolved"), N_("Time to resolve, mean (seconds)"),
                                       N_("Time to resolve, 90th percentile (seconds)"))])  # fmt: skip
    for g in report.ola.groups:
        cells = [g.name, g.routed, g.response_rate, g.resolution_rate, g.resolved, g.time_to_resolve.mean,
                 g.time_to_resolve.p90]  # fmt: skip
        w.writerow(["" if c is None else round(c, 4) if isinstance(c, float) else c for c in cells])
