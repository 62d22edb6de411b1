"""The audit log: logins and permission changes, append-only, read by admins page by page (newest first)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.store.db import Database

log = logging.getLogger(__name__)

MAX_PAGE = 200
_TEXT = {"actor": 100, "target": 200, "ip": 64}


class AuditAction(StrEnum):
    """What an audit entry records."""

    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"  # a lockout started (the refused attempts during it are not rows)
    LOGOUT = "logout"
    ACCOUNT_CREATED = "account_created"
    ROLE_CHANGED = "role_changed"
    TENANTS_CHANGED = "tenants_changed"
    ACCOUNT_DEACTIVATED = "account_deactivated"
    ACCOUNT_REACTIVATED = "account_reactivated"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    TENANT_ADDED = "tenant_added"
    MAIL_ADDRESS_ADDED = "mail_address_added"  # a tenant's helpdesk address (mailin: admin API, command line)
    MAIL_ADDRESS_REMOVED = "mail_address_removed"
    DIRECTORY_SYNCED = "directory_synced"  # a tenant's users synced from its LDAP source (admin API)
    RETENTION_SET = "retention_set"  # a tenant's retention period of a data class (privacy: API, command line)
    PERSON_ERASED = "person_erased"  # one person's data erased (Art. 17 GDPR): the selector hashed, the counts
    PERSON_EXPORTED = "person_exported"  # one person's data read out (Art. 15 GDPR)
    # issue 20 (works council, § 203 StGB): audit.reads, accounts.confidentiality, tenants.works_agreement
    CONFIDENTIALITY_ACKNOWLEDGED = "confidentiality_ack"  # an account bound itself to the § 203 text (its version)
    REQUESTER_READ = "requester_read"  # tickets with their requester's details read (one entry per answer)
    CALLS_READ = "calls_read"  # call records read (the callback list: callers' numbers, abandoned calls)
    WORKS_AGREEMENT_CHANGED = "works_agreement"  # a tenant's figures per agent switched on or off (its reference)
    KPI_CONTRACT_CHANGED = "kpi_contract"  # a tenant's KPI rules of its contract set from a month (tenants.contract)
    DIRECTORY_READ = "directory_read"  # people's directory entries shown (a directory search; the DPO's person search)
    INCIDENT_READ = "incident_read"  # a major incident's callers shown (linked tickets' requesters, subscribers)


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "ip": self.ip,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditView]
    next_before: int | None  # pass as ``before`` for the next (older) page; None: this was the last


def _clip(value: str | None, name: str) -> str | None:
    return None if value is None else value[: _TEXT[name]]


def _entry(
    action: AuditAction | str,
    *,
    actor: str,
    target: str | None,
    ip: str | None,
    details: dict[str, Any] | None,
    tenant: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=datetime.now(UTC),
        actor=_clip(actor, "actor") or "-",
        action=str(action),
        target=_clip(target, "target"),
        ip=_clip(ip, "ip"),
        details=details or {},
        tenant=tenant,
    )


class AuditLog:
    """Writes and reads ``audit_log``; a failed write is logged and never fails the request it records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(
        self,
        action: AuditAction | str,
        *,
        actor: str,
        target: str | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> None:
        try:
            async with self.db.sessionmaker() as session:
                self.add(session, action, actor=actor, target=target, ip=ip, details=details, tenant=tenant)
                await session.commit()
        except Exception:  # the audit row is a record of the change, not a condition for it
            log.exception("audit entry %s by %s could not be written", action, actor)

    @staticmethod
    def add(
        session: AsyncSession,
        action: AuditAction | str,
        *,
        actor: str,
        target: str | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> None:
        """The entry as part of the caller's transaction: written with the change it records, or not at all.
        ``tenant``: whose data it concerns, what the tenant's data-protection officer reads (``audit.reads``)."""
        session.add(_entry(action, actor=actor, target=target, ip=ip, details=details, tenant=tenant))

    async def page(self, *, limit: int = 50, before: int | None = None, action: str | None = None) -> AuditPage:
        """Entries newest first; ``before`` (an id) continues an earlier page."""
        limit = max(1, min(limit, MAX_PAGE))
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
        if before is not None:
            stmt = stmt.where(AuditEntry.id < before)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        async with self.db.sessionmaker() as session:
            return page_of(list(await session.scalars(stmt)), limit)


def page_of(rows: list[AuditEntry], limit: int) -> AuditPage:
    """A page of the ``limit + 1`` rows a query asked for (one more than shown: whether there is a next page)."""
    more = len(rows) > limit
    entries = [AuditView(r.id, r.at, r.actor, r.action, r.target, r.ip, dict(r.details or {})) for r in rows[:limit]]
    return AuditPage(entries, entries[-1].id if more and entries else None)
