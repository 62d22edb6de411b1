"""SQLAlchemy model of the KPI history: ``kpi_daily``, one row per (tenant, calendar day in Europe/Berlin).

The row holds what ``metrics.aggregates`` (kpi.py's definitions) computed for that day; ``metrics.daily``
writes it, the Grafana dashboard "Hotline history" reads it as it is and computes nothing. Column names are
kpi.py's field names. Mind one difference to the monthly report's keys: the report's ``tickets_escalated``
("weitergeleitete (eskalierte) Tickets") is ``tickets_forwarded`` here; ``tickets_escalated`` here counts the
tickets with an SLA ``escalated`` history entry only (``kpi.TicketKpis.escalated``).

Ratios are fractions 0..1 and durations seconds; both are NULL where kpi.py has no value (no base, no calls).

Below them, the partial indexes the monthly report's statements (``metrics.aggregates``) read on the calls'
and the tickets' tables: declared here, beside what they serve, and created by migration 0015 (the
resolved tickets' index by 0019).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import Outcome
from uhd_telephony.metrics.kpi import TICKET_ACTIONS
from uhd_telephony.store.models import Base, table_of
from uhd_telephony.tenant import TENANT_LENGTH
from uhd_telephony.tickets.models import Ticket, TicketHistory


class KpiDaily(Base):
    """One tenant's KPIs of one Berlin calendar day: calls that entered a queue that day, tickets created that
    day (with what happened to them up to ``computed_at``)."""

    __tablename__ = "kpi_daily"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    service_level_s: Mapped[float] = mapped_column(Float)  # the T of "answered within T"
    # calls (kpi.CallKpis)
    calls_offered: Mapped[int] = mapped_column(Integer)
    calls_answered: Mapped[int] = mapped_column(Integer)
    calls_answered_within_service_level: Mapped[int] = mapped_column(Integer)
    calls_abandoned: Mapped[int] = mapped_column(Integer)
    short_abandons: Mapped[int] = mapped_column(Integer)
    calls_timed_out: Mapped[int] = mapped_column(Integer)
    calls_outside_hours: Mapped[int] = mapped_column(Integer)  # outside business hours: apart, in no ratio
    calls_closed: Mapped[int] = mapped_column(Integer)  # of those, closed by the dialplan (never in a queue)
    transfers_in: Mapped[int] = mapped_column(Integer)
    calls_in_progress: Mapped[int] = mapped_column(Integer)  # not finished at computed_at: counted nowhere yet
    reachability: Mapped[float | None] = mapped_column(Float)
    service_level: Mapped[float | None] = mapped_column(Float)
    abandon_rate: Mapped[float | None] = mapped_column(Float)
    reaction_time_mean_s: Mapped[float | None] = mapped_column(Float)
    reaction_time_median_s: Mapped[float | None] = mapped_column(Float)
    reaction_time_p90_s: Mapped[float | None] = mapped_column(Float)
    talk_time_mean_s: Mapped[float | None] = mapped_column(Float)
    # tickets (kpi.TicketKpis, kpi.FirstContactResolution)
    tickets_created: Mapped[int] = mapped_column(Integer)
    tickets_routed: Mapped[int] = mapped_column(Integer)  # routed beyond 1st level
    tickets_escalated: Mapped[int] = mapped_column(Integer)  # an SLA escalation entry
    tickets_forwarded: Mapped[int] = mapped_column(Integer)  # = tickets_routed: the SPEC's "escalated (forwarded)"
    escalation_time_mean_s: Mapped[float | None] = mapped_column(Float)
    escalation_time_p90_s: Mapped[float | None] = mapped_column(Float)
    tickets_resolved_first_level: Mapped[int] = mapped_column(Integer)
    first_contact_resolution: Mapped[float | None] = mapped_column(Float)
    # when the figures were computed: an upsert never replaces a row with figures computed earlier
    computed_at: Mapped[datetime]


kpi_daily = table_of(KpiDaily)


_calls = table_of(Call)
_history = table_of(TicketHistory)
TRANSFERRED = text(f"outcome = '{Outcome.TRANSFERRED.value}'")
FORWARDING = text("action IN (" + ", ".join(f"'{a}'" for a in TICKET_ACTIONS) + ")")

# a period's transferred stays (a few percent of them), each transfer in's first transferred stay: read from the
# index alone (PostgreSQL: INCLUDE), not from a second scan of every stay
Index(
    "ix_calls_transferred",
    _calls.c.tenant,
    _calls.c.entered_at,
    postgresql_include=["linkedid", "id"],
    postgresql_where=TRANSFERRED,
    sqlite_where=TRANSFERRED,
)
# the history rows the ticket KPIs read (routed, escalated: one in ten), by ticket: a cohort's first routing and
# first escalation without reading every status, comment and creation row of its history
Index(
    "ix_ticket_history_forwarding",
    _history.c.ticket_id,
    postgresql_include=["action", "new_value", "at"],
    postgresql_where=FORWARDING,
    sqlite_where=FORWARDING,
)
# the tickets resolved in a period, by tenant (the base of the satisfaction's response rate, metrics.satisfaction):
# a range of the index, the category read from it too (PostgreSQL: INCLUDE), not every ticket the tenant ever
# closed; created by migration 0019
_tickets = table_of(Ticket)
RESOLVED = text("resolved_at IS NOT NULL")
Index(
    "ix_tickets_tenant_resolved_at",
    _tickets.c.tenant,
    _tickets.c.resolved_at,
    postgresql_include=["category_id"],
    postgresql_where=RESOLVED,
    sqlite_where=RESOLVED,
)
