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
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select

from uhd_telephony import csv_safe
from uhd_telephony.errors import InvalidInput
from uhd_telephony.metrics import aggregates, kpi, queries
from uhd_telephony.sla.calendar import Calendar, format_interval
from uhd_telephony.store.db import Database

FORMATS = ("json", "csv", "html")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

# The one table of what each figure means (German: the report goes to the customer's management as it is).
# key: (label, unit, definition). The definitions restate kpi.py's module docstring.
DEFINITIONS: dict[str, tuple[str, str, str]] = {
    "calls_offered": (
        "Angebotene Anrufe",
        "Anrufe",
        "Anrufe, die im Monat während der Servicezeit in eine Hotline-Warteschlange eingetreten sind (Zeitpunkt "
        "des Eintritts, Europe/Berlin; Servicezeit nach dem Geschäftszeiten-Kalender des SLA mit Feiertagen). "
        "Gezählt wird jeder Aufenthalt in einer Warteschlange; eine Weiterleitung in eine zweite Warteschlange "
        "zählt dort erneut (siehe „Weitergeleitete Anrufe (intern)“).",
    ),
    "calls_answered": ("Angenommene Anrufe", "Anrufe", "Von einem Agenten angenommen (auch später weiterverbunden)."),
    "calls_abandoned": (
        "Aufgelegt (Abbrüche)",
        "Anrufe",
        "Anrufer hat in der Warteschlange aufgelegt, nach der Kurzabbruch-Schwelle.",
    ),
    "short_abandons": (
        "Kurzabbrüche",
        "Anrufe",
        "Anrufer hat vor der Kurzabbruch-Schwelle aufgelegt (Fehlwahl); zählen in keiner Quote mit.",
    ),
    "calls_timed_out": (
        "Zeitüberschreitung / Überlauf",
        "Anrufe",
        "Maximale Wartezeit erreicht oder Warteschlange ohne verfügbare Agenten: in den Überlauf (Rückruf).",
    ),
    "calls_outside_hours": (
        "Anrufe außerhalb der Servicezeit",
        "Anrufe",
        "Anrufe, die außerhalb der Servicezeit in eine Warteschlange eingetreten sind, und Anrufe, die die "
        "Telefonanlage als geschlossen angenommen hat; gesondert gezählt, nicht angeboten, in keiner Quote und "
        "keiner Reaktionszeit.",
    ),
    "calls_closed": (
        "davon bei geschlossener Hotline",
        "Anrufe",
        "Von der Telefonanlage außerhalb der Geschäftszeiten angenommen (Ansage, nie in einer Warteschlange).",
    ),
    "calls_answered_outside_hours": (
        "davon außerhalb der Servicezeit angenommen",
        "Anrufe",
        "Außerhalb der Servicezeit in eine Warteschlange eingetreten und von einem Agenten angenommen.",
    ),
    "transfers_in": (
        "Weitergeleitete Anrufe (intern)",
        "Anrufe",
        "Aufenthalte, die durch Weiterverbinden aus einer anderen Warteschlange entstanden sind (gleiche "
        "Gesprächs-ID); in „Angebotene Anrufe“ enthalten.",
    ),
    "reachability": (
        "Erreichbarkeit",
        "Anteil",
        "Angenommene ÷ (angebotene - Kurzabbrüche), während der Servicezeit.",
    ),
    "service_level": (
        "Servicelevel",
        "Anteil",
        "Innerhalb von T Sekunden angenommene (Wartezeit ≤ T) ÷ (angebotene - Kurzabbrüche).",
    ),
    "abandon_rate": ("Abbruchquote", "Anteil", "Aufgelegte (ohne Kurzabbrüche) ÷ (angebotene - Kurzabbrüche)."),
    "reaction_time_mean_s": (
        "Anruf-Reaktionszeit, Mittelwert",
        "s",
        "Wartezeit vom Eintritt in die Warteschlange bis zur Annahme, über die angenommenen Anrufe der Servicezeit.",
    ),
    "reaction_time_median_s": (
        "Anruf-Reaktionszeit, Median",
        "s",
        "Median der Wartezeit (50. Perzentil, Rangmethode: ein tatsächlich gemessener Wert).",
    ),
    "reaction_time_p90_s": (
        "Anruf-Reaktionszeit, 90. Perzentil",
        "s",
        "90 % der angenommenen Anrufer haben höchstens so lange gewartet (Rangmethode).",
    ),
    "talk_time_mean_s": (
        "Gesprächsdauer, Mittelwert",
        "s",
        "Von der Annahme bis zum Ende des Gesprächs (bei Weiterverbinden: bis zur Weiterleitung).",
    ),
    "tickets_created": (
        "Erstellte Incident-Tickets",
        "Tickets",
        "Im Monat erstellte Tickets, nach Hauptkategorie, Priorität und Eingangskanal.",
    ),
    "tickets_escalated": (
        "Weitergeleitete (eskalierte) Tickets",
        "Tickets",
        "Tickets des Monats, die über den 1st Level hinaus weitergeleitet wurden (2nd/3rd Level, Partner), je "
        "Hauptkategorie. SLA-Eskalationen (Meldungen an die benannten Verantwortlichen, wenn eine Verletzung "
        "absehbar ist oder eingetreten) leiten nicht weiter und stehen in einer eigenen Spalte.",
    ),
    "escalation_time_mean_s": (
        "Eskalationszeit, Mittelwert",
        "s",
        "Zeit von der Ticketerstellung bis zur ersten Weiterleitung über den 1st Level.",
    ),
    "escalation_time_p90_s": ("Eskalationszeit, 90. Perzentil", "s", "90. Perzentil derselben Zeit (Rangmethode)."),
    "first_contact_resolution": (
        "Erstlösungsquote (1st Level)",
        "Anteil",
        "Tickets des Monats, die gelöst oder geschlossen sind und nie über den 1st Level hinaus geroutet "
        "wurden ÷ erstellte Tickets (Stand: Erstellungszeit des Berichts).",
    ),
    "sla_compliance_response": (
        "SLA-Einhaltung Reaktionszeit",
        "Anteil",
        "Tickets des Monats mit SLA ohne Verletzung der Reaktionszeit ÷ Tickets mit SLA (offene Tickets ohne "
        "Verletzung zählen als eingehalten, Stand: Erstellungszeit).",
    ),
    "sla_compliance_resolution": (
        "SLA-Einhaltung Lösungszeit",
        "Anteil",
        "Wie oben, für die Lösungszeit.",
    ),
}
GRID_DEFINITION = (
    "Anrufe nach Wochentag und Stunde des Eintritts (Europe/Berlin); angebotene Anrufe (Servicezeit), die "
    "außerhalb der Servicezeit gesondert."
)
AROUND_THE_CLOCK = "rund um die Uhr (kein Geschäftszeiten-Kalender hinterlegt)"


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
    business_hours: str  # the calendar that decided "outside business hours", in one line

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
            "sla_compliance_response": compliance.get("response"),
            "sla_compliance_resolution": compliance.get("resolution"),
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
        return None, "Keine SLA-Daten in dieser Installation: SLA-Einhaltung nicht ausgewiesen."
    measured, facts = await sla.sla_facts(db, tenant, start, end)
    if not measured:
        return None, "Kein Ticket des Monats wird nach einem SLA gemessen: SLA-Einhaltung nicht ausgewiesen."
    return sla.sla_kpis(measured, facts).to_dict(), ""


async def build(
    db: Database,
    tenant: str,
    month: str,
    *,
    now: datetime | None = None,
    service_level_s: float = kpi.SERVICE_LEVEL_S,
) -> MonthlyReport:
    """The tenant's report for ``month`` (``YYYY-MM``), from the stored calls and tickets."""
    start, end = month_period(month)
    calendar = await queries.tenant_calendar(db, tenant)
    # independent reads: on PostgreSQL they run side by side (aggregates.run_all), on SQLite one after another
    calls, tickets, (sla_dict, note), name = await asyncio.gather(
        aggregates.call_kpis(db, tenant, start, end, service_level_s=service_level_s, calendar=calendar),
        aggregates.ticket_kpis(db, tenant, start, end),
        _sla(db, tenant, start, end),
        _tenant_name(db, tenant),
    )
    return MonthlyReport(
        tenant=tenant,
        tenant_name=name,
        month=month,
        start=start,
        end=end,
        generated_at=(now or datetime.now(UTC)).astimezone(kpi.TIMEZONE),
        calls=calls,
        tickets=tickets.kpis,
        first_contact=tickets.first_contact,
        sla=sla_dict,
        sla_note=note,
        business_hours=business_hours(calendar, start, end),
    )


def business_hours(calendar: Calendar | None, start: datetime, end: datetime) -> str:
    """The business hours the report counted by, in one German line (with the month's extra closed days)."""
    if calendar is None or calendar.always:
        return AROUND_THE_CLOCK
    parts = [
        "; ".join(
            f"{day} {', '.join(format_interval(i) for i in intervals)}"
            for day, intervals in zip(WEEKDAYS, calendar.hours, strict=True)
            if intervals
        )
    ]
    if calendar.holiday_state:
        parts.append(f"ohne die Feiertage ({calendar.holiday_state})")
    first, last = start.astimezone(calendar.zone).date(), end.astimezone(calendar.zone).date()
    closed = sorted(d for d in calendar.closed_days if first <= d < last)
    if closed:
        parts.append("geschlossen am " + ", ".join(d.strftime("%d.%m.") for d in closed))
    if calendar.timezone != str(kpi.TIMEZONE):
        parts.append(f"Zeitzone {calendar.timezone}")
    return ", ".join(parts)


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
        **report.figures(),
        "tickets_by_category": t.by_category,
        "tickets_by_priority": t.by_priority,
        "tickets_by_channel": t.by_channel,
        "tickets_escalated_by_category": t.forwarded_by_category,
        "tickets_routed_by_category": t.routed_by_category,
        "calls": report.calls.to_dict(),
        "tickets": t.to_dict(),
        "first_contact": report.first_contact.to_dict(),
        "sla": report.sla,
        "sla_note": report.sla_note or None,
        "definitions": {key: text for key, (_, _, text) in DEFINITIONS.items()},
    }


def to_csv(report: MonthlyReport) -> str:
    """One KPI per row (key, label, value, unit, definition), then the weekday x hour tables.

    Through ``csv_safe``: a text cell starting like a formula (a tenant named ``=cmd|…``) gets a ``'`` in front;
    figures are written from their numeric types and stay numbers (a negative one too)."""
    out = io.StringIO()
    w = csv_safe.writer(out, lineterminator="\r\n")  # no cell a spreadsheet runs (names, titles)
    w.writerow(["tenant", report.tenant, report.tenant_name])
    w.writerow(["month", report.month, f"{report.start.isoformat()} .. {report.end.isoformat()}"])
    w.writerow(["generated_at", report.generated_at.isoformat()])
    w.writerow(["business_hours", report.business_hours])
    w.writerow([])
    w.writerow(["kpi", "label", "value", "unit", "definition"])
    for key, value in report.figures().items():
        label, unit, text = DEFINITIONS[key]
        w.writerow([key, label, "" if value is None else value, "fraction" if unit == "Anteil" else unit, text])
    t = report.tickets
    for name, counts in (
        ("tickets_by_category", t.by_category),
        ("tickets_by_priority", t.by_priority),
        ("tickets_by_channel", t.by_channel),
        ("tickets_escalated_by_category", t.forwarded_by_category),
    ):
        for key, n in counts.items():
            w.writerow([f"{name}.{key}", "", n, "Tickets", ""])
    if report.sla_note:
        w.writerow(["sla_compliance", "", "", "", report.sla_note])
    for title, grid in (
        ("calls_offered_by_weekday_hour", report.calls.offered_by_weekday_hour),
        ("calls_outside_hours_by_weekday_hour", report.calls.outside_hours_by_weekday_hour),
    ):
        w.writerow([])
        w.writerow([title, *range(24)])
        for day, row in zip(WEEKDAYS, grid, strict=True):
            w.writerow([day, *row])
    return out.getvalue()


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
    service_level_s: float = kpi.SERVICE_LEVEL_S,
) -> tuple[MonthlyReport, str]:
    """The tenant's report for ``month`` and its text as ``fmt``: what the API serves (and the benchmark times)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", {"format": fmt[:20]})
    built = await build(db, tenant, month, now=now, service_level_s=service_level_s)
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
