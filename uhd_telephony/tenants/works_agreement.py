"""Figures per agent and the works agreement that allows them (§ 87(1) Nr. 6 BetrVG, the staff-representation
laws): off unless a tenant's works agreement says otherwise.

``tenants.per_agent_figures`` is the flag every figure reads (the wallboard's agent rows, the per-agent series of
``/metrics``); it changes only here, and every change is recorded — who, when, the agreement's reference (e.g.
``BV 2026-03 IT-Helpdesk``) — as a row of ``works_agreement_changes`` and an audit entry under the tenant (its
data-protection officer reads it), in the transaction that flips the flag. Enabling needs the reference; disabling
may name one (the agreement that ended). The admin API (``PUT /api/admin/tenants/{tenant}/works-agreement``) and
the command line (``uhd-telephony tenant figures``) are the two doors, both through ``set_per_agent_figures``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from uhd_telephony.audit.log import AuditAction, AuditLog
from uhd_telephony.errors import InvalidInput, NotFound
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import is_tenant
from uhd_telephony.tenants.models import REFERENCE_MAX, Tenant, WorksAgreementChange

log = logging.getLogger(__name__)

HISTORY_SHOWN = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Change:
    """One switch of figures per agent."""

    per_agent_figures: bool
    reference: str | None
    changed_by: str
    changed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        at = self.changed_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {
            "per_agent_figures": self.per_agent_figures,
            "reference": self.reference,
            "changed_by": self.changed_by,
            "changed_at": at,
        }


@dataclass(frozen=True, slots=True)
class WorksAgreement:
    """A tenant's figures per agent now, the change that made it so (None: never changed: off) and the history."""

    tenant: str
    per_agent_figures: bool
    current: Change | None
    history: list[Change]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "per_agent_figures": self.per_agent_figures,
            "current": None if self.current is None else self.current.to_dict(),
            "history": [c.to_dict() for c in self.history],
        }


def check_reference(reference: str | None, enabled: bool) -> str | None:
    """The agreement's reference, trimmed; required to enable, at most 200 printable characters."""
    text = (reference or "").strip()
    if not text:
        if enabled:
            raise InvalidInput(
                Msg("figures per agent need the reference of the works agreement that allows them"),
                {"field": "reference"},
            )
        return None
    if len(text) > REFERENCE_MAX or _CONTROL.search(text):
        raise InvalidInput(Msg("a reference is 1-200 printable characters"), {"field": "reference"})
    return text


def _change(row: WorksAgreementChange) -> Change:
    return Change(row.per_agent_figures, row.reference, row.changed_by, row.changed_at)


async def works_agreement(db: Database, tenant: str) -> WorksAgreement:
    """The tenant's figures per agent and their record; NotFound for a tenant not in the table."""
    async with db.sessionmaker() as session:
        row = await session.get(Tenant, tenant) if is_tenant(tenant) else None
        if row is None:
            raise NotFound(Msg("no tenant %(tenant)s", tenant=Quoted(tenant, 64)), {"tenant": tenant})
        stmt = (
            select(WorksAgreementChange)
            .where(WorksAgreementChange.tenant == tenant)
            .order_by(WorksAgreementChange.id.desc())
            .limit(HISTORY_SHOWN)
        )
        history = [_change(r) for r in await session.scalars(stmt)]
        return WorksAgreement(tenant, bool(row.per_agent_figures), history[0] if history else None, history)


async def set_per_agent_figures(
    db: Database, tenant: str, enabled: bool, *, reference: str | None, actor: str, ip: str | None = None
) -> WorksAgreement:
    """Switch figures per agent on (with the agreement's ``reference``) or off, recorded with its audit entry in
    one transaction; setting what is already set records nothing."""
    checked = check_reference(reference, enabled)
    async with db.sessionmaker() as session:
        row = await session.get(Tenant, tenant, with_for_update=True) if is_tenant(tenant) else None
        if row is None:
            raise NotFound(Msg("no tenant %(tenant)s", tenant=Quoted(tenant, 64)), {"tenant": tenant})
        if bool(row.per_agent_figures) != enabled:
            now = datetime.now(UTC)
            row.per_agent_figures = enabled
            session.add(
                WorksAgreementChange(
                    tenant=tenant, per_agent_figures=enabled, reference=checked, changed_by=actor, changed_at=now
                )
            )
            details = {"per_agent_figures": enabled, "reference": checked}
            AuditLog.add(
                session, AuditAction.WORKS_AGREEMENT_CHANGED, actor=actor, target=f"tenant:{tenant}", ip=ip,
                details=details, tenant=tenant,
            )  # fmt: skip
            await session.commit()
            log.info("tenant %s: figures per agent %s by %s (%s)", tenant, "on" if enabled else "off", actor, checked)
    return await works_agreement(db, tenant)
