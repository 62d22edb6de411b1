"""A major incident as people and programs read it: one frozen value with its JSON shape and its NIS2 deadlines.

NIS2 (Art. 23) asks an essential entity — a hospital — for an early warning within 24 hours of becoming aware of a
significant incident, an incident notification within 72 hours and a final report one month after that
notification; the hospital asks its IT provider for the times behind them. The deadlines here count from
``known_at`` (when the helpdesk knew); the final report's from the latest notification (known + 72 h), one
calendar month later in German local time: a notification sent earlier brings it forward.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.accounts.models import Account
from uhd_telephony.i18n import LOCAL_TZ
from uhd_telephony.incidents.models import IncidentSubscription, IncidentTicket, MajorIncident
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import iso
from uhd_telephony.tickets.history_text import title_paths
from uhd_telephony.tickets.view import categories, tickets

incidents = table_of(MajorIncident)
links = table_of(IncidentTicket)
subscriptions = table_of(IncidentSubscription)
accounts = table_of(Account)

EARLY_WARNING = timedelta(hours=24)
NOTIFICATION = timedelta(hours=72)


def plus_month(moment: datetime) -> datetime:
    """The same wall time one calendar month later in German local time (31 January -> 28/29 February)."""
    local = moment.astimezone(LOCAL_TZ)
    year, month = local.year + local.month // 12, local.month % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The NIS2 reporting deadlines of an incident known at ``known_at`` (module docstring)."""

    early_warning: datetime
    notification: datetime
    final_report: datetime

    @classmethod
    def of(cls, known_at: datetime) -> Deadlines:
        notification = known_at + NOTIFICATION
        return cls(known_at + EARLY_WARNING, notification, plus_month(notification))

    def to_dict(self) -> dict[str, str | None]:
        return {
            "early_warning_due_at": iso(self.early_warning),
            "notification_due_at": iso(self.notification),
            "final_report_due_at": iso(self.final_report),
        }


@dataclass(frozen=True, slots=True)
class IncidentView:
    """One incident with the names and counts its readers need."""

    id: int
    tenant: str
    title: str
    caller_message: str
    category: str | None
    category_label: str | None  # the category's titles: "KIS › Anmeldung"
    status: str
    parent_ticket_id: int | None
    parent_number: str | None
    prompt: str | None
    known_at: datetime
    declared_at: datetime
    communicated_at: datetime | None
    resolved_at: datetime | None
    declared_by: int | None
    declared_by_name: str | None
    resolved_by: int | None
    resolved_by_name: str | None
    resolution: str | None
    tickets: int  # linked tickets (the parent is not one of them)
    tickets_notified: int
    subscribers: int
    subscribers_notified: int

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def deadlines(self) -> Deadlines:
        return Deadlines.of(self.known_at)

    def duration_s(self, now: datetime | None = None) -> float | None:
        """From known to resolved (to ``now`` while open; None while open and no ``now`` is given)."""
        end = self.resolved_at or now
        return None if end is None else max((end - self.known_at).total_seconds(), 0.0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: codes and ISO 8601 UTC instants for programs, names and the category's titles."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "title": self.title,
            "caller_message": self.caller_message,
            "category": self.category,
            "category_label": self.category_label,
            "status": self.status,
            "parent_ticket": None
            if self.parent_ticket_id is None
            else {"id": self.parent_ticket_id, "number": self.parent_number},
            "prompt": self.prompt,
            "known_at": iso(self.known_at),
            "declared_at": iso(self.declared_at),
            "communicated_at": iso(self.communicated_at),
            "resolved_at": iso(self.resolved_at),
            "declared_by": _person(self.declared_by, self.declared_by_name),
            "resolved_by": _person(self.resolved_by, self.resolved_by_name),
            "resolution": self.resolution,
            "duration_s": self.duration_s(),
            "tickets": {"linked": self.tickets, "notified": self.tickets_notified},
            "subscribers": {"count": self.subscribers, "notified": self.subscribers_notified},
            "deadlines": self.deadlines.to_dict(),
        }


def _person(account_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if account_id is None else {"id": account_id, "name": name}


def _count(table: Any, *where: Any) -> Any:
    return select(func.count()).where(table.c.incident_id == incidents.c.id, *where).scalar_subquery()


def view_select() -> Select[Any]:
    """SELECT of every incident column with its parent's number, the accounts' names and the counts."""
    parent = tickets.alias("parent")
    declarer, resolver = accounts.alias("declarer"), accounts.alias("resolver")
    return select(
        incidents,
        parent.c.number.label("parent_number"),
        declarer.c.display_name.label("declared_by_name"),
        resolver.c.display_name.label("resolved_by_name"),
        _count(links).label("linked"),
        _count(links, links.c.notified_at.is_not(None)).label("linked_notified"),
        _count(subscriptions).label("subscribed"),
        _count(subscriptions, subscriptions.c.notified_at.is_not(None)).label("subscribed_notified"),
    ).select_from(
        incidents.outerjoin(parent, parent.c.id == incidents.c.parent_ticket_id)
        .outerjoin(declarer, declarer.c.id == incidents.c.declared_by)
        .outerjoin(resolver, resolver.c.id == incidents.c.resolved_by)
    )


def from_row(row: Mapping[Any, Any], labels: Mapping[str, str]) -> IncidentView:
    """The view of a ``view_select()`` row; ``labels``: category path -> its titles."""
    category = row["category"]
    return IncidentView(
        id=int(row["id"]),
        tenant=row["tenant"],
        title=row["title"],
        caller_message=row["caller_message"],
        category=category,
        category_label=None if category is None else labels.get(category, category),
        status=row["status"],
        parent_ticket_id=row["parent_ticket_id"],
        parent_number=row["parent_number"],
        prompt=row["prompt"],
        known_at=row["known_at"],
        declared_at=row["declared_at"],
        communicated_at=row["communicated_at"],
        resolved_at=row["resolved_at"],
        declared_by=row["declared_by"],
        declared_by_name=row["declared_by_name"],
        resolved_by=row["resolved_by"],
        resolved_by_name=row["resolved_by_name"],
        resolution=row["resolution"],
        tickets=int(row["linked"]),
        tickets_notified=int(row["linked_notified"]),
        subscribers=int(row["subscribed"]),
        subscribers_notified=int(row["subscribed_notified"]),
    )


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


async def category_labels(conn: AsyncConnection, tenant: str, paths: Iterable[str | None]) -> dict[str, str]:
    """path -> the titles of the path's nodes (``kis/login`` -> ``KIS › Anmeldung``) for ``paths`` of the tenant."""
    wanted = {p for path in paths if path for p in _ancestors(path)}
    if not wanted:
        return {}
    stmt = select(categories.c.path, categories.c.name).where(
        categories.c.tenant == tenant, categories.c.path.in_(sorted(wanted))
    )
    found = title_paths((r.path, r.name) for r in await conn.execute(stmt))
    return {path: found[path] for path in wanted if path in found}


async def read(conn: AsyncConnection, tenant: str, stmt: Select[Any]) -> list[IncidentView]:
    """The views of ``stmt`` (a ``view_select()`` of ``tenant``'s incidents), in its order."""
    rows = (await conn.execute(stmt)).mappings().all()
    labels = await category_labels(conn, tenant, (r["category"] for r in rows))
    return [from_row(r, labels) for r in rows]


async def in_period(conn: AsyncConnection, tenant: str, start: datetime, end: datetime) -> list[IncidentView]:
    """The tenant's incidents going on in ``[start, end)``: known before its end, not resolved before its start;
    oldest known first (the NIS2 export's and the monthly report's)."""
    stmt = (
        view_select()
        .where(
            incidents.c.tenant == tenant,
            incidents.c.known_at < end,
            incidents.c.resolved_at.is_(None) | (incidents.c.resolved_at >= start),
        )
        .order_by(incidents.c.known_at, incidents.c.id)
    )
    return await read(conn, tenant, stmt)


def linked_ticket_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A linked ticket as the incident's page lists it."""
    return {
        "id": row["ticket_id"],
        "number": row["number"],
        "subject": row["subject"],
        "status": row["status"],
        "requester_name": row["requester_name"],
        "linked_at": iso(row["linked_at"]),
        "linked_by": row["linked_by"],
        "notified_at": iso(row["notified_at"]),
        "notified_via": row["notified_via"],
    }


def subscription_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A subscriber as the incident's page lists them (the mail address itself stays in the store)."""
    return {
        "id": row["id"],
        "number": row["number"],
        "name": row["name"],
        "has_email": bool((row["email"] or "").strip()),
        "created_at": iso(row["created_at"]),
        "notified_at": iso(row["notified_at"]),
        "notified_via": row["notified_via"],
    }


async def details(conn: AsyncConnection, incident_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The incident's linked tickets (oldest link first) and subscribers (oldest first)."""
    linked = await conn.execute(
        select(
            links,
            tickets.c.number,
            tickets.c.subject,
            tickets.c.status,
            tickets.c.requester_name,
        )
        .select_from(links.join(tickets, tickets.c.id == links.c.ticket_id))
        .where(links.c.incident_id == incident_id)
        .order_by(links.c.linked_at, links.c.ticket_id)
    )
    subscribed = await conn.execute(
        select(subscriptions)
        .where(subscriptions.c.incident_id == incident_id)
        .order_by(subscriptions.c.created_at, subscriptions.c.id)
    )
    return [linked_ticket_dict(r) for r in linked.mappings()], [subscription_dict(r) for r in subscribed.mappings()]
