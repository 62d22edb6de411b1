"""Erasure and export of one person, each with its audit entry in the same transaction (who, when, which
selector as an HMAC under the tenant's key, the counts per place — never the data itself)."""

from __future__ import annotations

from typing import Any

from uhd_telephony.audit.log import AuditAction, AuditLog
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.sync import stored_plans
from uhd_telephony.privacy.periods import secret_of
from uhd_telephony.privacy.person import Selector, bundle, counts, erase, find_person, places
from uhd_telephony.store.db import Database


class PersonData:
    """Finds, erases and exports one person's data in one tenant."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def erase(
        self, tenant: str, who: Selector, *, actor: str, ip: str | None = None, dry_run: bool = False
    ) -> dict[str, int]:
        """The places and counts; without ``dry_run`` they are erased and the erasure audited."""
        async with self.db.sessionmaker() as session:
            conn = await session.connection()
            person = await find_person(conn, tenant, await _plan(conn, tenant), who)
            found = await places(conn, person)
            places_counts = counts(found)
            if dry_run:
                await session.rollback()
                return places_counts
            secret = await secret_of(conn, tenant)
            await erase(conn, person, found, secret)
            AuditLog.add(session, AuditAction.PERSON_ERASED, actor=actor, target=f"tenant:{tenant}", ip=ip,
                         details=_details(who, secret, places_counts), tenant=tenant)  # fmt: skip
            await session.commit()
        return places_counts

    async def export(self, tenant: str, who: Selector, *, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Everything stored about the person, as JSON; the read audited."""
        async with self.db.sessionmaker() as session:
            conn = await session.connection()
            person = await find_person(conn, tenant, await _plan(conn, tenant), who)
            found = await places(conn, person)
            secret = await secret_of(conn, tenant)
            AuditLog.add(session, AuditAction.PERSON_EXPORTED, actor=actor, target=f"tenant:{tenant}", ip=ip,
                         details=_details(who, secret, counts(found)), tenant=tenant)  # fmt: skip
            await session.commit()
        return {"tenant": tenant, "selector": who.kind, "places": bundle(found)}


def _details(who: Selector, secret: str, found: dict[str, int]) -> dict[str, Any]:
    return {"selector": who.kind, "selector_hmac": who.hashed(secret), "counts": found}


async def _plan(conn: Any, tenant: str) -> NumberingPlan:
    return (await stored_plans(conn, tenant)).get(tenant, NumberingPlan())
