"""The write side of the directory: bring a tenant's stored users or places in line with a given list.

One upsert reads the tenant's entries, compares each given entry with the stored one (everything but id and
timestamps) and inserts, updates (replacing the phones) or leaves it; with ``deactivate_missing`` the
entries not given are deactivated. Writers of one tenant take turns (``lock_tenant``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Select, Table, bindparam, delete, insert, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import NUMBERING, PHONES, PLACES, USERS, search_text_of
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, Place, User
from uhd_telephony.errors import DirectoryError

USER_FIELDS = ("name", "department", "role", "location", "email", "vip", "active")
PLACE_FIELDS = ("name", "department", "location", "active")
CHUNK = 500  # ids per IN (...): far below SQLite's and asyncpg's parameter limits


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What one upsert did to the users or to the places of a tenant."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
        }


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Counts of one ``DirectoryRepository.upsert`` transaction."""

    users: UpsertCounts = field(default_factory=UpsertCounts)
    places: UpsertCounts = field(default_factory=UpsertCounts)


@dataclass(frozen=True, slots=True)
class Owner:
    """What differs between users and places when they are stored: table, owner column, fields, record type."""

    table: Table
    owner: str
    fields: tuple[str, ...]
    cls: type[User] | type[Place]

    def select(self) -> Select[Any]:
        """The columns ``record`` reads, in its order: id, tenant, external_id, updated_at, then the fields."""
        t = self.table
        return select(t.c.id, t.c.tenant, t.c.external_id, t.c.updated_at, *(t.c[name] for name in self.fields))

    def record(self, row: Sequence[Any], phones: tuple[Phone, ...]) -> Any:
        values = dict(zip(self.fields, row[4:], strict=True))
        return self.cls(row[1], row[2], phones=phones, id=row[0], updated_at=row[3], **values)


AS_USER = Owner(USERS, "user_id", USER_FIELDS, User)
AS_PLACE = Owner(PLACES, "place_id", PLACE_FIELDS, Place)


def dedupe_phones(phones: Iterable[Phone]) -> tuple[Phone, ...]:
    """One phone per (kind, number): the same number typed twice in two formats is one phone."""
    seen: dict[tuple[str, str], Phone] = {}
    for phone in phones:
        seen.setdefault((phone.kind, phone.number), phone)
    return tuple(seen.values())


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """``ids`` in slices of CHUNK, one ``IN (...)`` each."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


async def stored_plans(conn: AsyncConnection, tenant: str | None) -> dict[str, NumberingPlan]:
    """The stored numbering plans of one tenant or of all."""
    stmt = select(NUMBERING)
    if tenant is not None:
        stmt = stmt.where(NUMBERING.c.tenant == tenant)
    return {
        row["tenant"]: NumberingPlan(row["region"], row["extension_prefix"], row["max_extension_length"])
        for row in (await conn.execute(stmt)).mappings()
    }


async def save_plan(conn: AsyncConnection, tenant: str, plan: NumberingPlan, now: datetime) -> None:
    """Store the tenant's numbering plan (callers hold ``lock_tenant``, so update-else-insert cannot race)."""
    values = {
        "region": plan.region,
        "extension_prefix": plan.extension_prefix,
        "max_extension_length": plan.max_extension_length,
        "updated_at": now,
    }
    changed = await conn.execute(update(NUMBERING).where(NUMBERING.c.tenant == tenant).values(**values))
    if changed.rowcount == 0:
        await conn.execute(insert(NUMBERING).values(tenant=tenant, **values))


async def phones_of(
    conn: AsyncConnection, spec: Owner, tenant: str, ids: Sequence[int] | None
) -> dict[int, tuple[Phone, ...]]:
    """The phones of these users (or places) of the tenant, or of all of them (``ids`` None)."""
    owner = cast(Column[Any], PHONES.c[spec.owner])
    stmt = select(owner, PHONES.c.kind, PHONES.c.number, PHONES.c.raw).where(PHONES.c.tenant == tenant)
    if ids is None:
        statements = [stmt.where(owner.is_not(None))]
    else:
        statements = [stmt.where(owner.in_(chunk)) for chunk in chunks(ids)]
    found: dict[int, list[Phone]] = defaultdict(list)
    for statement in statements:
        for owner_id, kind, number, raw in await conn.execute(statement.order_by(PHONES.c.id)):
            found[owner_id].append(Phone(kind, number, raw))
    return {owner_id: tuple(phones) for owner_id, phones in found.items()}


async def lock_tenant(conn: AsyncConnection, tenant: str) -> None:
    """Make concurrent writers of one tenant's directory take turns, until this transaction ends.

    Each write reads the tenant's entries first and bases its inserts, updates and phone replacements on
    that read: a second writer in between would leave duplicate phones or a failed insert.
    """
    if conn.dialect.name == "postgresql":
        key = f"uhd-directory:{tenant}"
        await conn.execute(sql_text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:
        # SQLite has one writer at a time: a write as the first statement (even one that changes no row)
        # takes the lock now, before the read; otherwise a concurrent commit makes that read stale
        await conn.execute(update(NUMBERING).where(NUMBERING.c.tenant == tenant).values(tenant=NUMBERING.c.tenant))


def _row(spec: Owner, record: Any, now: datetime) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in spec.fields}
    values["search_text"] = search_text_of(record.name, record.department)
    values["updated_at"] = now
    return values


async def sync(
    conn: AsyncConnection,
    spec: Owner,
    tenant: str,
    records: Sequence[Any],
    deactivate_missing: bool,
    now: datetime,
) -> UpsertCounts:
    """Bring the tenant's users (or places) in line with ``records``: insert, update, leave, deactivate."""
    table = spec.table
    rows = (await conn.execute(spec.select().where(table.c.tenant == tenant))).all()
    stored_phones = await phones_of(conn, spec, tenant, None)
    existing = {row[2]: spec.record(row, stored_phones.get(row[0], ())) for row in rows}

    seen: set[str] = set()
    inserts: list[Any] = []
    updates: list[tuple[int, Any]] = []
    unchanged = 0
    for given in records:
        if given.tenant != tenant:
            raise DirectoryError(f"{given.external_id!r} belongs to tenant {given.tenant!r}, not {tenant!r}")
        if given.external_id in seen:
            raise DirectoryError(f"external_id {given.external_id!r} given twice", {"external_id": given.external_id})
        seen.add(given.external_id)
        record = replace(given, phones=dedupe_phones(given.phones))
        old = existing.get(record.external_id)
        if old is None:
            inserts.append(record)
        elif old.content() != record.content():
            updates.append((old.id, record))
        else:
            unchanged += 1
    stale = [old.id for key, old in existing.items() if key not in seen and old.active] if deactivate_missing else []

    new_ids: list[int] = []
    if inserts:
        values = [
            {**_row(spec, r, now), "tenant": tenant, "external_id": r.external_id, "created_at": now} for r in inserts
        ]
        # no RETURNING: an ordered RETURNING makes SQLite insert one row per statement, 30 times slower
        await conn.execute(insert(table), values)
        ids = await conn.execute(select(table.c.external_id, table.c.id).where(table.c.tenant == tenant))
        id_of: dict[str, int] = {external_id: row_id for external_id, row_id in ids}
        new_ids = [id_of[r.external_id] for r in inserts]
    if updates:
        names = (*spec.fields, "search_text", "updated_at")
        stmt_u = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in names})
        )
        params = [{"b_id": row_id, **{f"b_{k}": v for k, v in _row(spec, r, now).items()}} for row_id, r in updates]
        await conn.execute(stmt_u, params)
        changed_ids = [row_id for row_id, _ in updates]
        for chunk in chunks(changed_ids):
            await conn.execute(delete(PHONES).where(PHONES.c[spec.owner].in_(chunk)))
    phone_rows = [
        {"tenant": tenant, spec.owner: row_id, "kind": p.kind, "number": p.number, "raw": p.raw}
        for row_id, record in [*zip(new_ids, inserts, strict=True), *updates]
        for p in record.phones
    ]
    if phone_rows:
        other = "place_id" if spec.owner == "user_id" else "user_id"
        await conn.execute(insert(PHONES), [{**row, other: None} for row in phone_rows])
    for chunk in chunks(stale):
        await conn.execute(update(table).where(table.c.id.in_(chunk)).values(active=False, updated_at=now))
    return UpsertCounts(len(inserts), len(updates), unchanged, len(stale))
