"""Major incidents in figures, for the monthly report and the KPI API (``metrics`` imports this): per incident of a
period its times, its duration, the calls during it, the callers who left at the announcement and the linked
tickets; and the period's totals.

- an incident belongs to a period when it was going on in it (known before the end, not resolved before the
  start: ``view.in_period``);
- its duration runs from known to resolved (an incident still open has none yet);
- the calls during it are the tenant's conversations (calls by their Linkedid: a transfer is the same caller)
  that entered between its declaration and its resolution — or the period's end, whichever comes first, and not
  before the period's start;
- of those, the callers who left at the announcement are the calls the tracker recorded with an outcome of the
  announcement (``calls.records.ANNOUNCEMENT_OUTCOMES``: pressed the key to be told, or hung up during it),
  counted by outcome; they are never offered, answered or abandoned calls of the service level (``metrics.kpi``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import ANNOUNCEMENT_OUTCOMES
from uhd_telephony.i18n import N_, format_datetime, format_duration, translator
from uhd_telephony.incidents.view import IncidentView, in_period
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import iso

calls = table_of(Call)
# the outcomes of calls that left at the announcement (incident_subscribed, incident_left)
LEFT = sorted(o.value for o in ANNOUNCEMENT_OUTCOMES)


@dataclass(frozen=True, slots=True)
class IncidentFigures:
    """One incident of the period in figures."""

    incident: IncidentView
    calls: int
    left: dict[str, int] = field(default_factory=dict)  # outcome -> calls that left at the announcement

    @property
    def callers_left(self) -> int:
        return sum(self.left.values())

    def to_dict(self) -> dict[str, Any]:
        v = self.incident
        return {
            "id": v.id,
            "title": v.title,
            "category": v.category,
            "category_label": v.category_label,
            "status": v.status,
            "known_at": iso(v.known_at),
            "declared_at": iso(v.declared_at),
            "communicated_at": iso(v.communicated_at),
            "resolved_at": iso(v.resolved_at),
            "duration_s": v.duration_s(),
            "calls": self.calls,
            "callers_left": self.callers_left,
            "left_by_outcome": dict(sorted(self.left.items())),
            "linked_tickets": v.tickets,
            "subscribers": v.subscribers,
        }


def section(figures: list[IncidentFigures]) -> dict[str, Any]:
    """The JSON of a period's incidents (the report's and the KPI API's ``major_incidents``)."""
    return {"incidents": [f.to_dict() for f in figures], "totals": totals(figures)}


def totals(figures: list[IncidentFigures]) -> dict[str, Any]:
    """The period's totals: incidents, their summed duration (resolved ones), calls, callers who left, tickets."""
    durations = [f.incident.duration_s() for f in figures if f.incident.resolved_at is not None]
    return {
        "incidents": len(figures),
        "duration_s": sum(d for d in durations if d is not None) if durations else None,
        "calls": sum(f.calls for f in figures),
        "callers_left": sum(f.callers_left for f in figures),
        "linked_tickets": sum(f.incident.tickets for f in figures),
    }


async def period_figures(db: Database, tenant: str, start: datetime, end: datetime) -> list[IncidentFigures]:
    """Every incident of the tenant going on in ``[start, end)`` with its calls (module docstring)."""
    async with db.engine.connect() as conn:
        found = await in_period(conn, tenant, start, end)
        out = []
        for view in found:
            first = max(view.declared_at, start)
            last = min(view.resolved_at or end, end)
            if last <= first:
                out.append(IncidentFigures(view, 0))
                continue
            during = (calls.c.tenant == tenant, calls.c.entered_at >= first, calls.c.entered_at < last)
            conversations = select(func.count(func.distinct(calls.c.linkedid))).where(*during)
            left = (
                select(calls.c.outcome, func.count())
                .where(*during, calls.c.outcome.in_(LEFT))
                .group_by(calls.c.outcome)
            )
            count = int((await conn.execute(conversations)).scalar_one())
            by_outcome = {str(r[0]): int(r[1]) for r in await conn.execute(left)}
            out.append(IncidentFigures(view, count, by_outcome))
    return out


# the report's table of incidents (CSV and HTML): header msgid, and the cell of an incident's figures
COLUMNS: tuple[tuple[str, Callable[[IncidentFigures, str], Any]], ...] = (
    (N_("Title"), lambda f, loc: f.incident.title),
    (N_("Category"), lambda f, loc: f.incident.category_label or ""),
    (N_("Became known"), lambda f, loc: format_datetime(f.incident.known_at, loc)),
    (N_("Declared"), lambda f, loc: format_datetime(f.incident.declared_at, loc)),
    (N_("Users informed"), lambda f, loc: format_datetime(f.incident.communicated_at, loc)),
    (N_("Resolved"), lambda f, loc: format_datetime(f.incident.resolved_at, loc)),
    (N_("Duration (known to resolved)"), lambda f, loc: format_duration(f.incident.duration_s(), loc)),
    (N_("Calls during the incident"), lambda f, loc: f.calls),
    (N_("Left at the announcement"), lambda f, loc: f.callers_left),
    (N_("Linked tickets"), lambda f, loc: f.incident.tickets),
)


def table(figures: list[IncidentFigures], locale: str) -> tuple[list[str], list[list[Any]]]:
    """The report's table of the period's incidents in ``locale``: headers and one row each (times in German
    local time and in words, counts as numbers)."""
    t = translator(locale)
    return [t.gettext(h) for h, _ in COLUMNS], [[cell(f, t.locale) for _, cell in COLUMNS] for f in figures]
