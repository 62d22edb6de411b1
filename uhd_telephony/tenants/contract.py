"""KPIs as a tenant's contract defines them (issue 20 item 1), valid from the 1st of a month.

A hospital's contract fixes its call KPIs: the service level's threshold, whether abandons (and short abandons)
count in the base, the short-abandon threshold, whether calls outside business hours count, which queues count,
and the window in which an abandoned caller reached again is no lost caller. ``KpiRules`` is one such set; its
defaults are the SPEC's definitions (what every tenant without a contract row gets). ``kpi_contracts`` holds a
tenant's sets, each in force from its ``valid_from`` (always the 1st of a month, from midnight Europe/Berlin) until
the next one: a contract change never rewrites an earlier month. The live figures, the API and the monthly report
all take their rules from here (``rules_in_force``, ``rules_by_period``, ``schedules``), so the three agree; what
each rule does to a figure is ``metrics.kpi``'s docstring.

Setting a contract (``set_contract``: the admin API ``PUT /api/admin/tenants/{tenant}/kpi-contract`` and the command
line ``uhd-telephony tenant kpi-contract``) adds the row of its ``valid_from`` or replaces the row of that month.
A month that has already begun (``valid_from`` on or before the 1st of the current Berlin month) has been counted,
shown and perhaps reported under the rules in force then: its row is changed only with an explicit ``force`` (a
correction of a contract entered wrongly), and the audit entry says so and keeps the rules it replaced. Every
change is an audit entry under the tenant (``kpi_contract``) in the transaction that writes the row.
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from babel.units import format_unit
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from uhd_telephony.audit.log import AuditAction, AuditLog
from uhd_telephony.errors import InvalidInput, NotFound
from uhd_telephony.i18n import Msg, Quoted, format_date, format_number, gettext
from uhd_telephony.i18n.format import babel_locale
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import is_tenant
from uhd_telephony.tenants.models import REFERENCE_MAX, KpiContract, Tenant

log = logging.getLogger(__name__)

SERVICE_LEVEL_S = 20.0
SHORT_ABANDON_S = 5.0
CALLBACK_WINDOW_S = 2 * 3600.0  # business time
TIMEZONE = ZoneInfo("Europe/Berlin")  # a contract month begins at midnight here (metrics.kpi.TIMEZONE)
SERVICE_LEVEL_MAX_S = 3600.0
SHORT_ABANDON_MAX_S = 600.0
CALLBACK_WINDOW_MAX_S = 30 * 86400.0
QUEUES_MAX = 200  # queue names in one contract
QUEUE_NAME_MAX = 128  # calls.queue
FIRST_YEAR, LAST_YEAR = 2000, 2999
HISTORY_SHOWN = 120  # rows the API shows (ten years of monthly changes)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class KpiRules:
    """One contract's KPI definitions; the defaults are the SPEC's."""

    service_level_s: float = SERVICE_LEVEL_S  # answered within this many seconds (inclusive) is in the level
    short_abandon_s: float = SHORT_ABANDON_S  # an abandon before this many seconds of waiting is a short one
    abandons_in_service_level: bool = True  # abandoned stays count in the service level's base
    short_abandons_in_base: bool = False  # short abandons count in every ratio's base
    outside_hours_count: bool = False  # calls outside business hours count as offered, like any other
    queues: frozenset[str] | None = None  # None: every queue of the tenant counts
    callback_window_s: float = CALLBACK_WINDOW_S  # business seconds after an abandon to reach the caller again
    valid_from: date | None = None  # None: the defaults, no contract row
    reference: str | None = None  # the contract's reference, e.g. "Vertrag 2027-01 Anlage 3"

    def counts_queue(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues

    def terms(self) -> tuple[Any, ...]:
        """The rules without where they come from (``valid_from``, ``reference``): equal terms count alike."""
        return (
            self.service_level_s,
            self.short_abandon_s,
            self.abandons_in_service_level,
            self.short_abandons_in_base,
            self.outside_hours_count,
            self.queues,
            self.callback_window_s,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid_from": None if self.valid_from is None else self.valid_from.isoformat(),
            "service_level_s": self.service_level_s,
            "short_abandon_s": self.short_abandon_s,
            "abandons_in_service_level": self.abandons_in_service_level,
            "short_abandons_in_base": self.short_abandons_in_base,
            "outside_hours_count": self.outside_hours_count,
            "queues": None if self.queues is None else sorted(self.queues),
            "callback_window_s": self.callback_window_s,
            "reference": self.reference,
        }


DEFAULT_RULES = KpiRules()


def rules_of(row: KpiContract) -> KpiRules:
    return KpiRules(
        service_level_s=row.service_level_s,
        short_abandon_s=row.short_abandon_s,
        abandons_in_service_level=row.abandons_in_service_level,
        short_abandons_in_base=row.short_abandons_in_base,
        outside_hours_count=row.outside_hours_count,
        queues=None if row.queues is None else frozenset(row.queues),
        callback_window_s=row.callback_window_s,
        valid_from=row.valid_from,
        reference=row.reference,
    )


async def rules_in_force_in(session: AsyncSession, tenant: str, day: date) -> KpiRules:
    """The rules in force for ``tenant`` on ``day`` (the newest row with ``valid_from <= day``; none: defaults)."""
    row = (
        await session.execute(
            select(KpiContract)
            .where(KpiContract.tenant == tenant, KpiContract.valid_from <= day)
            .order_by(KpiContract.valid_from.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return DEFAULT_RULES if row is None else rules_of(row)


async def rules_in_force(db: Database, tenant: str, day: date) -> KpiRules:
    async with db.sessionmaker() as session:
        return await rules_in_force_in(session, tenant, day)


# ------------------------------------------------------------------------------------------------------ periods
def month_start(day: date) -> datetime:
    """Midnight Europe/Berlin at the start of ``day`` (a contract's first instant when ``day`` is its 1st)."""
    return datetime.combine(day, time(0), TIMEZONE)


def berlin_day(at: datetime | float) -> date:
    """The Europe/Berlin calendar day of an aware instant or an epoch time."""
    if isinstance(at, datetime):
        return at.astimezone(TIMEZONE).date()
    return datetime.fromtimestamp(at, TIMEZONE).date()


Schedule = tuple[KpiRules, ...]  # a tenant's contract rows, oldest first (empty: the defaults throughout)


def rules_at(schedule: Sequence[KpiRules], day: date) -> KpiRules:
    """The rules of ``schedule`` in force on ``day`` (the newest with ``valid_from <= day``; none: defaults)."""
    i = bisect_right([r.valid_from or date.min for r in schedule], day)
    return schedule[i - 1] if i else DEFAULT_RULES


async def schedule_of(db: Database, tenant: str) -> Schedule:
    """Every contract row of ``tenant``, oldest first."""
    async with db.sessionmaker() as session:
        stmt = select(KpiContract).where(KpiContract.tenant == tenant).order_by(KpiContract.valid_from)
        return tuple(rules_of(row) for row in await session.scalars(stmt))


async def schedules(db: Database) -> dict[str, Schedule]:
    """Every tenant's contract rows (tenants without one are missing: the defaults), for the live counters."""
    out: dict[str, list[KpiRules]] = {}
    async with db.sessionmaker() as session:
        stmt = select(KpiContract).order_by(KpiContract.tenant, KpiContract.valid_from)
        for row in await session.scalars(stmt):
            out.setdefault(row.tenant, []).append(rules_of(row))
    return {tenant: tuple(rows) for tenant, rows in out.items()}


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a period under one set of rules: ``[start, end)``."""

    start: datetime
    end: datetime
    rules: KpiRules


def split(schedule: Sequence[KpiRules], start: datetime, end: datetime) -> list[Part]:
    """``[start, end)`` cut at the start (midnight Europe/Berlin of its 1st) of every contract row within it,
    each part with the rules in force in it; one part when no contract changes inside the period."""
    parts: list[Part] = []
    at, rules = start, rules_at(schedule, berlin_day(start))
    for row in schedule:
        assert row.valid_from is not None
        begins = month_start(row.valid_from)
        if at < begins < end:
            parts.append(Part(at, begins, rules))
            at = begins
        if begins <= at:
            rules = row
    parts.append(Part(at, end, rules))
    return parts


async def rules_by_period(db: Database, tenant: str, start: datetime, end: datetime) -> list[Part]:
    """``split`` of the tenant's contract rows over ``[start, end)``."""
    return split(await schedule_of(db, tenant), start, end)


# ---------------------------------------------------------------------------------------------------- in words
def seconds_text(seconds: float, locale: str | None) -> str:
    """A threshold in seconds in words, its decimals kept: "20 Sek.", "2,5 Sek." (English "20 secs")."""
    return format_unit(seconds, "duration-second", length="short", locale=babel_locale(locale))


def describe(rules: KpiRules, locale: str | None) -> str:
    """The rules in one line in ``locale``, as the report prints them ("Servicelevel: angenommen innerhalb von
    20 Sek.; Kurzabbrecher (unter 5 Sek. Wartezeit) nicht in der Basis; …")."""
    t = seconds_text
    parts = [
        gettext(locale, "service level: answered within %(t)s", t=t(rules.service_level_s, locale)),
        gettext(
            locale,
            "short abandons (under %(t)s of waiting) in the base, as not answered"
            if rules.short_abandons_in_base
            else "short abandons (under %(t)s of waiting) not in the base",
            t=t(rules.short_abandon_s, locale),
        ),
        gettext(
            locale,
            "abandoned calls in the service level's base"
            if rules.abandons_in_service_level
            else "abandoned calls not in the service level's base",
        ),
        gettext(
            locale,
            "calls queued outside business hours count like any other"
            if rules.outside_hours_count
            else "calls outside business hours counted apart, in no ratio",
        ),
        gettext(locale, "all queues")
        if rules.queues is None
        else gettext(locale, "only the queues %(queues)s", queues=", ".join(sorted(rules.queues))),
    ]
    text = "; ".join(parts)
    if rules.valid_from is None:
        return gettext(locale, "%(rules)s (the standard definitions, no contract entered)", rules=text)
    since = format_date(rules.valid_from, locale)
    if rules.reference:
        return gettext(
            locale, "%(rules)s (contract %(reference)s, from %(date)s)", rules=text, reference=rules.reference,
            date=since,
        )  # fmt: skip
    return gettext(locale, "%(rules)s (contract from %(date)s)", rules=text, date=since)


# ------------------------------------------------------------------------------------------------------ setting
def _invalid(message: Msg, field: str) -> InvalidInput:
    return InvalidInput(message, {"field": field})


def check_valid_from(value: Any) -> date:
    """A contract's first day: a date (or ``YYYY-MM-DD``) that is the 1st of a month."""
    day: date | None = None
    if isinstance(value, datetime):
        day = None
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
    if day is None:
        raise _invalid(Msg("valid_from must be a date like 2027-01-01"), "valid_from")
    if day.day != 1:
        raise _invalid(
            Msg("a contract starts on the 1st of a month, not on %(date)s", date=day.isoformat()), "valid_from"
        )
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise _invalid(Msg("valid_from must lie between the years 2000 and 2999"), "valid_from")
    return day


def _seconds(value: Any, field: str, lowest: float, highest: float, *, zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(Msg("%(field)s must be a number of seconds", field=field), field)
    number = float(value)
    if number < lowest or (number == 0 and not zero) or number > highest:
        raise _invalid(
            Msg(
                "%(field)s must lie between %(lowest)s and %(highest)s seconds",
                field=field, lowest=format_number(lowest, None), highest=format_number(highest, None),
            ),
            field,
        )  # fmt: skip
    return number


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(Msg("%(field)s must be true or false", field=field), field)
    return value


def check_queues(value: Any) -> frozenset[str] | None:
    """None (every queue counts) or 1-200 distinct queue names of 1-128 printable characters."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise _invalid(Msg("queues must be a list of queue names, or null for all queues"), "queues")
    if not value:
        raise _invalid(Msg("name at least one queue, or null for all queues"), "queues")
    if len(value) > QUEUES_MAX:
        raise _invalid(Msg("at most %(n)s queues", n=QUEUES_MAX), "queues")
    names: set[str] = set()
    for name in value:
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= QUEUE_NAME_MAX
            or name != name.strip()
            or not name.isprintable()
        ):
            raise _invalid(Msg("a queue name is 1-128 printable characters without a blank at either end"), "queues")
        names.add(name)
    return frozenset(names)


def check_reference(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(Msg("a reference is 1-200 printable characters"), "reference")
    text = value.strip()
    if not text:
        return None
    if len(text) > REFERENCE_MAX or _CONTROL.search(text):
        raise _invalid(Msg("a reference is 1-200 printable characters"), "reference")
    return text


def check_rules(values: Mapping[str, Any]) -> KpiRules:
    """A contract from its fields (those missing take the defaults); InvalidInput naming the field otherwise."""
    known = {
        "valid_from", "service_level_s", "short_abandon_s", "abandons_in_service_level", "short_abandons_in_base",
        "outside_hours_count", "queues", "callback_window_s", "reference",
    }  # fmt: skip
    unknown = sorted(str(k)[:40] for k in values if k not in known)
    if unknown:
        raise _invalid(Msg("unknown field %(field)s", field=unknown[0]), unknown[0])
    d = DEFAULT_RULES
    return KpiRules(
        valid_from=check_valid_from(values.get("valid_from")),
        service_level_s=_seconds(
            values.get("service_level_s", d.service_level_s), "service_level_s", 0, SERVICE_LEVEL_MAX_S, zero=False
        ),
        short_abandon_s=_seconds(
            values.get("short_abandon_s", d.short_abandon_s), "short_abandon_s", 0, SHORT_ABANDON_MAX_S, zero=True
        ),
        abandons_in_service_level=_flag(
            values.get("abandons_in_service_level", d.abandons_in_service_level), "abandons_in_service_level"
        ),
        short_abandons_in_base=_flag(
            values.get("short_abandons_in_base", d.short_abandons_in_base), "short_abandons_in_base"
        ),
        outside_hours_count=_flag(values.get("outside_hours_count", d.outside_hours_count), "outside_hours_count"),
        queues=check_queues(values.get("queues")),
        callback_window_s=_seconds(
            values.get("callback_window_s", d.callback_window_s),
            "callback_window_s",
            0,
            CALLBACK_WINDOW_MAX_S,
            zero=False,
        ),
        reference=check_reference(values.get("reference")),
    )


@dataclass(frozen=True, slots=True)
class Contracts:
    """A tenant's contract rows (newest first) and the rules in force today."""

    tenant: str
    in_force: KpiRules
    history: list[KpiRules]
    changed: dict[date, tuple[str, datetime]]  # valid_from -> (changed_by, changed_at)

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        def row(rules: KpiRules) -> dict[str, Any]:
            out = rules.to_dict()
            by, at = self.changed.get(rules.valid_from, (None, None)) if rules.valid_from else (None, None)
            out["changed_by"] = by
            out["changed_at"] = None if at is None else at.astimezone(UTC).isoformat(timespec="seconds")
            out["text"] = describe(rules, locale)
            return out

        return {"tenant": self.tenant, "in_force": row(self.in_force), "history": [row(r) for r in self.history]}


async def contracts(db: Database, tenant: str, *, today: date | None = None) -> Contracts:
    """The tenant's contract rows and the rules in force ``today`` (Berlin); NotFound for an unknown tenant."""
    day = today or berlin_day(datetime.now(UTC))
    async with db.sessionmaker() as session:
        if not is_tenant(tenant) or await session.get(Tenant, tenant) is None:
            raise NotFound(Msg("no tenant %(tenant)s", tenant=Quoted(tenant, 64)), {"tenant": tenant})
        stmt = (
            select(KpiContract)
            .where(KpiContract.tenant == tenant)
            .order_by(KpiContract.valid_from.desc())
            .limit(HISTORY_SHOWN)
        )
        rows = list(await session.scalars(stmt))
        in_force = await rules_in_force_in(session, tenant, day)
    changed = {r.valid_from: (r.changed_by, r.changed_at) for r in rows}
    return Contracts(tenant, in_force, [rules_of(r) for r in rows], changed)


def _columns(rules: KpiRules) -> dict[str, Any]:
    return {
        "service_level_s": rules.service_level_s,
        "short_abandon_s": rules.short_abandon_s,
        "abandons_in_service_level": rules.abandons_in_service_level,
        "short_abandons_in_base": rules.short_abandons_in_base,
        "outside_hours_count": rules.outside_hours_count,
        "queues": None if rules.queues is None else sorted(rules.queues),
        "callback_window_s": rules.callback_window_s,
        "reference": rules.reference,
    }


async def set_contract(
    db: Database,
    tenant: str,
    values: Mapping[str, Any],
    *,
    actor: str,
    force: bool = False,
    ip: str | None = None,
    today: date | None = None,
) -> Contracts:
    """Add the contract row of ``values["valid_from"]`` or replace that month's row (module docstring: a month
    already begun only with ``force``), with its audit entry in one transaction. Setting the same terms again
    records nothing."""
    rules = check_rules(values)
    assert rules.valid_from is not None
    day = today or berlin_day(datetime.now(UTC))
    async with db.sessionmaker() as session:
        owner = await session.get(Tenant, tenant, with_for_update=True) if is_tenant(tenant) else None
        if owner is None:
            raise NotFound(Msg("no tenant %(tenant)s", tenant=Quoted(tenant, 64)), {"tenant": tenant})
        begun = rules.valid_from <= day.replace(day=1)
        if begun and not force:
            raise InvalidInput(
                Msg(
                    "the month of %(date)s has already begun and its figures were counted by the rules in force "
                    "then: set a contract from a later month, or correct this one with force",
                    date=rules.valid_from.isoformat(),
                ),
                {"field": "valid_from"},
            )
        row = (
            await session.execute(
                select(KpiContract).where(KpiContract.tenant == tenant, KpiContract.valid_from == rules.valid_from)
            )
        ).scalar_one_or_none()
        before = None if row is None else rules_of(row)
        if before is None or (before.terms(), before.reference) != (rules.terms(), rules.reference):
            now = datetime.now(UTC)
            if row is None:
                row = KpiContract(tenant=tenant, valid_from=rules.valid_from, changed_by=actor, changed_at=now)
                session.add(row)
            for name, value in _columns(rules).items():
                setattr(row, name, value)
            row.changed_by, row.changed_at = actor, now
            details: dict[str, Any] = {"rules": rules.to_dict(), "forced": begun}
            if before is not None:
                details["replaced"] = before.to_dict()
            AuditLog.add(
                session, AuditAction.KPI_CONTRACT_CHANGED, actor=actor, target=f"tenant:{tenant}", ip=ip,
                details=details, tenant=tenant,
            )  # fmt: skip
            await session.commit()
            log.info("tenant %s: KPI contract from %s set by %s%s", tenant, rules.valid_from, actor,
                     " (forced: a month already begun)" if begun else "")  # fmt: skip
    return await contracts(db, tenant, today=day)


def schedule_from(rows: Iterable[KpiRules]) -> Schedule:
    """Rules sorted by ``valid_from`` (tests and callers building a schedule by hand)."""
    return tuple(sorted(rows, key=lambda r: r.valid_from or date.min))
