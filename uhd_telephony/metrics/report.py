"""The monthly report of one tenant: the KPIs of ``kpi.py`` over a calendar month in Europe/Berlin.

``build()`` counts with ``metrics.aggregates`` (SQL aggregates proven equal to kpi.py) and returns a
``MonthlyReport``; ``to_json``, ``to_csv`` and ``to_html`` write it, ``produce()`` does both for the API. The HTML
is one self-contained file (inline CSS, charts as inline SVG, ``metrics.report_html``) a manager forwards as it is,
with the definitions below printed in it. ``to_html`` is a coroutine: the page is written in an executor, never
on the event loop.

Calls count in the month they ENTERED a queue (a call entering 30.11. 23:59:50 and ending 1.12. is November's),
tickets in the month they were created, with what happened to them up to ``generated_at``. Business hours are the
tenant's SLA calendar (``queries.tenant_calendar``; none: around the clock): calls outside them are reported apart
and in no ratio (``kpi``'s module docstring).

The KPIs are counted by the tenant's contract in force in the month (``tenants.contract``: a contract changes on the
1st, so a month has one set of rules; a month before a change keeps its rules when it is reported again). The report
prints them in words next to the business hours (``kpi_rules``: HTML, JSON, CSV), and the definitions of the figures
they change (short abandons, abandoned calls, outside business hours, reachability, service level, abandon rate)
are written for them (``MonthlyReport.definition``).
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select

from uhd_telephony import csv_safe
from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import (
    DEFAULT_LOCALE,
    N_,
    Translator,
    check_locale,
    format_date,
    format_datetime,
    gettext,
    priority_label,
    translator,
)
from uhd_telephony.i18n import label as i18n_label
from uhd_telephony.i18n.format import month_name, weekday_names
from uhd_telephony.incidents import figures as incident_figures
from uhd_telephony.incidents.figures import IncidentFigures
from uhd_telephony.metrics import aggregates, kpi, queries, report_sections
from uhd_telephony.metrics.articles import ArticleFigures, article_figures
from uhd_telephony.metrics.ola import OlaFigures, ola_figures
from uhd_telephony.metrics.ola import write_csv as ola_csv
from uhd_telephony.metrics.reachback import ReachSection, reach_figures
from uhd_telephony.metrics.reachback import definition as reach_definition
from uhd_telephony.metrics.reachback import write_csv as reachback_csv
from uhd_telephony.metrics.recurring import PARAMS as RECURRING_PARAMS
from uhd_telephony.metrics.recurring import RecurringProblems, recurring_problems
from uhd_telephony.metrics.satisfaction import PARAMS as SATISFACTION_PARAMS
from uhd_telephony.metrics.satisfaction import Satisfaction, satisfaction_figures
from uhd_telephony.sla.calendar import Calendar, describe_in
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.contract import CALLBACK_WINDOW_S, rules_in_force, seconds_text
from uhd_telephony.tenants.contract import describe as describe_rules
from uhd_telephony.tickets.models import Category

FORMATS = ("json", "csv", "html")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

# The one table of what each figure means: key -> (label, unit, definition), label and definition as msgids of the
# catalog (uhd_telephony/i18n: German in the report by default, English for an English account); units are codes
# ("calls", "tickets", "ratio", "s") said in words by ``unit_label``. The definitions restate kpi.py's docstring.
DEFINITIONS: dict[str, tuple[str, str, str]] = {
    "calls_offered": (
        N_("Calls offered"),
        "calls",
        N_(
            "Calls that entered a hotline queue during business hours in the month (time of entry, "
            "Europe/Berlin; business hours by the SLA's business calendar with public holidays). Every stay "
            "in a queue counts; a transfer into a second queue counts there again (see “Transferred calls "
            "(internal)”)."
        ),
    ),
    "calls_answered": (
        N_("Calls answered"),
        "calls",
        N_("Answered by an agent (also when transferred on later)."),
    ),
    "calls_abandoned": (
        N_("Abandoned"),
        "calls",
        N_("The caller hung up in the queue, after the short-abandon threshold."),
    ),
    "short_abandons": (
        N_("Short abandons"),
        "calls",
        N_("The caller hung up before the short-abandon threshold (misdial); in no ratio."),
    ),
    "calls_timed_out": (
        N_("Timed out / overflow"),
        "calls",
        N_("The maximum wait was reached or the queue had no agent available: to the overflow (callback)."),
    ),
    "calls_outside_hours": (
        N_("Calls outside business hours"),
        "calls",
        N_(
            "Calls that entered a queue outside business hours, and calls the telephone system took as "
            "closed; counted apart, not offered, in no ratio and no reaction time."
        ),
    ),
    "calls_closed": (
        N_("of which with the hotline closed"),
        "calls",
        N_("Taken by the telephone system outside business hours (announcement, never in a queue)."),
    ),
    "calls_answered_outside_hours": (
        N_("of which answered outside business hours"),
        "calls",
        N_("Entered a queue outside business hours and answered by an agent."),
    ),
    "calls_left_at_announcement": (
        N_("Calls ended at a major incident's announcement"),
        "calls",
        N_(
            "The caller heard the announcement of a major incident before the queue and hung up without entering "
            "it; not offered, in no ratio and no reaction time."
        ),
    ),
    "calls_subscribed_at_announcement": (
        N_("of which asked to be told when it is solved"),
        "calls",
        N_("Pressed the key during the announcement: told by mail or called back when the incident is resolved."),
    ),
    "transfers_in": (
        N_("Transferred calls (internal)"),
        "calls",
        N_("Stays that came from a transfer out of another queue (same conversation ID); included in “Calls offered”."),
    ),
    "reachability": (
        N_("Reachability"),
        "ratio",
        N_("Answered ÷ (offered - short abandons), during business hours."),
    ),
    "service_level": (
        N_("Service level"),
        "ratio",
        N_("Answered within T seconds (wait ≤ T) ÷ (offered - short abandons)."),
    ),
    "abandon_rate": (
        N_("Abandon rate"),
        "ratio",
        N_("Abandoned (without short abandons) ÷ (offered - short abandons)."),
    ),
    "reaction_time_mean_s": (
        N_("Call reaction time, mean"),
        "s",
        N_("Wait from entering the queue to the answer, over the answered calls of business hours."),
    ),
    "reaction_time_median_s": (
        N_("Call reaction time, median"),
        "s",
        N_("Median of the wait (50th percentile, nearest rank: a value actually measured)."),
    ),
    "reaction_time_p90_s": (
        N_("Call reaction time, 90th percentile"),
        "s",
        N_("90 % of the answered callers waited at most this long (nearest rank)."),
    ),
    "talk_time_mean_s": (
        N_("Talk time, mean"),
        "s",
        N_("From the answer to the end of the call (when transferred: to the transfer)."),
    ),
    "tickets_created": (
        N_("Incident tickets created"),
        "tickets",
        N_("Tickets created in the month, by top-level category, priority and channel."),
    ),
    "tickets_escalated": (
        N_("Forwarded (escalated) tickets"),
        "tickets",
        N_(
            "Tickets of the month forwarded beyond 1st level (2nd/3rd level, partners), per top-level "
            "category. SLA escalations (messages to the named managers when a breach is foreseeable or has "
            "happened) forward nothing and have a column of their own."
        ),
    ),
    "escalation_time_mean_s": (
        N_("Escalation time, mean"),
        "s",
        N_("Time from the ticket's creation to its first forwarding beyond 1st level."),
    ),
    "escalation_time_p90_s": (
        N_("Escalation time, 90th percentile"),
        "s",
        N_("90th percentile of the same time (nearest rank)."),
    ),
    "first_contact_resolution": (
        N_("First-contact resolution (1st level)"),
        "ratio",
        N_(
            "Tickets of the month resolved or closed and never routed beyond 1st level ÷ tickets created (as "
            "of the report's time)."
        ),
    ),
    # Sofort-Support: the solution articles agents used on the month's tickets (metrics.articles)
    "article_tickets": (
        N_("Tickets with a solution article"),
        "tickets",
        N_(
            "Tickets of the month on which an agent recorded a solution article (Sofort-Support), solved with it "
            "or not."
        ),
    ),
    "article_tickets_solved": (
        N_("Solved with a solution article"),
        "tickets",
        N_("Of those, the tickets an agent marked “solved with this article”."),
    ),
    "article_first_contact": (
        N_("Solved with an article at first contact"),
        "tickets",
        N_(
            "Of those, the tickets resolved or closed (as of the report's time), never routed beyond 1st level and "
            "never reopened."
        ),
    ),
    "article_first_contact_resolution": (
        N_("First-contact resolution with solution articles"),
        "ratio",
        N_("Solved with an article at first contact ÷ tickets with a solution article; per article the same."),
    ),
    "sla_compliance_response": (
        N_("SLA compliance, response time"),
        "ratio",
        N_(
            "Tickets of the month under an SLA without a breach of the response time ÷ tickets under an SLA "
            "(open tickets without a breach count as met, as of the report's time)."
        ),
    ),
    "sla_compliance_resolution": (
        N_("SLA compliance, resolution time"),
        "ratio",
        N_("As above, for the resolution time."),
    ),
    # the support groups' own targets (OLAs, metrics.ola): a row per group in a section of its own
    "ola.routed": (
        N_("Routed to the group"),
        "tickets",
        N_(
            "Routings of the month (Europe/Berlin) to a support group with its own targets (OLA) for the ticket's "
            "priority; a ticket routed to the group twice counts twice. The group's clock runs from the routing in "
            "its business hours and stands still while the ticket waits on the caller."
        ),
    ),
    "ola.response_met": (
        N_("OLA response met"),
        "ratio",
        N_(
            "Routings the group responded to within its response target (its first comment, status change or "
            "assignment after the routing; for a partner, by its own accounts) ÷ those decided: responded in time, "
            "or the clock reached the target first. A routing still short of its target, or routed away before it, "
            "counts in neither (as of the report's time)."
        ),
    ),
    "ola.resolution_met": (
        N_("OLA resolution met"),
        "ratio",
        N_("As above, for the resolution target: resolved (or closed) while the ticket was with the group."),
    ),
    "ola.time_to_resolve_s": (
        N_("Time to resolve (OLA)"),
        "s",
        N_(
            "Business time of the group's calendar from the routing to the resolution, over the routings the group "
            "resolved: mean and 90th percentile (nearest rank)."
        ),
    ),
    # the callers' ratings (metrics.satisfaction) and recurring problems (metrics.recurring): sections of their
    # own, their definitions with parameters (DEFINITION_PARAMS)
    "satisfaction": (
        N_("Customer satisfaction"),
        "ratings",
        N_(
            "Ratings the callers gave in the month (Europe/Berlin) with the links of the closure mail: one per "
            "ticket, from 1 (not at all satisfied) to 5 (very satisfied); their mean and how many gave each score, "
            "overall and per top-level category (the ticket's category when it was rated). A ticket can be rated "
            "up to %(rating_days)s days after it was closed: a rating counts in the month it was given, also for a "
            "ticket of the month before."
        ),
    ),
    "satisfaction.response_rate": (
        N_("Response rate"),
        "ratio",
        N_(
            "Ratings given in the month ÷ tickets resolved in the month (resolved then and not reopened since); per "
            "category by the category of the rating and of the resolved tickets."
        ),
    ),
    "recurring_problems.rising_categories": (
        N_("Rising categories"),
        "tickets",
        N_(
            "Top-level categories with more tickets created in the month than in the month before, listed when the "
            "month has at least %(min_tickets)s of them (so one ticket after none is no “+100 %%”); ordered by the "
            "rise in tickets, then in per cent. “new”: none the month before."
        ),
    ),
    "recurring_problems.repeat_callers": (
        N_("Callers with repeated tickets"),
        "tickets",
        N_(
            "Callers with %(repeat)s or more tickets of one top-level category within %(days)s days (tickets "
            "exactly %(days)s days apart included), in a window that ends in the month; with the tickets of those "
            "windows. The caller is the directory's user (name and department), else the shared phone's place, "
            "else the calling number, shown masked."
        ),
    ),
    "recurring_problems.bursts": (
        N_("Bursts"),
        "tickets",
        N_(
            "Tickets of one top-level category piling up: %(burst)s or more created within %(minutes)s minutes "
            "(exactly %(minutes)s minutes apart included), a window sliding over the month's tickets; overlapping "
            "windows are one burst, from its first ticket to its last (Europe/Berlin), with the tickets in between."
        ),
    ),
    # major incidents (incidents.figures): the month's totals; each incident in a table of its own
    "major_incidents_count": (
        N_("Major incidents"),
        "incidents",
        N_(
            "Major incidents (Großstörungen) declared for the tenant that were going on in the month: known before "
            "its end and not resolved before its start. Each one's times (known, declared, users informed, resolved: "
            "what NIS2 reporting asks for) are in the table of major incidents."
        ),
    ),
    "major_incidents_duration_s": (
        N_("Major incidents, total duration"),
        "s",
        N_("From when each became known to its resolution, summed over those of the month that are resolved."),
    ),
    "major_incidents_calls": (
        N_("Calls during major incidents"),
        "calls",
        N_(
            "Conversations of the tenant (a transferred call counts once) that came in between an incident's "
            "declaration and its resolution (or the month's end), within the month; summed over the incidents."
        ),
    ),
    "major_incidents_callers_left": (
        N_("Callers who left at the announcement"),
        "calls",
        N_(
            "Of those, the calls that ended at the incident's announcement before the queue: the caller pressed the "
            "key to be told when it is over, or hung up during it. They are no offered, answered or abandoned calls."
        ),
    ),
    "major_incidents_linked_tickets": (
        N_("Tickets linked to major incidents"),
        "tickets",
        N_("Tickets linked to the month's incidents (callers who reported them): resolved and told with them."),
    ),
}
# the parameters a definition's placeholders name (the rules' constants: the text always says the rule in force)
DEFINITION_PARAMS: dict[str, Mapping[str, Any]] = {
    "satisfaction": SATISFACTION_PARAMS,
    **dict.fromkeys(
        ("recurring_problems.rising_categories", "recurring_problems.repeat_callers", "recurring_problems.bursts"),
        RECURRING_PARAMS,
    ),
}
UNITS: dict[str, str] = {
    "calls": N_("calls"),
    "incidents": N_("incidents"),
    "ratings": N_("ratings"),
    "tickets": N_("tickets"),
    "ratio": N_("ratio (0..1)"),
    "s": N_("seconds"),
}
IN_UNIT = N_("%(figure)s (%(unit)s)")  # a figure's name with its unit, where the value is a bare number
GRID_DEFINITION = N_(
    "Calls by weekday and hour of entry (Europe/Berlin); calls offered (business hours), those outside business "
    "hours apart."
)
AROUND_THE_CLOCK = N_("around the clock (no business calendar configured)")
ALWAYS_OPEN = N_("around the clock (the stored business calendar is open 24/7)")
NO_SLA_PACKAGE = N_("No SLA data in this installation: SLA compliance not shown.")
NO_SLA_TICKET = N_("No ticket of the month is measured by an SLA: SLA compliance not shown.")


def month_period(month: str) -> tuple[datetime, datetime]:
    """``[first local midnight, next month's local midnight)`` of ``YYYY-MM`` in Europe/Berlin."""
    found = _MONTH.match(month)
    if found is None:
        raise InvalidInput("month must be YYYY-MM (2026-11)", {"month": month[:20]})
    year, number = int(found.group(1)), int(found.group(2))
    if not 2000 <= year <= 2999:
        raise InvalidInput("month must be YYYY-MM (2026-11)", {"month": month})
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return datetime.combine(first, time(0), kpi.TIMEZONE), datetime.combine(following, time(0), kpi.TIMEZONE)


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    tenant: str
    tenant_name: str
    month: str
    start: datetime
    end: datetime
    generated_at: datetime
    calls: kpi.CallKpis
    tickets: kpi.TicketKpis
    first_contact: kpi.FirstContactResolution
    sla: dict[str, Any] | None  # metrics.sla.SlaKpis.to_dict(); None when this installation has no SLA data
    sla_note: str
    business_hours: str  # the calendar that decided "outside business hours", in one line (in ``locale``)
    locale: str = DEFAULT_LOCALE  # the language of its texts: German unless an English account asked
    # the top-level categories' titles by code (the counts are by code); "none": not classified
    category_names: dict[str, str] = field(default_factory=dict)
    # first-contact resolution per solution article (metrics.articles)
    articles: ArticleFigures = field(default_factory=ArticleFigures)
    # the callers' ratings (metrics.satisfaction) and the recurring problems (metrics.recurring)
    satisfaction: Satisfaction = field(default_factory=Satisfaction)
    recurring: RecurringProblems = field(default_factory=RecurringProblems)
    # the month's major incidents with their calls (incidents.figures)
    major_incidents: list[IncidentFigures] = field(default_factory=list)
    # the support groups' own targets, a row per group (metrics.ola)
    ola: OlaFigures = field(default_factory=OlaFigures)
    # callers reached back after a lost call (metrics.reachback), and the window of the contract in force
    reached_back: ReachSection = field(default_factory=ReachSection)
    reach_window_s: float = CALLBACK_WINDOW_S

    @property
    def t(self) -> Translator:
        return translator(self.locale)

    def category(self, code: str) -> str:
        """A top-level category's title (the code when the tree has it no longer)."""
        if code == "none":
            return self.t.gettext("not classified")
        return self.category_names.get(code) or code

    @property
    def rules(self) -> kpi.KpiRules:
        """The contract's rules the month was counted by (a month has one set: contracts change on the 1st)."""
        return self.calls.rules[-1] if self.calls.rules else kpi.DEFAULT_RULES

    def rules_text(self) -> str:
        """The contract's rules in words, in the report's language."""
        return describe_rules(self.rules, self.locale)

    def definition(self, key: str) -> str:
        """The definition of ``key`` in the report's language, its parameters filled in (the contract's rules for
        the figures they change)."""
        if key in CONTRACT_DEFINITIONS:
            return contract_definition(key, self.rules, self.locale)
        return definition(key, self.locale)

    def reach_definition(self) -> str:
        """The definition of the callers reached back, with the contract's window in words."""
        return reach_definition(self.reach_window_s, self.locale)

    def weekdays(self) -> tuple[str, ...]:
        return weekday_names(self.locale)

    def month_name(self) -> str:
        year, month = self.month.split("-")
        return f"{month_name(int(month), self.locale)} {year}"

    def figures(self) -> dict[str, Any]:
        """The flat figures, keyed as in ``DEFINITIONS`` (ratios 0..1, durations in seconds, None: no base)."""
        c, t = self.calls, self.tickets
        compliance = (self.sla or {}).get("compliance", {})
        return {
            "calls_offered": c.offered,
            "calls_answered": c.answered,
            "calls_abandoned": c.abandoned,
            "short_abandons": c.short_abandons,
            "calls_timed_out": c.timed_out,
            "calls_outside_hours": c.outside_hours,
            "calls_closed": c.closed,
            "calls_answered_outside_hours": c.answered_outside_hours,
            "calls_left_at_announcement": c.left_at_announcement,
            "calls_subscribed_at_announcement": c.subscribed_at_announcement,
            "transfers_in": c.transfers_in,
            "reachability": c.reachability,
            "service_level": c.service_level,
            "abandon_rate": c.abandon_rate,
            "reaction_time_mean_s": c.reaction_time.mean,
            "reaction_time_median_s": c.reaction_time.median,
            "reaction_time_p90_s": c.reaction_time.p90,
            "talk_time_mean_s": c.talk_time.mean,
            "tickets_created": t.created,
            "tickets_escalated": t.forwarded,
            "escalation_time_mean_s": t.escalation_time.mean,
            "escalation_time_p90_s": t.escalation_time.p90,
            "first_contact_resolution": self.first_contact.rate,
            "article_tickets": self.articles.total.used,
            "article_tickets_solved": self.articles.total.solved,
            "article_first_contact": self.articles.total.first_contact,
            "article_first_contact_resolution": self.articles.total.rate,
            "sla_compliance_response": compliance.get("response"),
            "sla_compliance_resolution": compliance.get("resolution"),
            **self.major_incident_totals(),
        }

    def major_incident_table(self) -> tuple[list[str], list[list[Any]]]:
        """The table of the month's major incidents (CSV and HTML): headers and rows in the report's language."""
        return incident_figures.table(self.major_incidents, self.locale)

    def major_incident_totals(self) -> dict[str, Any]:
        """The month's major incidents in total, keyed as in ``DEFINITIONS``."""
        totals = incident_figures.totals(self.major_incidents)
        return {
            "major_incidents_count": totals["incidents"],
            "major_incidents_duration_s": totals["duration_s"],
            "major_incidents_calls": totals["calls"],
            "major_incidents_callers_left": totals["callers_left"],
            "major_incidents_linked_tickets": totals["linked_tickets"],
        }


async def _tenant_name(db: Database, tenant: str) -> str:
    from uhd_telephony.tenants.models import Tenant

    async with db.engine.connect() as conn:
        name = (await conn.execute(select(Tenant.name).where(Tenant.tenant == tenant))).scalar_one_or_none()
    return name or tenant


async def _sla(db: Database, tenant: str, start: datetime, end: datetime) -> tuple[dict[str, Any] | None, str]:
    try:
        from uhd_telephony.metrics import sla
    except ImportError:  # pragma: no cover - an installation without the SLA package
        return None, NO_SLA_PACKAGE
    counted = await sla.sla_aggregates(db, tenant, start, end)  # = sla.sla_kpis(*sla.sla_facts(...)), in SQL
    if not counted.measured:
        return None, NO_SLA_TICKET
    return counted.to_dict(), ""


async def _top_categories(db: Database, tenant: str) -> dict[str, str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(Category.code, Category.name).where(Category.tenant == tenant, Category.parent_id.is_(None))
        )
        return {row.code: row.name for row in rows}


async def build(
    db: Database,
    tenant: str,
    month: str,
    *,
    now: datetime | None = None,
    service_level_s: float | None = None,
    locale: str | None = None,
) -> MonthlyReport:
    """The tenant's report for ``month`` (``YYYY-MM``), from the stored calls and tickets; its texts in ``locale``
    (German by default)."""
    locale = check_locale(locale)
    start, end = month_period(month)
    at = now or datetime.now(UTC)
    calendar = await queries.tenant_calendar(db, tenant)
    # independent reads: on PostgreSQL they run side by side (aggregates.run_all), on SQLite one after another
    calls, tickets, (sla_dict, note), name, top, (used, rated, recurring, incidents, olas) = await asyncio.gather(
        aggregates.call_kpis(db, tenant, start, end, service_level_s=service_level_s, calendar=calendar),
        aggregates.ticket_kpis(db, tenant, start, end),
        _sla(db, tenant, start, end),
        _tenant_name(db, tenant),
        _top_categories(db, tenant),
        # the report's later sections, side by side too (asyncio.gather is typed for six at most)
        asyncio.gather(
            article_figures(db, tenant, start, end),
            satisfaction_figures(db, tenant, start, end),
            recurring_problems(db, tenant, start, end),
            incident_figures.period_figures(db, tenant, start, end),
            ola_figures(db, tenant, start, end, at),
        ),
    )
    reached, window = await asyncio.gather(reach_figures(db, tenant, start, end), _reach_window(db, tenant, start))
    return MonthlyReport(
        tenant=tenant,
        tenant_name=name,
        month=month,
        start=start,
        end=end,
        generated_at=at.astimezone(kpi.TIMEZONE),
        calls=calls,
        tickets=tickets.kpis,
        first_contact=tickets.first_contact,
        sla=sla_dict,
        sla_note=gettext(locale, note) if note else "",
        business_hours=business_hours(calendar, start, end, locale),
        locale=locale,
        category_names=top,
        articles=used,
        satisfaction=rated,
        recurring=recurring,
        major_incidents=incidents,
        ola=olas,
        reached_back=reached,
        reach_window_s=window,
    )


async def _reach_window(db: Database, tenant: str, start: datetime) -> float:
    """The window of the contract in force in the month (a month has one: contracts change on the 1st)."""
    return (await rules_in_force(db, tenant, start.astimezone(kpi.TIMEZONE).date())).callback_window_s


def business_hours(calendar: Calendar | None, start: datetime, end: datetime, locale: str | None = None) -> str:
    """The business hours the report counted by, in one line in ``locale`` (with the month's extra closed days)."""
    if calendar is None:
        return gettext(locale, AROUND_THE_CLOCK)
    if calendar.always:  # a 24/7 calendar is stored: say so, not that there is none
        return gettext(locale, ALWAYS_OPEN)
    text = describe_in(calendar, locale)
    first, last = start.astimezone(calendar.zone).date(), end.astimezone(calendar.zone).date()
    closed = sorted(d for d in calendar.closed_days if first <= d < last)
    if closed:
        days = ", ".join(format_date(d, locale) for d in closed)
        text = gettext(locale, "%(hours)s, closed on %(days)s", hours=text, days=days)
    return text


# ---------------------------------------------------------------------------------------------------- writers
def to_json(report: MonthlyReport) -> dict[str, Any]:
    """The JSON report: the flat figures, then the full ``CallKpis``/``TicketKpis`` shapes of the KPI API."""
    t = report.tickets
    return {
        "tenant": report.tenant,
        "tenant_name": report.tenant_name,
        "month": report.month,
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "timezone": str(kpi.TIMEZONE),
        "generated_at": report.generated_at.isoformat(),
        "service_level_s": report.calls.service_level_s,
        "business_hours": report.business_hours,
        "kpi_rules": report.rules.to_dict(),
        "kpi_rules_text": report.rules_text(),
        **report.figures(),
        "tickets_by_category": t.by_category,
        "tickets_by_priority": t.by_priority,
        "tickets_by_channel": t.by_channel,
        "tickets_escalated_by_category": t.forwarded_by_category,
        "tickets_routed_by_category": t.routed_by_category,
        "calls": report.calls.to_dict(),
        "tickets": t.to_dict(),
        "first_contact": report.first_contact.to_dict(),
        "articles": report.articles.to_dict(),
        "satisfaction": report.satisfaction.to_dict(),
        "recurring_problems": report.recurring.to_dict(),
        "major_incidents": incident_figures.section(report.major_incidents),
        "olas": report.ola.to_dict(),
        "reached_back": {**report.reached_back.to_dict(), "window_s": report.reach_window_s},
        "sla": report.sla,
        "sla_note": report.sla_note or None,
        "locale": report.locale,
        "definitions": {key: report.definition(key) for key in DEFINITIONS},
    }


def to_csv(report: MonthlyReport) -> str:
    """One KPI per row (key, label, value, unit, definition), then the weekday x hour tables: headers, labels,
    units and texts in the report's language (German by default); the first column keeps the figure's key (what a
    program reads), values stay numbers (ratios 0..1, seconds: the figure's name says "(Sekunden)").

    Through ``csv_safe``: a text cell starting like a formula (a tenant named ``=cmd|…``) gets a ``'`` in front;
    figures are written from their numeric types and stay numbers (a negative one too)."""
    tr = report.t
    period = tr.gettext(
        "%(start)s 00:00 to %(end)s 00:00, Europe/Berlin",
        start=format_date(report.start, report.locale),
        end=format_date(report.end, report.locale),
    )
    out = io.StringIO()
    w = csv_safe.writer(out, lineterminator="\r\n")  # no cell a spreadsheet runs (names, titles)
    w.writerow([tr.gettext("Tenant"), report.tenant_name, report.tenant])
    w.writerow([tr.gettext("Month"), report.month_name(), period])
    w.writerow([tr.gettext("Created"), format_datetime(report.generated_at, report.locale)])
    w.writerow([tr.gettext("Business hours"), report.business_hours])
    w.writerow([tr.gettext("KPI rules"), report.rules_text()])
    w.writerow([])
    w.writerow([tr.gettext(h) for h in (N_("Key"), N_("Figure"), N_("Value"), N_("Unit"), N_("Definition"))])
    for key, value in report.figures().items():
        label, unit, text = DEFINITIONS[key]
        shown = "" if value is None else value
        name, unit_text = tr.gettext(label), unit_label(unit, report.locale)
        if unit == "s":  # a number of seconds: its name says so, "Anruf-Reaktionszeit, Mittelwert (Sekunden)"
            name = tr.gettext(IN_UNIT, figure=name, unit=unit_text)
        w.writerow([key, name, shown, unit_text, report.definition(key) if text else ""])
    t = report.tickets
    tickets_unit = unit_label("tickets", report.locale)
    for name, counts, what in (
        ("tickets_by_category", t.by_category, N_("Tickets created: %(what)s")),
        ("tickets_by_priority", t.by_priority, N_("Tickets created, priority %(what)s")),
        ("tickets_by_channel", t.by_channel, N_("Tickets created via %(what)s")),
        ("tickets_escalated_by_category", t.forwarded_by_category, N_("Tickets forwarded: %(what)s")),
    ):
        for key, n in counts.items():
            w.writerow([f"{name}.{key}", tr.gettext(what, what=_breakdown(report, name, key)), n, tickets_unit, ""])
    if report.sla_note:
        w.writerow(["sla_compliance", tr.gettext("SLA compliance"), "", "", report.sla_note])
    for title, grid in (
        (N_("Calls offered by weekday and hour"), report.calls.offered_by_weekday_hour),
        (N_("Calls outside business hours by weekday and hour"), report.calls.outside_hours_by_weekday_hour),
    ):
        w.writerow([])
        w.writerow([tr.gettext(title), *range(24)])
        for day, row in zip(report.weekdays(), grid, strict=True):
            w.writerow([day, *row])
    report_sections.write_csv(w, report)  # customer satisfaction, recurring problems
    ola_csv(w, report)  # the support groups' own targets
    reachback_csv(w, report)  # callers reached back after a lost call
    if report.major_incidents:  # each incident of the month, its times in words
        headers, rows = report.major_incident_table()
        w.writerow([])
        w.writerow([tr.gettext("Major incidents")])
        w.writerows([headers, *rows])
    return out.getvalue()


# the figures whose definition the contract's rules change (``contract_definition``)
CONTRACT_DEFINITIONS = frozenset(
    {"short_abandons", "calls_abandoned", "calls_outside_hours", "reachability", "service_level", "abandon_rate"}
)


def base_words(rules: kpi.KpiRules, locale: str | None, *, service_level: bool = False) -> str:
    """The base of a ratio under ``rules`` in words: "(offered - short abandons)", "offered", …"""
    drop_short = not rules.short_abandons_in_base
    drop_abandoned = service_level and not rules.abandons_in_service_level
    if drop_short and drop_abandoned:
        return gettext(locale, "(offered - short abandons - abandoned)")
    if drop_short:
        return gettext(locale, "(offered - short abandons)")
    if drop_abandoned:
        return gettext(locale, "(offered - abandoned)")
    return gettext(locale, "offered")


def _counting(rules: kpi.KpiRules) -> tuple[Any, ...]:
    """What of the rules the call figures' definitions say (not the queues: the rules' line names them)."""
    return (
        rules.service_level_s,
        rules.short_abandon_s,
        rules.abandons_in_service_level,
        rules.short_abandons_in_base,
        rules.outside_hours_count,
    )


def contract_definition(key: str, rules: kpi.KpiRules, locale: str | None) -> str:
    """The definition of a figure the contract's rules change (``CONTRACT_DEFINITIONS``), under ``rules`` (the
    standard definition where they are the standard ones)."""
    if _counting(rules) == _counting(kpi.DEFAULT_RULES):
        return definition(key, locale)
    short = seconds_text(rules.short_abandon_s, locale)
    if key == "short_abandons":
        if rules.short_abandons_in_base:
            text = N_("The caller hung up after waiting less than %(t)s (misdial); in the base as not answered.")
        else:
            text = N_("The caller hung up after waiting less than %(t)s (misdial); in no ratio.")
        return gettext(locale, text, t=short)
    if key == "calls_abandoned":
        return gettext(locale, "The caller hung up in the queue after waiting %(t)s or more.", t=short)
    if key == "calls_outside_hours":
        if rules.outside_hours_count:
            return gettext(
                locale,
                "Calls the telephone system took as closed (never in a queue); by the contract, calls that queued "
                "outside business hours count as offered like any other.",
            )
        return definition(key, locale)
    if key == "reachability":
        return gettext(locale, "Answered ÷ %(base)s, during business hours.", base=base_words(rules, locale))
    if key == "service_level":
        return gettext(
            locale, "Answered within %(t)s (wait ≤ T) ÷ %(base)s.", t=seconds_text(rules.service_level_s, locale),
            base=base_words(rules, locale, service_level=True),
        )  # fmt: skip
    if key == "abandon_rate":
        return gettext(locale, "Abandoned (without short abandons) ÷ %(base)s.", base=base_words(rules, locale))
    return definition(key, locale)


def definition(key: str, locale: str | None) -> str:
    """``DEFINITIONS[key]``'s text in ``locale``, with the parameters its rule names (``DEFINITION_PARAMS``)."""
    return gettext(locale, DEFINITIONS[key][2], **DEFINITION_PARAMS.get(key, {}))


def unit_label(unit: str, locale: str | None) -> str:
    """A unit code of ``DEFINITIONS`` in words."""
    return gettext(locale, UNITS[unit]) if unit in UNITS else unit


def _breakdown(report: MonthlyReport, name: str, key: str) -> str:
    """A breakdown's key in words: a category's title, a priority, a channel."""
    if name == "tickets_by_priority":
        return priority_label(key, report.locale)
    if name == "tickets_by_channel":
        return i18n_label("channel", key, report.locale)
    return report.category(key)


async def to_html(report: MonthlyReport) -> str:
    """The self-contained HTML report; charts and template rendering in the default executor."""
    from uhd_telephony.metrics import report_html

    return await asyncio.get_running_loop().run_in_executor(None, report_html.render, report)


async def produce(
    db: Database,
    tenant: str,
    month: str,
    fmt: str,
    *,
    now: datetime | None = None,
    service_level_s: float | None = None,
    locale: str | None = None,
) -> tuple[MonthlyReport, str]:
    """The tenant's report for ``month`` and its text as ``fmt``: what the API serves (and the benchmark times)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", {"format": fmt[:20]})
    built = await build(db, tenant, month, now=now, service_level_s=service_level_s, locale=locale)
    return built, await render(built, fmt)


async def render(report: MonthlyReport, fmt: str) -> str:
    """The report as ``json``, ``csv`` or ``html`` text."""
    if fmt == "json":
        import json

        return json.dumps(to_json(report), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return await to_html(report)
    raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", {"format": fmt[:20]})
