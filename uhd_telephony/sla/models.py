"""SQLAlchemy models of the SLA: each tenant's calendar and policies, its escalation contacts, each ticket's
next due instant, and the escalations that fired (what the reports read); the support groups' own targets for work
routed to them (OLAs) in the same shape, their timers and their escalations apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, table_of
from uhd_telephony.tenant import TENANT_LENGTH


class SlaTenant(Base):
    """A tenant's SLA setup: its business calendar (``Calendar.to_config()``) and defaults.

    ``unclassified_priority``: the policy a ticket without a priority is measured by; ``warning_level`` and
    ``breach_level``: which contacts a warning and a breach notify (1 team lead, 2 management).
    """

    __tablename__ = "sla_tenants"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    calendar: Mapped[dict[str, Any]]
    unclassified_priority: Mapped[int] = mapped_column(SmallInteger)
    warning_level: Mapped[int] = mapped_column(SmallInteger)
    breach_level: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("unclassified_priority BETWEEN 1 AND 5", name="unclassified_priority"),
        CheckConstraint("warning_level BETWEEN 1 AND 3 AND breach_level BETWEEN 1 AND 3", name="levels"),
    )


class SlaPolicy(Base):
    """The targets of one priority of a tenant: seconds of business time (or 24/7 with ``around_the_clock``)."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    priority: Mapped[int] = mapped_column(SmallInteger)
    response_s: Mapped[int] = mapped_column(Integer)
    resolution_s: Mapped[int] = mapped_column(Integer)
    warn_share: Mapped[float] = mapped_column(Float)
    around_the_clock: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        UniqueConstraint("tenant", "priority"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
        CheckConstraint("response_s > 0 AND resolution_s > 0", name="targets"),
        CheckConstraint("warn_share > 0 AND warn_share <= 1", name="warn_share"),
    )


class SlaContact(Base):
    """Someone an escalation of a tenant notifies: per level, optionally only for one category branch.

    ``category``: a category path (``kis`` or ``kis/login``); tickets in that branch notify these contacts of the
    level instead of the tenant-wide ones (``category`` NULL). The webhook secret signs the POSTs, never shown.
    ``locale``: the language of its mails (one of ``i18n.LOCALES``; NULL: German).
    """

    __tablename__ = "sla_contacts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    level: Mapped[int] = mapped_column(SmallInteger)
    category: Mapped[str | None] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(200))
    mail: Mapped[str | None] = mapped_column(String(1000))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(8))  # its mails' language (NULL: German)

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint("webhook_url IS NULL OR webhook_secret IS NOT NULL", name="webhook_signed"),
        CheckConstraint("mail IS NOT NULL OR webhook_url IS NOT NULL", name="reachable"),
        Index("ix_sla_contacts_tenant_level", "tenant", "level"),
    )


class SlaTimer(Base):
    """A ticket's next SLA due instant (the earliest warning or breach not fired yet); NULL when none is ahead.

    Written with every creation, status and priority change of the ticket (``sla.timers``), cleared and set
    again by the scanner that fires it. The partial index holds only the tickets with a due instant.
    """

    __tablename__ = "sla_timers"

    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"), primary_key=True, autoincrement=False)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    next_due_at: Mapped[datetime | None]
    computed_at: Mapped[datetime]

    __table_args__ = (
        # (next_due_at, ticket_id): the scan's order too, so it reads the first rows of the index and stops
        Index(
            "ix_sla_timers_next_due_at",
            "next_due_at",
            "ticket_id",
            sqlite_where=text("next_due_at IS NOT NULL"),
            postgresql_where=text("next_due_at IS NOT NULL"),
        ),
    )


class Escalation(Base):
    """One warning or breach of one target of a ticket: fired once, acknowledged and taken back with a reason.

    UNIQUE (ticket_id, kind, target): a second firing — a second service instance, a retry after a crash — finds
    the row there and sends nothing. ``category_id`` and ``priority`` are the ticket's at firing time.
    """

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"))
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(SmallInteger)
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    category_id: Mapped[int | None] = mapped_column(IdType)
    priority: Mapped[int | None] = mapped_column(SmallInteger)
    notified: Mapped[list[dict[str, Any]]]  # [{"name", "channels"}] of the contacts told
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None]
    de_escalated_by: Mapped[str | None] = mapped_column(String(128))
    de_escalated_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("ticket_id", "kind", "target"),
        CheckConstraint("kind IN ('warning', 'breach')", name="kind"),
        CheckConstraint("target IN ('response', 'resolution')", name="target"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        # the managers' list: a tenant's open escalations, newest first
        Index("ix_escalations_tenant_fired_at", "tenant", "fired_at"),
    )


class OlaTenant(Base):
    """A tenant's OLA setup (``sla.ola_policy``): which of its SLA contacts — the helpdesk's lead — hear of a
    group's warning and breach besides the group itself (1 team lead, 2 management), and when it was imported."""

    __tablename__ = "ola_tenants"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    warning_level: Mapped[int] = mapped_column(SmallInteger)
    breach_level: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("warning_level BETWEEN 1 AND 3 AND breach_level BETWEEN 1 AND 3", name="levels"),)


class OlaGroup(Base):
    """One support group's OLA: its business calendar (``Calendar.to_config()``) and the priority an unclassified
    ticket is measured by; its targets are ``ola_policies``."""

    __tablename__ = "ola_groups"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    support_group: Mapped[str] = mapped_column(String(64))  # support_groups.code
    calendar: Mapped[dict[str, Any]]
    unclassified_priority: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (
        UniqueConstraint("tenant", "support_group"),
        # a group the tenant has (tickets.groups): an OLA of another tenant's or of no group is refused here too
        ForeignKeyConstraint(["tenant", "support_group"], ["support_groups.tenant", "support_groups.code"]),
        CheckConstraint("unclassified_priority BETWEEN 1 AND 5", name="unclassified_priority"),
    )


class OlaPolicy(Base):
    """A group's targets for one priority: seconds of business time from the routing to the group's response and
    to the resolution (or 24/7 with ``around_the_clock``)."""

    __tablename__ = "ola_policies"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    support_group: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(SmallInteger)
    response_s: Mapped[int] = mapped_column(Integer)
    resolution_s: Mapped[int] = mapped_column(Integer)
    warn_share: Mapped[float] = mapped_column(Float)
    around_the_clock: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        UniqueConstraint("tenant", "support_group", "priority"),
        ForeignKeyConstraint(["tenant", "support_group"], ["ola_groups.tenant", "ola_groups.support_group"]),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
        CheckConstraint("response_s > 0 AND resolution_s > 0", name="targets"),
        CheckConstraint("warn_share > 0 AND warn_share <= 1", name="warn_share"),
    )


class OlaTimer(Base):
    """A ticket's next OLA due instant (the group it is routed to: the earliest warning or breach not fired yet);
    NULL when none is ahead. Kept like ``sla_timers`` (``sla.ola_timers``), fired by the OLA scanner."""

    __tablename__ = "ola_timers"

    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"), primary_key=True, autoincrement=False)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    next_due_at: Mapped[datetime | None]
    computed_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "ix_ola_timers_next_due_at",
            "next_due_at",
            "ticket_id",
            sqlite_where=text("next_due_at IS NOT NULL"),
            postgresql_where=text("next_due_at IS NOT NULL"),
        ),
    )


class OlaEscalation(Base):
    """One warning or breach of a group's OLA target for one routing of a ticket (``routed_id``: the ``routed``
    history row that started the group's clock), kept apart from the ticket's SLA escalations: no SLA figure
    reads it. UNIQUE (ticket_id, routed_id, kind, target): fired once, whatever the instances or retries."""

    __tablename__ = "ola_escalations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"))
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    support_group: Mapped[str] = mapped_column(String(64))
    routed_id: Mapped[int] = mapped_column(IdType)
    routed_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(SmallInteger)  # the level of the lead's contacts told
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    priority: Mapped[int | None] = mapped_column(SmallInteger)
    notified: Mapped[list[dict[str, Any]]]  # [{"name", "channels"}] of the group and the contacts told

    __table_args__ = (
        UniqueConstraint("ticket_id", "routed_id", "kind", "target"),
        CheckConstraint("kind IN ('warning', 'breach')", name="kind"),
        CheckConstraint("target IN ('response', 'resolution')", name="target"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        Index("ix_ola_escalations_tenant_fired_at", "tenant", "fired_at"),
    )


sla_tenants = table_of(SlaTenant)
sla_policies = table_of(SlaPolicy)
sla_contacts = table_of(SlaContact)
sla_timers = table_of(SlaTimer)
escalations = table_of(Escalation)
ola_tenants = table_of(OlaTenant)
ola_groups = table_of(OlaGroup)
ola_policies = table_of(OlaPolicy)
ola_timers = table_of(OlaTimer)
ola_escalations = table_of(OlaEscalation)
