"""The retention run: each tenant's periods applied by the rules (``privacy.rules``) — what the scanner does every
hour and ``uhd-telephony retention`` once; ``plan`` (the dry run) counts what would go and writes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.sync import stored_plans
from uhd_telephony.privacy.classes import DataClass
from uhd_telephony.privacy.models import INSTALLATION
from uhd_telephony.privacy.periods import Period, periods_of, secret_of
from uhd_telephony.privacy.rules import RULES, Scope
from uhd_telephony.runtime.scanner import utc_now
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.models import Tenant

log = logging.getLogger(__name__)

BATCH = 500  # rows (requesters: people) per transaction
MAX_BATCHES = 20  # per class and tenant in one scan: the rest waits for the next one


@dataclass(frozen=True, slots=True)
class Due:
    """One class of one tenant: its period, the cut-off instant, and what goes (or went) at it."""

    tenant: str
    data_class: DataClass
    days: int
    cutoff: datetime
    count: int
    oldest: datetime | None = None
    done: bool = True  # False: the run stopped at MAX_BATCHES, the next one goes on

    def to_dict(self) -> dict[str, Any]:
        c = self.data_class
        return {"tenant": self.tenant, "data_class": c.code, "days": self.days, "action": c.action.value,
                "cutoff": self.cutoff.isoformat(), "count": self.count,
                "oldest": None if self.oldest is None else self.oldest.isoformat(), "done": self.done}  # fmt: skip


class Retention:
    """Plans and applies the periods of one tenant or of every tenant; ``clock`` injectable for tests."""

    def __init__(
        self, db: Database, *, clock: Callable[[], datetime] = utc_now, batch: int = BATCH,
        max_batches: int = MAX_BATCHES,
    ) -> None:  # fmt: skip
        self.db = db
        self.clock = clock
        self.batch = batch
        self.max_batches = max_batches

    async def tenants(self) -> list[str]:
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(select(Tenant.tenant).order_by(Tenant.tenant))).scalars())

    async def plan(self, tenants: Sequence[str]) -> list[Due]:
        """What would go now, per tenant and class; writes nothing but a missing pseudonym key."""
        out = []
        for tenant, scope, period, cutoff in await self._each(tenants, keyed=False):
            rule = RULES.get(period.data_class.code)
            if rule is None:
                out.append(Due(tenant, period.data_class, period.days, cutoff, 0))
                continue
            async with self.db.engine.connect() as conn:
                count, oldest = await rule.count(conn, scope, cutoff)
            out.append(Due(tenant, period.data_class, period.days, cutoff, count, oldest))
        return out

    async def apply(self, tenants: Sequence[str]) -> list[Due]:
        """Every rule of every tenant, in batches (each its own transaction); what went."""
        out = []
        for tenant, scope, period, cutoff in await self._each(tenants, keyed=True):
            rule = RULES.get(period.data_class.code)
            total, done = 0, True
            if rule is not None:
                for _ in range(self.max_batches):
                    async with self.db.engine.begin() as conn:
                        n = await rule.batch(conn, scope, cutoff, self.batch)
                    total += n
                    if n < self.batch:
                        break
                else:
                    done = False
            if total:
                log.info("retention: %s %s: %d (older than %s)", tenant, period.data_class.code, total,
                         cutoff.isoformat())  # fmt: skip
            out.append(Due(tenant, period.data_class, period.days, cutoff, total, None, done))
        return out

    async def _each(self, tenants: Sequence[str], *, keyed: bool) -> list[tuple[str, Scope, Period, datetime]]:
        """(tenant, scope, period, cut-off) of every class of every tenant. An installation-wide class (the audit
        log) comes once, with the first tenant (with none at all: alone). ``keyed``: with the pseudonym keys
        (made on first use: a write, which the dry run never needs)."""
        now = self.clock()
        out: list[tuple[str, Scope, Period, datetime]] = []
        async with self.db.engine.begin() if keyed else self.db.engine.connect() as conn:
            plans = await stored_plans(conn, None)
            for n, tenant in enumerate(tenants or [INSTALLATION]):
                secret = await secret_of(conn, tenant) if keyed and tenant else ""
                scope = Scope(tenant, plans.get(tenant, NumberingPlan()), secret)
                for period in await periods_of(conn, tenant):
                    per_tenant = period.data_class.per_tenant
                    if (per_tenant and not tenant) or (not per_tenant and n > 0):
                        continue
                    out.append((tenant, scope, period, now - timedelta(days=period.days)))
        return out
