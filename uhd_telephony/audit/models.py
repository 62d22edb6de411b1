"""The audit log's table: one row per security-relevant event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType
from uhd_telephony.tenant import TENANT_LENGTH


class AuditEntry(Base):
    """One security-relevant event: a login, a failed login, a change of roles, tenants or tokens."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor: Mapped[str] = mapped_column(String(100))  # the account acting (username), "cli", or a login name tried
    action: Mapped[str] = mapped_column(String(32))  # audit.log.AuditAction
    target: Mapped[str | None] = mapped_column(String(200))  # "account:12 anna", "token:3", "tenant:klinikum-nord"
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the tenant whose data the entry concerns (reads of personal data, its works agreement): what the tenant's
    # data-protection officer reads (audit.reads); NULL for the operator's own events (logins, accounts, tokens)
    tenant: Mapped[str | None] = mapped_column(String(TENANT_LENGTH))

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_tenant_at", "tenant", "at"),
    )
