"""Each tenant's retention periods (the defaults of ``privacy.classes``, or what an admin set) and the tenants'
pseudonym keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import InvalidInput
from uhd_telephony.privacy.classes import BY_CODE, CLASSES, DataClass, data_class
from uhd_telephony.privacy.models import INSTALLATION, keys, periods
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant


@dataclass(frozen=True, slots=True)
class Period:
    """One class's period for one tenant: its days, and who set them (None: the default)."""

    data_class: DataClass
    days: int
    set_by: str | None = None
    set_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.data_class
        return {
            "data_class": c.code,
            "days": self.days,
            "default_days": c.default_days,
            "minimum_days": c.minimum_days,
            "action": c.action.value,
            "per_tenant": c.per_tenant,
            "where": c.where,
            "set_by": self.set_by,
            "set_at": None if self.set_at is None else self.set_at.astimezone(UTC).isoformat(),
        }


def scope_of(cls: DataClass, tenant: str) -> str:
    """The tenant column of a class's row: the tenant, or the installation for the audit log."""
    return tenant if cls.per_tenant else INSTALLATION


def checked(code: str, days: int | None) -> tuple[DataClass, int | None]:
    """The class and the period (None: back to the default), or InvalidInput saying which rule the input broke."""
    try:
        cls = data_class(code)
        return cls, None if days is None else cls.check(days)
    except ValueError as exc:
        known = BY_CODE.get(code)
        details = {"data_class": str(code)[:40], "minimum_days": known.minimum_days if known else None,
                   "why": known.minimum_reason if known else None}  # fmt: skip
        raise InvalidInput(exc.args[0], details) from None


class Periods:
    """Reads and sets the periods; a write is one upsert (or delete: back to the default)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def of(self, tenant: str) -> list[Period]:
        """Every class's period for ``tenant``, in the registry's order."""
        async with self.db.engine.connect() as conn:
            return await periods_of(conn, tenant)

    async def set(self, tenant: str, code: str, days: int | None, actor: str) -> Period:
        """``days`` for the class from now on (None: the default again); the new period."""
        cls, days = checked(code, days)
        if cls.per_tenant:
            check_tenant(tenant)
        scope = scope_of(cls, tenant)
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(periods).where(periods.c.tenant == scope, periods.c.data_class == cls.code))
            if days is not None:
                await conn.execute(
                    periods.insert().values(
                        tenant=scope, data_class=cls.code, days=days, set_by=actor[:100], set_at=datetime.now(UTC)
                    )
                )
            found = await periods_of(conn, tenant)
        return next(p for p in found if p.data_class is cls)


async def periods_of(conn: AsyncConnection, tenant: str) -> list[Period]:
    rows = await conn.execute(select(periods).where(periods.c.tenant.in_((tenant, INSTALLATION))))
    stored = {(r.tenant, r.data_class): r for r in rows}
    out = []
    for cls in CLASSES:
        row = stored.get((scope_of(cls, tenant), cls.code))
        out.append(Period(cls, cls.default_days) if row is None else Period(cls, row.days, row.set_by, row.set_at))
    return out


async def secret_of(conn: AsyncConnection, tenant: str) -> str:
    """The tenant's pseudonym key, made on first use (two instances making it at once agree on the first)."""
    found = (await conn.execute(select(keys.c.secret).where(keys.c.tenant == tenant))).scalar_one_or_none()
    if found is not None:
        return str(found)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"tenant": tenant, "secret": secrets.token_hex(32), "created_at": datetime.now(UTC)}
    await conn.execute(dialect.insert(keys).values(**values).on_conflict_do_nothing(index_elements=["tenant"]))
    return str((await conn.execute(select(keys.c.secret).where(keys.c.tenant == tenant))).scalar_one())
