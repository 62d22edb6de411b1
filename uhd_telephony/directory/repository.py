"""The directory in the database: users, places and their phones per tenant, upserted by ``external_id``."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, Table, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import PHONES, PLACES, USERS, fold
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, Place, TenantDirectory, User, gc_paused
from uhd_telephony.directory.sync import (
    AS_PLACE,
    AS_USER,
    Owner,
    UpsertCounts,
    UpsertResult,
    lock_tenant,
    phones_of,
    save_plan,
    stored_plans,
    sync,
)
from uhd_telephony.errors import Conflict
from uhd_telephony.store.db import Database

__all__ = ["DirectoryRepository", "UpsertCounts", "UpsertResult"]

_LIKE_SPECIAL = re.compile(r"([\\%_])")


class DirectoryRepository:
    """Reads and writes the directory; every method is one short transaction, scoped to one tenant."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reads --------------------------------------------------------------------------------------------

    async def get_user(self, tenant: str, user_id: int) -> User | None:
        """One user of this tenant by id (active or not); None for another tenant's id."""
        return await self._one(AS_USER, tenant, USERS.c.id == user_id)

    async def get_user_by_external_id(self, tenant: str, external_id: str) -> User | None:
        """One user of this tenant by the import key."""
        return await self._one(AS_USER, tenant, USERS.c.external_id == external_id)

    async def get_place(self, tenant: str, place_id: int) -> Place | None:
        """One place of this tenant by id (active or not)."""
        return await self._one(AS_PLACE, tenant, PLACES.c.id == place_id)

    async def search(self, tenant: str, text: str, limit: int = 20, *, include_inactive: bool = False) -> list[User]:
        """Users whose name or department contains ``text`` (case, umlaut spelling ignored); name matches first."""
        return await self._search(AS_USER, tenant, text, limit, include_inactive)

    async def search_places(self, tenant: str, text: str, limit: int = 20) -> list[Place]:
        """Active places whose name or department contains ``text``."""
        return await self._search(AS_PLACE, tenant, text, limit, False)

    async def count_users(self, tenant: str, *, active_only: bool = False) -> int:
        """How many users the tenant has (all, or only the active ones)."""
        stmt = select(func.count()).select_from(USERS).where(USERS.c.tenant == tenant)
        if active_only:
            stmt = stmt.where(USERS.c.active.is_(True))
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def numbering(self, tenant: str) -> NumberingPlan:
        """The tenant's numbering plan; the defaults (region DE, extensions up to 6 digits) when none is stored."""
        async with self.db.engine.connect() as conn:
            plans = await stored_plans(conn, tenant)
        return plans.get(tenant, NumberingPlan())

    async def fingerprints(self) -> dict[str, tuple[Any, ...]]:
        """Per tenant, what changes whenever its directory does (counts and newest edits): a cheap poll."""
        result: dict[str, list[Any]] = defaultdict(lambda: [0, None, 0, None, 0])
        async with self.db.engine.connect() as conn:
            for slot, table in ((0, USERS), (2, PLACES)):
                rows = await conn.execute(
                    select(table.c.tenant, func.count(), func.max(table.c.updated_at)).group_by(table.c.tenant)
                )
                for tenant, count, newest in rows:
                    result[tenant][slot] = count
                    result[tenant][slot + 1] = newest
            rows = await conn.execute(select(PHONES.c.tenant, func.count()).group_by(PHONES.c.tenant))
            for tenant, count in rows:
                result[tenant][4] = count
        return {tenant: tuple(values) for tenant, values in result.items()}

    async def directories(self, tenant: str | None = None) -> dict[str, TenantDirectory]:
        """The active users and places of one tenant or of all, with their plans: the lookup index's source."""
        async with self.db.engine.connect() as conn:
            plans = await stored_plans(conn, tenant)
            users = await self._all(conn, AS_USER, tenant)
            places = await self._all(conn, AS_PLACE, tenant)
        by_tenant: dict[str, tuple[list[User], list[Place]]] = defaultdict(lambda: ([], []))
        for user in users:
            by_tenant[user.tenant][0].append(user)
        for place in places:
            by_tenant[place.tenant][1].append(place)
        names = set(plans) | set(by_tenant) | ({tenant} if tenant is not None else set())
        return {
            name: TenantDirectory(
                name, plans.get(name, NumberingPlan()), tuple(by_tenant[name][0]), tuple(by_tenant[name][1])
            )
            for name in sorted(names)
        }

    # --- writes -------------------------------------------------------------------------------------------

    async def upsert(
        self,
        tenant: str,
        users: Sequence[User] = (),
        places: Sequence[Place] | None = (),
        *,
        plan: NumberingPlan | None = None,
        deactivate_missing: bool = False,
        dry_run: bool = False,
    ) -> UpsertResult:
        """Create or update users and places by ``(tenant, external_id)`` in one transaction; phones are replaced.

        Entries not given are kept, unless ``deactivate_missing`` (a full export from HR): then they are
        deactivated. A changed entry gets a new ``updated_at``; an unchanged one keeps its row untouched.
        ``places`` None leaves the places alone (a source of users only, such as an LDAP sync).
        ``dry_run`` does all of it and rolls back: the counts say what a real run would do.
        """
        now = datetime.now(UTC)
        try:
            async with self.db.engine.connect() as conn:
                trans = await conn.begin()
                try:
                    await lock_tenant(conn, tenant)
                    if plan is not None:
                        await save_plan(conn, tenant, plan, now)
                    user_counts = await sync(conn, AS_USER, tenant, users, deactivate_missing, now)
                    place_counts = (
                        UpsertCounts()
                        if places is None
                        else await sync(conn, AS_PLACE, tenant, places, deactivate_missing, now)
                    )
                except BaseException:
                    await trans.rollback()
                    raise
                if dry_run:
                    await trans.rollback()
                else:
                    await trans.commit()
        except IntegrityError as exc:
            # another import of the same tenant created the same external_id first
            raise Conflict(
                f"the directory of tenant {tenant!r} changed during this write; run it again",
                {"tenant": tenant, "error": str(exc.orig)},
            ) from exc
        return UpsertResult(user_counts, place_counts)

    async def upsert_users(self, tenant: str, users: Sequence[User]) -> UpsertCounts:
        """``upsert`` of users only."""
        return (await self.upsert(tenant, users=users)).users

    async def upsert_places(self, tenant: str, places: Sequence[Place]) -> UpsertCounts:
        """``upsert`` of places only."""
        return (await self.upsert(tenant, places=places)).places

    async def set_numbering(self, tenant: str, plan: NumberingPlan) -> None:
        """Store the tenant's numbering plan (region, extension length, PBX number block)."""
        async with self.db.engine.begin() as conn:
            await lock_tenant(conn, tenant)
            await save_plan(conn, tenant, plan, datetime.now(UTC))

    async def deactivate_user(self, tenant: str, external_id: str) -> bool:
        """Stop matching a user (left the hospital) but keep the row for old tickets; False when not found."""
        return await self._deactivate(USERS, tenant, external_id)

    async def deactivate_place(self, tenant: str, external_id: str) -> bool:
        """Stop matching a place; False when not found."""
        return await self._deactivate(PLACES, tenant, external_id)

    async def delete_user(self, tenant: str, external_id: str) -> bool:
        """Remove a user and their phones for good (e.g. a data-protection request); False when not found."""
        return await self._delete(AS_USER, tenant, external_id)

    async def delete_place(self, tenant: str, external_id: str) -> bool:
        """Remove a place and its phones; False when not found."""
        return await self._delete(AS_PLACE, tenant, external_id)

    # --- internals ----------------------------------------------------------------------------------------

    async def _one(self, spec: Owner, tenant: str, where: Any) -> Any:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(spec.select().where(spec.table.c.tenant == tenant, where))).first()
            if row is None:
                return None
            phones = await phones_of(conn, spec, tenant, [row[0]])
        return spec.record(row, phones.get(row[0], ()))

    async def _search(self, spec: Owner, tenant: str, text: str, limit: int, include_inactive: bool) -> list[Any]:
        needle = fold(text)
        if not needle or limit <= 0:
            return []
        table = spec.table
        escaped = _LIKE_SPECIAL.sub(r"\\\1", needle)
        stmt = spec.select().where(table.c.tenant == tenant, table.c.search_text.like(f"%{escaped}%", escape="\\"))
        if not include_inactive:
            stmt = stmt.where(table.c.active.is_(True))
        # search_text is "name\ndepartment" and folding leaves no newline inside either: the name starts
        # with the text, the name contains it, or only the department does
        name_first = case(
            (table.c.search_text.like(f"{escaped}%", escape="\\"), 0),
            (table.c.search_text.like(f"%{escaped}%\n%", escape="\\"), 1),
            else_=2,
        )
        stmt = stmt.order_by(name_first, table.c.name, table.c.id).limit(limit)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            phones = await phones_of(conn, spec, tenant, [row[0] for row in rows])
        return [spec.record(row, phones.get(row[0], ())) for row in rows]

    async def _all(self, conn: AsyncConnection, spec: Owner, tenant: str | None) -> list[Any]:
        table = spec.table
        owner = cast(Column[Any], PHONES.c[spec.owner])
        phone_stmt = select(owner, PHONES.c.kind, PHONES.c.number, PHONES.c.raw).where(owner.is_not(None))
        stmt = spec.select().where(table.c.active.is_(True))
        if tenant is not None:
            phone_stmt = phone_stmt.where(PHONES.c.tenant == tenant)
            stmt = stmt.where(table.c.tenant == tenant)
        phone_rows = (await conn.execute(phone_stmt.order_by(PHONES.c.id))).all()
        rows = (await conn.execute(stmt.order_by(table.c.id))).all()
        with gc_paused():
            phones: dict[int, list[Phone]] = defaultdict(list)
            for owner_id, kind, number, raw in phone_rows:
                phones[owner_id].append(Phone(kind, number, raw))
            return [spec.record(row, tuple(phones.get(row[0], ()))) for row in rows]

    async def _deactivate(self, table: Table, tenant: str, external_id: str) -> bool:
        stmt = (
            update(table)
            .where(table.c.tenant == tenant, table.c.external_id == external_id)
            .values(active=False, updated_at=datetime.now(UTC))
        )
        async with self.db.engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def _delete(self, spec: Owner, tenant: str, external_id: str) -> bool:
        table = spec.table
        async with self.db.engine.begin() as conn:
            found = await conn.execute(
                select(table.c.id).where(table.c.tenant == tenant, table.c.external_id == external_id)
            )
            owner_id = found.scalar_one_or_none()
            if owner_id is None:
                return False
            # explicitly, not by ON DELETE CASCADE: a SQLite connection opened elsewhere may lack foreign_keys=ON
            await conn.execute(delete(PHONES).where(PHONES.c[spec.owner] == owner_id))
            await conn.execute(delete(table).where(table.c.id == owner_id))
        return True
