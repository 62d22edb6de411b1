"""Tenants as data: add and list them with their hotline numbers; the call tracker's number → tenant resolver."""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.numbers import normalise
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import Hotlines, check_new_tenant
from uhd_telephony.tenants.models import NUMBER_MAX, QUEUE_MAX, Tenant, TenantHotline

log = logging.getLogger(__name__)

DEFAULT_REGION = "DE"
DEFAULT_TIME_ZONE = "Europe/Berlin"
# an Asterisk queue name as queues.conf takes it ([klinikum-nord-hotline])
_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0," + str(QUEUE_MAX - 1) + r"}")


@dataclass(frozen=True, slots=True)
class HotlineView:
    number: str
    queue: str

    def to_dict(self) -> dict[str, str]:
        return {"number": self.number, "queue": self.queue}


@dataclass(frozen=True, slots=True)
class TenantView:
    """A tenant as the API and the CLI show it."""

    tenant: str
    name: str
    region: str
    time_zone: str
    active: bool
    created_at: datetime | None
    hotlines: tuple[HotlineView, ...] = ()
    per_agent_figures: bool = False  # the works agreement allows figures per agent (live KPIs, wallboard)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "name": self.name,
            "region": self.region,
            "time_zone": self.time_zone,
            "active": self.active,
            "per_agent_figures": self.per_agent_figures,
            "created_at": None if self.created_at is None else self.created_at.isoformat().replace("+00:00", "Z"),
            "hotlines": [h.to_dict() for h in self.hotlines],
        }

    @classmethod
    def of(cls, row: Tenant) -> TenantView:
        return cls(
            tenant=row.tenant,
            name=row.name,
            region=row.region,
            time_zone=row.time_zone,
            active=row.active,
            created_at=row.created_at,
            hotlines=tuple(HotlineView(h.number, h.queue) for h in row.hotlines),
            per_agent_figures=bool(row.per_agent_figures),
        )


def check_region(region: str) -> str:
    value = region.strip().upper() if isinstance(region, str) else ""
    if value not in phonenumbers.SUPPORTED_REGIONS:
        unknown = Msg("unknown region %(region)s: a two-letter country code such as DE", region=Quoted(region, 40))
        raise InvalidInput(unknown, {"field": "region"})
    return value


def check_time_zone(name: str) -> str:
    value = name.strip() if isinstance(name, str) else ""
    try:
        if not value or value.startswith("/") or ".." in value:
            raise ValueError(value)
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        unknown = Msg("unknown time zone %(zone)s, e.g. Europe/Berlin", zone=Quoted(name, 80))
        raise InvalidInput(unknown, {"field": "time_zone"}) from None
    return value


def hotline_number(raw: str, region: str = DEFAULT_REGION) -> str:
    """A hotline number in E.164 (``+49231990001``) from any way it is written; InvalidInput otherwise."""
    key = normalise(raw, region) if isinstance(raw, str) else None
    if key is None or not key.startswith("+") or len(key) > NUMBER_MAX:
        not_public = Msg("%(number)s is not a public phone number", number=Quoted(str(raw), 40))
        raise InvalidInput(not_public, {"field": "hotlines.number"})
    return key


def check_queue(queue: str) -> str:
    value = queue.strip() if isinstance(queue, str) else ""
    if not _QUEUE.fullmatch(value):
        not_a_queue = Msg("%(queue)s is not an Asterisk queue name", queue=Quoted(str(queue), 40))
        raise InvalidInput(not_a_queue, {"field": "hotlines.queue"})
    return value


def parse_hotline(spec: str) -> tuple[str, str]:
    """``NUMBER=QUEUE`` as the CLI takes it."""
    number, sep, queue = spec.partition("=")
    if not sep:
        raise InvalidInput(Msg("a hotline is NUMBER=QUEUE, got %(spec)s", spec=Quoted(spec, 80)), {"field": "hotline"})
    return number.strip(), queue.strip()


class TenantService:
    """The tenants table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        tenant: str,
        *,
        name: str,
        region: str = DEFAULT_REGION,
        time_zone: str = DEFAULT_TIME_ZONE,
        hotlines: Iterable[tuple[str, str]] = (),
    ) -> TenantView:
        """A new tenant with its hotline numbers; ``Conflict`` when the slug or a number is taken."""
        slug = check_new_tenant(tenant)
        display = name.strip() if isinstance(name, str) else ""
        if not display or len(display) > 200:
            raise InvalidInput(Msg("a tenant's name is 1-200 characters"), {"field": "name"})
        checked_region = check_region(region)
        zone = check_time_zone(time_zone)
        lines: dict[str, str] = {}
        for number, queue in hotlines:
            key = hotline_number(number, checked_region)
            if key in lines:
                raise InvalidInput(
                    Msg("the hotline %(number)s is given twice", number=key), {"field": "hotlines.number"}
                )
            lines[key] = check_queue(queue)
        async with self.db.sessionmaker() as session:
            if await session.get(Tenant, slug) is not None:
                raise Conflict(Msg("the tenant %(tenant)s exists", tenant=Quoted(slug)), {"field": "tenant"})
            taken = list(await session.scalars(select(TenantHotline).where(TenantHotline.number.in_(list(lines)))))
            if taken:
                owner = taken[0]
                elsewhere = Msg("the hotline %(number)s belongs to another tenant", number=owner.number)
                raise Conflict(elsewhere, {"field": "hotlines.number"})
            row = Tenant(
                tenant=slug,
                name=display,
                region=checked_region,
                time_zone=zone,
                active=True,
                hotlines=[TenantHotline(number=n, queue=q) for n, q in lines.items()],
            )
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # a concurrent add of the same slug or number
                await session.rollback()
                exists = Msg("the tenant %(tenant)s or one of its hotlines exists", tenant=Quoted(slug))
                raise Conflict(exists, {"field": "tenant"}) from None
            row = await self._load(session, slug)
            view = TenantView.of(row)
        log.info("tenant %s added with %d hotline(s)", slug, len(lines))
        return view

    @staticmethod
    async def _load(session: Any, slug: str) -> Tenant:
        stmt = select(Tenant).where(Tenant.tenant == slug).execution_options(populate_existing=True)
        row = await session.scalar(stmt)
        if row is None:
            raise NotFound(Msg("no tenant %(tenant)s", tenant=Quoted(slug)), {"tenant": slug})
        return row

    async def get(self, tenant: str) -> TenantView:
        async with self.db.sessionmaker() as session:
            return TenantView.of(await self._load(session, tenant))

    async def per_agent_figures(self, tenant: str) -> bool:
        """Whether the tenant's works agreement allows figures per agent; False for a tenant not in the table.
        (Switched, with its record, by ``tenants.works_agreement.set_per_agent_figures`` only.)"""
        async with self.db.sessionmaker() as session:
            found = await session.scalar(select(Tenant.per_agent_figures).where(Tenant.tenant == tenant))
        return bool(found)

    async def list_all(self) -> list[TenantView]:
        async with self.db.sessionmaker() as session:
            return [TenantView.of(row) for row in await session.scalars(select(Tenant).order_by(Tenant.tenant))]

    async def resolver(self, settings_numbers: Iterable[str] = ()) -> HotlineResolver | None:
        """The number → tenant resolver of the active tenants' hotlines; None when there are none.

        ``settings_numbers`` are the numbers ``UHD_TENANT_NUMBERS`` maps (as the tracker keeps them): a call to one
        of those is left to the settings rather than mapped by its queue here.
        """
        tenants = [t for t in await self.list_all() if t.active]
        numbers = {h.number: t.tenant for t in tenants for h in t.hotlines}
        if not numbers:
            return None
        owners: dict[str, set[str]] = {}
        for t in tenants:
            for h in t.hotlines:
                owners.setdefault(h.queue, set()).add(t.tenant)
        # a queue two tenants share says nothing about the tenant: only the dialled number can
        queues = {queue: next(iter(found)) for queue, found in owners.items() if len(found) == 1}
        regions = tuple(sorted({t.region for t in tenants}, key=lambda r: (r != DEFAULT_REGION, r)))
        return Hotlines(numbers, queues, regions, frozenset(settings_numbers), parse=_key)


@lru_cache(maxsize=4096)
def _key(dialled: str, region: str) -> str | None:
    # phonenumbers parses in tens of microseconds; the same few hotline numbers are dialled all day
    return normalise(dialled, region)


# ``CallTracker(tenant_resolver=…)``: the tenants table's part of ``uhd_telephony.tenant.resolve_tenant``
HotlineResolver = Hotlines


async def display_names(conn: AsyncConnection) -> dict[str, str]:
    """Every tenant's display name by slug, in the caller's transaction (what pages, mails and reports show)."""
    rows = await conn.execute(select(Tenant.tenant, Tenant.name))
    return {row.tenant: row.name for row in rows}


async def hotline_resolver(db: Database, settings_numbers: Iterable[str] = ()) -> HotlineResolver | None:
    """The resolver built from the tenants table (the call service wires it in at start)."""
    return await TenantService(db).resolver(settings_numbers)
