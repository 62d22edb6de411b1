"""SQLAlchemy models of tenants: ``tenants`` (one per customer organisation), ``tenant_hotlines`` and
``works_agreement_changes`` (who switched figures per agent on or off, when, under which works agreement) and
``kpi_contracts`` (how the contract defines the call KPIs, from which month on)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from uhd_telephony.store.models import Base, IdType, JsonType
from uhd_telephony.tenant import TENANT_LENGTH

NUMBER_MAX = 32  # E.164 is at most 15 digits and a "+"
QUEUE_MAX = 128


class Tenant(Base):
    """A customer organisation; ``tenant`` is the slug every other table names it by (``klinikum-nord``).

    Rows of other tables carry the slug without a foreign key: tickets, calls and accounts were recorded
    before tenants were data, and a tenant's history must outlive a tenant set inactive.
    """

    __tablename__ = "tenants"

    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # the region phone numbers of this tenant are read in (phonenumbers' region code)
    region: Mapped[str] = mapped_column(String(2), default="DE")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    active: Mapped[bool] = mapped_column(default=True)
    # the works agreement allows figures per agent (answered, talk, rings not answered): off unless it says so
    per_agent_figures: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    hotlines: Mapped[list[TenantHotline]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", lazy="selectin", order_by="TenantHotline.number"
    )


class TenantHotline(Base):
    """One hotline number of a tenant and the queue it rings; a number belongs to exactly one tenant."""

    __tablename__ = "tenant_hotlines"

    number: Mapped[str] = mapped_column(String(NUMBER_MAX), primary_key=True)  # E.164, e.g. +49231990001
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH), ForeignKey("tenants.tenant", ondelete="CASCADE"))
    queue: Mapped[str] = mapped_column(String(QUEUE_MAX))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped[Tenant] = relationship(back_populates="hotlines")

    __table_args__ = (Index("ix_tenant_hotlines_tenant", "tenant"),)


REFERENCE_MAX = 200  # a works agreement's reference, e.g. "BV 2026-03 IT-Helpdesk"
ACTOR_MAX = 100  # audit_log.actor: a username or "cli"


class WorksAgreementChange(Base):
    """One switch of a tenant's figures per agent (§87(1) Nr. 6 BetrVG): append-only, the newest is in force.

    Enabling names the works agreement that allows it (``reference``); disabling may name the one that ended.
    ``tenants.per_agent_figures`` stays the flag every figure reads; this is its record.
    """

    __tablename__ = "works_agreement_changes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    per_agent_figures: Mapped[bool]
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_MAX))
    changed_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    changed_at: Mapped[datetime]

    __table_args__ = (Index("ix_works_agreement_changes_tenant_id", "tenant", "id"),)


class KpiContract(Base):
    """How a tenant's contract defines its call KPIs, from ``valid_from`` (the 1st of a month) until the next row.

    Append-only in spirit: a new contract month is a new row, earlier months keep their rules. No row: the
    defaults of ``tenants.contract.KpiRules`` (the SPEC's definitions).
    """

    __tablename__ = "kpi_contracts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    valid_from: Mapped[date]
    service_level_s: Mapped[float]
    short_abandon_s: Mapped[float]
    abandons_in_service_level: Mapped[bool]
    short_abandons_in_base: Mapped[bool]
    outside_hours_count: Mapped[bool]
    # None: every queue of the tenant counts; otherwise the queue names that do
    queues: Mapped[list[str] | None] = mapped_column(JsonType)
    callback_window_s: Mapped[float]
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_MAX))
    changed_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    changed_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("tenant", "valid_from", name="uq_kpi_contracts_tenant_valid_from"),)
