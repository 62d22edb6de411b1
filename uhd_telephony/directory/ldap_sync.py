"""Sync a tenant's directory users from its LDAP / Active Directory source: all of it, or nothing.

The search and the reading of its entries run in a worker thread (ldap3 blocks; phonenumbers on 10,000 numbers
takes a while); the write is the import's upsert (``DirectoryRepository.upsert``): one transaction that creates,
updates and leaves users, and deactivates (never deletes: tickets refer to them) every user of the tenant the
search no longer yields as an active, usable account. Places are the import's and stay as they are.

Before anything is written the size guard compares what the search found with the users active now: a broken
filter or base DN that finds a handful must not deactivate a hospital's directory. Below ``min_share`` of them the
sync stops, unless forced. Every sync that is not a dry run leaves its outcome in ``directory_ldap_syncs``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from uhd_telephony.ami.events import clean_text
from uhd_telephony.calls.records import iso
from uhd_telephony.directory.ldap_client import fetch
from uhd_telephony.directory.ldap_config import LdapSource
from uhd_telephony.directory.ldap_mapping import Issue, Reading, read_entries
from uhd_telephony.directory.models import LDAP_SYNCS, USERS
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import User
from uhd_telephony.directory.repository import DirectoryRepository, UpsertCounts
from uhd_telephony.errors import Conflict, DirectoryError, UhdError
from uhd_telephony.i18n import Msg
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant

log = logging.getLogger(__name__)

Trigger = Literal["schedule", "command", "api"]
MAX_ERROR = 1000  # directory_ldap_syncs.error


@dataclass(frozen=True, slots=True)
class LdapSyncResult:
    """What one sync did (with ``dry_run``: would do): the users' counts and what the search held that was left out."""

    tenant: str
    entries: int
    users: UpsertCounts
    disabled: int
    skipped: dict[str, int]
    dropped: dict[str, int]
    issues: tuple[Issue, ...]
    started_at: datetime
    finished_at: datetime
    dry_run: bool = False
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "entries": self.entries,
            "users": self.users.to_dict(),
            "disabled": self.disabled,
            "skipped": dict(sorted(self.skipped.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "issues": [issue.to_dict() for issue in self.issues],
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "dry_run": self.dry_run,
            "forced": self.forced,
        }


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """Who asks for a sync and how: a dry run writes nothing at all, ``force`` passes the size guard."""

    trigger: Trigger = "command"
    actor: str | None = None
    dry_run: bool = False
    force: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _iso(moment: datetime) -> str | None:
    """As the call records and the tickets write an instant (ISO 8601, UTC, milliseconds, ``Z``)."""
    return iso(moment.timestamp())


def _read(source: LdapSource, password: str | None, tenant: str, plan: NumberingPlan) -> Reading:
    """Search and read the entries (in a worker thread)."""
    return read_entries(fetch(source, password), source, tenant, plan)


def check_size(tenant: str, found: int, active: int, min_share: float) -> None:
    """The size guard: Conflict when the search yields fewer than ``min_share`` of the users active now."""
    if active and found < active * min_share:
        raise Conflict(
            Msg(
                "the LDAP search found %(found)s usable users, fewer than %(share)s %% of the %(active)s active "
                "ones: is the filter or base DN broken? Nothing was changed; force the sync if this is right",
                found=found,
                share=round(min_share * 100),
                active=active,
            ),
            {"tenant": tenant, "found": found, "active": active, "min_share": min_share},
        )


async def _run(db: Database, tenant: str, source: LdapSource, request: SyncRequest) -> LdapSyncResult:
    repo = DirectoryRepository(db)
    password = source.password()
    plan = await repo.numbering(tenant)
    reading = await asyncio.to_thread(_read, source, password, tenant, plan)
    if not request.force:
        check_size(tenant, len(reading.users), await repo.count_users(tenant, active_only=True), source.min_share)
    users = await _keep_helpdesk_fields(db, tenant, reading.users)
    upserted = await repo.upsert(tenant, users, None, deactivate_missing=True, dry_run=request.dry_run)
    return LdapSyncResult(
        tenant,
        reading.entries,
        upserted.users,
        reading.disabled,
        dict(reading.skipped),
        dict(reading.dropped),
        tuple(reading.issues),
        request.started_at,
        datetime.now(UTC),
        request.dry_run,
        request.force,
    )


async def _keep_helpdesk_fields(db: Database, tenant: str, users: list[User]) -> list[User]:
    """LDAP knows people, not the helpdesk's view of them: a known user keeps the role and VIP flag the helpdesk
    gave them (an import file, the admin), which the directory would otherwise reset with every sync."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(USERS.c.external_id, USERS.c.role, USERS.c.vip).where(USERS.c.tenant == tenant)
        )
        kept = {external_id: (role, bool(vip)) for external_id, role, vip in rows}
    return [
        replace(u, role=kept[u.external_id][0], vip=kept[u.external_id][1]) if u.external_id in kept else u
        for u in users
    ]


async def sync_ldap(
    db: Database, tenant: str, source: LdapSource, request: SyncRequest | None = None
) -> LdapSyncResult:
    """Sync ``tenant``'s users from ``source``; every expected failure is a UhdError and nothing of the directory is
    written. The outcome, success or failure, is kept as the tenant's last sync, unless it is a dry run."""
    check_tenant(tenant, DirectoryError)
    request = request or SyncRequest()
    try:
        result = await _run(db, tenant, source, request)
    except UhdError as exc:
        if not request.dry_run:
            await _keep(db, tenant, request, ok=False, error=exc.message)
        raise
    if not request.dry_run:
        await _keep(db, tenant, request, ok=True, result=result.to_dict())
    log.info(
        "LDAP sync of %s%s: %d entries, users %s, %d disabled, skipped %s",
        tenant,
        " (dry run)" if request.dry_run else "",
        result.entries,
        result.users.to_dict(),
        result.disabled,
        result.skipped or "none",
    )
    return result


async def _keep(
    db: Database,
    tenant: str,
    request: SyncRequest,
    *,
    ok: bool,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    """Store the outcome as the tenant's last sync; a failure to store it is logged, never the sync's failure."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "trigger": request.trigger,
        "actor": request.actor,
        "started_at": request.started_at,
        "finished_at": now,
        "ok": ok,
        "error": None if error is None else clean_text(str(error))[:MAX_ERROR],
        "result": result,
    }
    if ok:
        values["last_ok_at"] = now
    try:
        for attempt in (1, 2):  # update, else insert; when a concurrent first sync inserted first, update after all
            try:
                async with db.engine.begin() as conn:
                    stmt = update(LDAP_SYNCS).where(LDAP_SYNCS.c.tenant == tenant).values(**values)
                    if not (await conn.execute(stmt)).rowcount:
                        await conn.execute(insert(LDAP_SYNCS).values(tenant=tenant, **values))
                return
            except IntegrityError:
                if attempt == 2:
                    raise
    except Exception:
        log.exception("the outcome of the LDAP sync of %s could not be stored", tenant)


async def last_sync(db: Database, tenant: str) -> dict[str, Any] | None:
    """The tenant's last sync as the admin API shows it, or None."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(LDAP_SYNCS).where(LDAP_SYNCS.c.tenant == tenant))).mappings().first()
    if row is None:
        return None
    return {
        "trigger": row["trigger"],
        "actor": row["actor"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "ok": row["ok"],
        "error": row["error"],
        "result": row["result"],
        "last_ok_at": None if row["last_ok_at"] is None else _iso(row["last_ok_at"]),
    }


async def last_started(db: Database) -> dict[str, datetime]:
    """When each tenant's last sync started: the schedule's clock."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(LDAP_SYNCS.c.tenant, LDAP_SYNCS.c.started_at))
        return {tenant: started for tenant, started in rows}
