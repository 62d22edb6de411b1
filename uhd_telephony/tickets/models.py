"""SQLAlchemy models of tickets: categories, tickets, their append-only history and the ticket-number counter."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType
from uhd_telephony.tenant import TENANT_LENGTH

# the support group every ticket starts with: the helpdesk's agents (tickets.groups knows the others)
FIRST_LEVEL = "1st_level"


class TicketStatus(StrEnum):
    """Where a ticket is in its life; ``waiting`` pauses the SLA clock (waiting on the caller)."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class Channel(StrEnum):
    """How the ticket came in."""

    PHONE = "phone"
    WEB = "web"
    MAIL = "mail"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def _level(column: str) -> str:
    return f"{column} IS NULL OR {column} BETWEEN 1 AND 5"


class Category(Base):
    """One node of a tenant's category tree; ``path`` (codes joined by ``/``) is its identity within the tenant."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    parent_id: Mapped[int | None] = mapped_column(IdType)
    code: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(200))
    # the team that works tickets of this category: 1st_level, 2nd_level, 3rd_level, partner[:<name>]
    support_group: Mapped[str] = mapped_column(String(64))
    default_impact: Mapped[int | None] = mapped_column(SmallInteger)
    default_urgency: Mapped[int | None] = mapped_column(SmallInteger)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)  # order among its siblings, as in the imported file
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("tenant", "path"),
        # the target of the (tenant, id) foreign keys below: a parent or a ticket's category of another
        # tenant is refused by the database, not only by the service
        UniqueConstraint("tenant", "id"),
        ForeignKeyConstraint(["tenant", "parent_id"], ["categories.tenant", "categories.id"]),
        CheckConstraint(_level("default_impact"), name="default_impact"),
        CheckConstraint(_level("default_urgency"), name="default_urgency"),
        Index("ix_categories_tenant_parent_id", "tenant", "parent_id"),
    )


class Ticket(Base):
    """One incident; a phone ticket carries the Linkedid of its call, unique in the installation."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # UHD-2026-000123 (tickets.ids)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.NEW.value)
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # the directory's user and place ids: no foreign key, tickets outlive directory rows and imports
    requester_user_id: Mapped[int | None] = mapped_column(IdType)
    requester_place_id: Mapped[int | None] = mapped_column(IdType)
    requester_number: Mapped[str] = mapped_column(String(64), default="")
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    # the requester's mail address when given with the ticket (a mail ticket's sender, a web form); a directory
    # user's address stays in the directory. Caller notifications (tickets.notify) go here first.
    requester_email: Mapped[str | None] = mapped_column(String(254))
    vip: Mapped[bool] = mapped_column(default=False)  # as the directory said at creation
    # the answered call (CallRecord.call_id) and its conversation; no foreign key to calls: the batched
    # writer may store the call record after the ticket exists
    call_id: Mapped[str | None] = mapped_column(String)
    call_linkedid: Mapped[str | None] = mapped_column(String)
    agent_id: Mapped[int | None] = mapped_column(IdType)
    agent_name: Mapped[str | None] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(IdType)
    impact: Mapped[int | None] = mapped_column(SmallInteger)
    urgency: Mapped[int | None] = mapped_column(SmallInteger)
    priority: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # routing (tickets.routing): the group working the ticket now; every ticket starts at the helpdesk
    support_group: Mapped[str] = mapped_column(String(64), default=FIRST_LEVEL, server_default=FIRST_LEVEL)
    # the 10-minute rule: when a phone ticket still at 1st level goes to 2nd level; NULL once routed or done
    first_level_due_at: Mapped[datetime | None]
    # sha256 (hex) of the caller's status-link token (tickets.notify); the raw token is only ever in the mail
    status_token_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # one ticket per conversation: a transfer to a second queue, a second agent, a replay, a reconnect or
        # a second service instance all carry the same Linkedid. NULLs (web, mail) never collide. Not per tenant:
        # a call first seen under the wrong tenant (a resync, a late UHD_TENANT) is still the same conversation.
        UniqueConstraint("call_linkedid"),
        ForeignKeyConstraint(["tenant", "category_id"], ["categories.tenant", "categories.id"]),
        CheckConstraint(_one_of("status", TicketStatus), name="status"),
        CheckConstraint(_one_of("channel", Channel), name="channel"),
        CheckConstraint(_level("impact"), name="impact"),
        CheckConstraint(_level("urgency"), name="urgency"),
        CheckConstraint(_level("priority"), name="priority"),
        Index("ix_tickets_tenant_created_at", "tenant", "created_at"),
        Index("ix_tickets_tenant_status", "tenant", "status"),
        # "their recent tickets" in the screen-pop: by directory user, or by number for an unknown caller
        Index("ix_tickets_tenant_requester_user_id", "tenant", "requester_user_id", "created_at"),
        Index("ix_tickets_tenant_requester_number", "tenant", "requester_number", "created_at"),
        # the 10-minute rule's scan: only tickets still waiting for it are in the index
        Index(
            "ix_tickets_first_level_due_at",
            "first_level_due_at",
            sqlite_where=text("first_level_due_at IS NOT NULL"),
            postgresql_where=text("first_level_due_at IS NOT NULL"),
        ),
        # the public status page finds its ticket by the token's hash alone
        Index("ix_tickets_status_token_hash", "status_token_hash", unique=True),
    )


class TicketHistory(Base):
    """One change of a ticket: who, when, what (old and new value). Appended, never updated or deleted."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))  # system, agent:<id>, api:<client>, ...
    action: Mapped[str] = mapped_column(String(32))  # created, classified, priority, status, comment, ...
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_ticket_history_ticket_id", "ticket_id", "id"),)


class TicketCounter(Base):
    """The last ticket number given out per scope (the year): incremented atomically in the ticket's transaction."""

    __tablename__ = "ticket_counters"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SupportGroup(Base):
    """A team that works tickets (``1st_level``, ``2nd_level``, ``3rd_level``, ``partner:<firm>``) of one tenant.

    Routing sends it work orders by mail (``mail``: addresses, comma-separated) and/or as a signed webhook
    (``webhook_url`` with ``webhook_secret``, a Standard Webhooks ``whsec_`` key: kept here, never logged), its
    mails in ``locale`` (one of ``i18n.LOCALES``; NULL: German).
    """

    __tablename__ = "support_groups"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(SmallInteger)
    mail: Mapped[str | None] = mapped_column(String(1000))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(8))  # its work orders' language (NULL: German)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("tenant", "code"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint("webhook_url IS NULL OR webhook_secret IS NOT NULL", name="webhook_signed"),
    )
