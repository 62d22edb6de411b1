"""SQLAlchemy models of major incidents (Großstörungen): the incident, the tickets linked to it, the callers who
asked to be told when it is over, and each tenant's pile-up threshold (when to offer declaring one)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType
from uhd_telephony.tenant import TENANT_LENGTH

TITLE_LENGTH = 200
PROMPT_LENGTH = 255


class IncidentStatus(StrEnum):
    """An incident is open until it is resolved; a resolved one is history (the NIS2 export, the report)."""

    OPEN = "open"
    RESOLVED = "resolved"


class NotifiedVia(StrEnum):
    """How a linked caller or a subscriber was told the incident is over."""

    MAIL = "mail"  # a mail through the outbox
    CALLBACK = "callback"  # no mail address: an entry on the callback list


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def _notified_via(column: str) -> str:
    return f"{column} IS NULL OR {_one_of(column, NotifiedVia)}"


class MajorIncident(Base):
    """One major incident of a tenant: what callers hear, its parent ticket and its NIS2 timestamps."""

    __tablename__ = "major_incidents"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    caller_message: Mapped[str] = mapped_column(Text)  # what callers hear (the prompt) and read (the mails)
    category: Mapped[str | None] = mapped_column(String(512))  # a category path of the tenant's tree
    # the parent ticket: created with the title at declaration, or an existing ticket named then
    parent_ticket_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("tickets.id"))
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN.value)
    # the sound the dialplan plays, relative to Asterisk's sounds directory, without extension
    # ("uhd-incidents/uhd-incident-<tenant>-<id>"); NULL: the recorded generic announcement
    prompt: Mapped[str | None] = mapped_column(String(PROMPT_LENGTH))
    # NIS2 asks the IT provider for these: when it became known, was declared, communicated and resolved
    known_at: Mapped[datetime]
    declared_at: Mapped[datetime]
    communicated_at: Mapped[datetime | None]  # the first announcement played or notice sent (or set by hand)
    resolved_at: Mapped[datetime | None]
    # accounts; one that is deleted leaves the incident without a name
    declared_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="SET NULL"))
    resolved_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="SET NULL"))
    resolution: Mapped[str | None] = mapped_column(Text)  # the public comment on every linked ticket

    __table_args__ = (
        CheckConstraint(_one_of("status", IncidentStatus), name="status"),
        CheckConstraint("resolved_at IS NULL OR status = 'resolved'", name="resolved"),
        # the tenant's open incidents (every call's AGI lookup, every pop) and its list by time (export, report)
        Index("ix_major_incidents_tenant_status", "tenant", "status"),
        Index("ix_major_incidents_tenant_declared_at", "tenant", "declared_at"),
        # a ticket is the parent of one incident at most; every ticket resolve asks whether it is one
        # (incidents.cascade)
        Index("ix_major_incidents_parent_ticket_id", "parent_ticket_id", unique=True),
    )


class IncidentTicket(Base):
    """A ticket that belongs to an incident (a caller who reported it): resolved and notified with it."""

    __tablename__ = "incident_tickets"

    # a ticket belongs to at most one incident
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"), primary_key=True, autoincrement=False)
    incident_id: Mapped[int] = mapped_column(IdType, ForeignKey("major_incidents.id"))
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    linked_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    notified_via: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(_notified_via("notified_via"), name="notified_via"),
        Index("ix_incident_tickets_incident_id", "incident_id"),
    )


class IncidentSubscription(Base):
    """A caller who pressed the key during the announcement: told when the incident is over, without a ticket."""

    __tablename__ = "incident_subscriptions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(IdType, ForeignKey("major_incidents.id"))
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    number: Mapped[str] = mapped_column(String(64))  # the caller's number as the directory normalises it
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))  # from the directory
    # the directory user; no foreign key: directory rows may be re-imported
    user_id: Mapped[int | None] = mapped_column(IdType)
    linkedid: Mapped[str | None] = mapped_column(String)  # the call
    created_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    notified_via: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        # once per incident and number: pressing the key on a second call subscribes nobody twice
        UniqueConstraint("incident_id", "number"),
        CheckConstraint(_notified_via("notified_via"), name="notified_via"),
    )


class IncidentSettings(Base):
    """A tenant's pile-up threshold: offer an incident when ``pileup_count`` tickets of one category arrive
    within ``pileup_minutes``. A tenant without a row has the defaults (``incidents.pileup``)."""

    __tablename__ = "incident_settings"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    pileup_count: Mapped[int] = mapped_column(SmallInteger)
    pileup_minutes: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("pileup_count BETWEEN 2 AND 100", name="pileup_count"),
        CheckConstraint("pileup_minutes BETWEEN 1 AND 1440", name="pileup_minutes"),
    )
