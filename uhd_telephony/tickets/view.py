"""TicketView: a ticket as a frozen value (not the ORM row), with its JSON shape for the API and the screen-pop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import iso
from uhd_telephony.tickets.models import Category, Ticket
from uhd_telephony.tickets.priority import PRIORITY_NAMES

tickets = table_of(Ticket)
categories = table_of(Category)


@dataclass(frozen=True, slots=True)
class TicketView:
    """One ticket with its category's path, name and group."""

    id: int
    number: str
    tenant: str
    status: str
    channel: str
    subject: str
    description: str
    impact: int | None
    urgency: int | None
    priority: int | None
    category_id: int | None
    category_path: str | None
    category_name: str | None
    category_group: str | None
    requester_user_id: int | None
    requester_place_id: int | None
    requester_number: str
    requester_name: str
    requester_email: str | None
    vip: bool
    call_id: str | None
    call_linkedid: str | None
    agent_id: int | None
    agent_name: str | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    support_group: str = "1st_level"  # the group working it now (tickets.routing)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: nested requester, category, call and agent; times as ISO 8601 UTC strings."""
        return {
            "id": self.id,
            "number": self.number,
            "tenant": self.tenant,
            "status": self.status,
            "channel": self.channel,
            "subject": self.subject,
            "description": self.description,
            "impact": self.impact,
            "urgency": self.urgency,
            "priority": self.priority,
            "priority_name": None if self.priority is None else PRIORITY_NAMES[self.priority],
            "category": None
            if self.category_id is None
            else {
                "id": self.category_id,
                "path": self.category_path,
                "name": self.category_name,
                "group": self.category_group,
            },
            "requester": {
                "user_id": self.requester_user_id,
                "place_id": self.requester_place_id,
                "number": self.requester_number,
                "name": self.requester_name,
                "email": self.requester_email,
                "vip": self.vip,
            },
            "call": None if self.call_id is None else {"call_id": self.call_id, "linkedid": self.call_linkedid},
            "agent": None
            if self.agent_id is None and self.agent_name is None
            else {
                "id": self.agent_id,
                "name": self.agent_name,
            },
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "first_response_at": iso(self.first_response_at),
            "resolved_at": iso(self.resolved_at),
            "closed_at": iso(self.closed_at),
            "support_group": self.support_group,
        }


def view_select() -> Select[Any]:
    """SELECT of every ticket column plus its category's path, name and group (outer join)."""
    return select(
        tickets,
        categories.c.path.label("category_path"),
        categories.c.name.label("category_name"),
        categories.c.support_group.label("category_group"),
    ).select_from(tickets.outerjoin(categories, categories.c.id == tickets.c.category_id))


def from_row(row: Mapping[Any, Any]) -> TicketView:
    """The TicketView of a ``view_select()`` row."""
    return TicketView(
        id=row["id"],
        number=row["number"],
        tenant=row["tenant"],
        status=row["status"],
        channel=row["channel"],
        subject=row["subject"],
        description=row["description"],
        impact=row["impact"],
        urgency=row["urgency"],
        priority=row["priority"],
        category_id=row["category_id"],
        category_path=row["category_path"],
        category_name=row["category_name"],
        category_group=row["category_group"],
        requester_user_id=row["requester_user_id"],
        requester_place_id=row["requester_place_id"],
        requester_number=row["requester_number"],
        requester_name=row["requester_name"],
        requester_email=row["requester_email"],
        vip=bool(row["vip"]),
        call_id=row["call_id"],
        call_linkedid=row["call_linkedid"],
        agent_id=row["agent_id"],
        agent_name=row["agent_name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        first_response_at=row["first_response_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        support_group=row["support_group"],
    )
