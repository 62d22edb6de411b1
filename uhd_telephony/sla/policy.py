"""A tenant's SLA as data: calendar, targets per priority, escalation contacts — validated, imported, loaded.

An SLA file (YAML or JSON, ``examples/sla.example.yaml``)::

    calendar:                        # or  calendar: {always: true}  for 24/7
      timezone: Europe/Berlin
      hours: {mon: ["07:00-12:00", "12:30-17:00"], ..., fri: ["07:00-15:00"]}
      holidays: {state: NW, categories: [public]}   # Bavaria: [public, catholic] for Mariä Himmelfahrt
      closed: ["2026-12-24"]         # extra closed days (24.12 and 31.12 are working days otherwise)
    unclassified_priority: 3         # the targets of a ticket not classified yet
    warning_at: 0.75                 # a warning once this share of a target is used
    levels: {warning: 1, breach: 2}  # who hears of it: 1 team lead, 2 management
    policies:
      1: {response: 15m, resolution: 4h, calendar: 24/7}
      3: {response: 2h, resolution: 3d}            # 3d = 3 x 24 h of business time; 1h30m, 900 (seconds)
    contacts:
      - {name: Teamleitung, level: 1, mail: [teamleitung@klinik-it.example]}
      - {name: KIS-Verantwortliche, level: 1, category: kis, mail: [kis@klinik-it.example]}
      - {name: IT-Leitung, level: 2, webhook: {url: https://..., secret_env: UHD_SLA_WEBHOOK_SECRET}}
      - {name: Service Desk Partner, level: 1, mail: [sd@partner.example], locale: en}  # its mails in English

An import replaces the tenant's SLA in one transaction and re-arms the timers of its open tickets: the scanner
recomputes each against the new targets (and fires what is due under them) within one scan.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import InvalidInput
from uhd_telephony.outbox.mail import MAX_RECIPIENTS, split_addresses, valid_address
from uhd_telephony.outbox.webhook import valid_secret
from uhd_telephony.sla.calendar import Calendar, SlaError, stored_calendar
from uhd_telephony.sla.clock import DEFAULT_WARN_SHARE, DONE, Policy
from uhd_telephony.sla.models import sla_contacts, sla_policies, sla_tenants, sla_timers
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant
from uhd_telephony.tickets.categories import load_file
from uhd_telephony.tickets.groups import recipient_locale
from uhd_telephony.tickets.view import tickets

WARNING_LEVEL, BREACH_LEVEL = 1, 2
_DURATION_RE = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m(?:in)?)?\s*(?:(\d+)s)?$")
MAX_TARGET = timedelta(days=365)
AROUND_THE_CLOCK = ("24/7", "always")
_TOP_KEYS = {"calendar", "unclassified_priority", "warning_at", "levels", "policies", "contacts"}
_POLICY_KEYS = {"response", "resolution", "warning_at", "calendar"}
_CONTACT_KEYS = {"name", "level", "category", "mail", "webhook", "locale"}
T = TypeVar("T")
_CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone told of an escalation (an SLA contact, or a support group of its OLA); ``webhook_secret`` stays out
    of ``repr``; ``locale``: the language of its mails (one of ``i18n.LOCALES``; None: German)."""

    name: str
    level: int
    category: str | None
    mail: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None = field(default=None, repr=False)
    id: int | None = None
    locale: str | None = None
    ref: str | None = None  # how a message's dedupe key names it (default: its id; a support group: group-<id>)

    def channels(self) -> tuple[str, ...]:
        return tuple(c for c, on in (("mail", bool(self.mail)), ("webhook", self.webhook_url is not None)) if on)

    @property
    def key(self) -> str:
        return self.ref if self.ref is not None else str(self.id)


class Targets:
    """What a tenant's SLA and a group's OLA (``sla.ola.GroupOla``) have in common: targets per priority in a
    business calendar, and the priority an unclassified ticket is measured by."""

    __slots__ = ()
    calendar: Calendar
    policies: Mapping[int, Policy]
    unclassified_priority: int

    def policy_for(self, priority: int | None) -> Policy | None:
        """The policy a ticket of ``priority`` is measured by (an unclassified one: ``unclassified_priority``)."""
        return self.policies.get(priority if priority is not None else self.unclassified_priority)

    def calendar_of(self, policy: Policy) -> Calendar:
        return Calendar.around_the_clock(self.calendar.timezone) if policy.around_the_clock else self.calendar


@dataclass(frozen=True, slots=True)
class TenantSla(Targets):
    """Everything the SLA of one tenant says."""

    tenant: str
    calendar: Calendar
    policies: Mapping[int, Policy]
    unclassified_priority: int = 3
    warning_level: int = WARNING_LEVEL
    breach_level: int = BREACH_LEVEL
    contacts: tuple[Contact, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "calendar": self.calendar.to_config(),
            "unclassified_priority": self.unclassified_priority,
            "levels": {"warning": self.warning_level, "breach": self.breach_level},
            "policies": [
                {
                    "priority": p.priority,
                    "response_s": int(p.response.total_seconds()),
                    "resolution_s": int(p.resolution.total_seconds()),
                    "warning_at": p.warn_share,
                    "calendar": "24/7" if p.around_the_clock else "business",
                }
                for p in sorted(self.policies.values(), key=lambda p: p.priority)
            ],
        }


# -- parsing --------------------------------------------------------------------------------------------------


def parse_duration(value: Any, what: str) -> timedelta:
    """``900`` (seconds), ``"15m"``, ``"4h"``, ``"1h30m"``, ``"3d"`` (3 x 24 h of calendar time)."""
    if isinstance(value, bool):
        raise SlaError(f"{what}: a duration like 15m, 4h, 1h30m or seconds, got {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip() and (m := _DURATION_RE.match(value.strip())):
        d, h, mi, s = (int(x) if x else 0 for x in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    else:
        raise SlaError(f"{what}: a duration like 15m, 4h, 1h30m or seconds, got {value!r}")
    duration = timedelta(seconds=seconds)
    if not timedelta(0) < duration <= MAX_TARGET:
        raise SlaError(f"{what}: between 1 second and 365 days, got {value!r}")
    return duration


def _share(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise SlaError(f"{what}: a share of the target between 0 and 1 (0.75 = at 75 %), got {value!r}")
    return float(value)


def _level(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
        raise SlaError(f"{what}: 1 (team lead), 2 (management) or 3, got {value!r}")
    return value


def _priority(value: Any, what: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise SlaError(f"{what}: a priority 1..5, got {value!r}")
    return value


def _policy(key: Any, raw: Any, default_share: float) -> Policy:
    prio = _priority(key, "policies")
    what = f"policy of priority {prio}"
    if not isinstance(raw, Mapping) or set(raw) - _POLICY_KEYS:
        raise SlaError(f"{what}: a mapping with response, resolution, optional warning_at and calendar")
    for needed in ("response", "resolution"):
        if needed not in raw:
            raise SlaError(f"{what}: '{needed}' is required")
    response = parse_duration(raw["response"], f"{what}, response")
    resolution = parse_duration(raw["resolution"], f"{what}, resolution")
    share = _share(raw.get("warning_at", default_share), f"{what}, warning_at")
    calendar = raw.get("calendar", "business")
    if calendar not in (*AROUND_THE_CLOCK, "business"):
        raise SlaError(f"{what}: calendar is 'business' (the tenant's hours) or '24/7', got {calendar!r}")
    return Policy(prio, response, resolution, share, calendar in AROUND_THE_CLOCK)


def _webhook(label: str, value: Any, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping) or set(value) - {"url", "secret", "secret_env"}:
        raise SlaError(f"{label}: 'webhook' is a mapping with url and secret (or secret_env)")
    url = value.get("url")
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= 2000 else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SlaError(f"{label}: 'webhook.url' must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise SlaError(f"{label}: 'webhook.url' must not carry credentials: the signature authenticates it")
    if ("secret" in value) == ("secret_env" in value):
        raise SlaError(f"{label}: give 'webhook.secret' or 'webhook.secret_env' (one of them)")
    if "secret_env" in value:
        name = value["secret_env"]
        secret = env.get(name) if isinstance(name, str) else None
        if secret is None:
            raise SlaError(f"{label}: environment variable {name!r} (the webhook secret) is not set")
    else:
        secret = value["secret"]
    if not valid_secret(secret):  # never echo the value
        raise SlaError(f"{label}: the webhook secret must be 'whsec_' + base64 of at least 24 random bytes")
    return url, secret


def _contact(index: int, raw: Any, env: Mapping[str, str]) -> Contact:
    label = f"contact #{index + 1}"
    if not isinstance(raw, Mapping):
        raise SlaError(f"{label}: a mapping with name, level, mail and/or webhook")
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        label = f"contact {name.strip()!r}"
    unknown = set(map(str, raw)) - _CONTACT_KEYS
    if unknown:
        raise SlaError(f"{label}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
        raise SlaError(f"{label}: 'name' is a text of 1..200 printable characters")
    level = _level(raw.get("level"), f"{label}, level")
    category = raw.get("category")
    if category is not None and (not isinstance(category, str) or not _CATEGORY_RE.match(category)):
        raise SlaError(f"{label}: 'category' is a category path such as kis or kis/login, got {category!r}")
    mail_raw = raw.get("mail") or []
    mail = split_addresses(mail_raw) if isinstance(mail_raw, str) else mail_raw
    if not isinstance(mail, list) or not all(isinstance(a, str) and valid_address(a.strip()) for a in mail):
        raise SlaError(f"{label}: 'mail' is a list of plain addresses (name@host)")
    if len(mail) > MAX_RECIPIENTS:
        raise SlaError(f"{label}: at most {MAX_RECIPIENTS} addresses")
    url, secret = _webhook(label, raw.get("webhook"), env)
    if not mail and url is None:
        raise SlaError(f"{label}: needs a 'mail' address or a 'webhook' to be told anything")
    try:
        locale = recipient_locale(raw.get("locale"))
    except ValueError as exc:
        raise SlaError(f"{label}: {exc}") from None
    addresses = tuple(dict.fromkeys(a.strip() for a in mail))
    return Contact(name.strip(), level, category, addresses, url, secret, locale=locale)


def parse_policies(data: Mapping[str, Any], share: float) -> tuple[dict[int, Policy], int]:
    """``data``'s ``policies`` by priority (each warning at ``share`` unless it says otherwise) and its
    ``unclassified_priority``, which must have one (an SLA file's, a group's of an OLA file)."""
    raw_policies = data["policies"]
    if not isinstance(raw_policies, Mapping) or not raw_policies:
        raise SlaError("'policies' maps priorities (1..5) to {response, resolution}")
    policies: dict[int, Policy] = {}
    for key, raw in raw_policies.items():
        policy = _policy(key, raw, share)
        if policy.priority in policies:
            raise SlaError(f"policy of priority {policy.priority} appears twice")
        policies[policy.priority] = policy
    unclassified = _priority(data.get("unclassified_priority", 3), "unclassified_priority")
    if unclassified not in policies:
        raise SlaError(f"unclassified_priority {unclassified} has no policy")
    return policies, unclassified


def parse_sla(tenant: str, data: Any, env: Mapping[str, str] | None = None) -> TenantSla:
    """A tenant's SLA from file data; SlaError names the first thing wrong."""
    env = os.environ if env is None else env
    if not isinstance(data, Mapping):
        raise SlaError("an SLA file is a mapping with calendar, policies and contacts")
    unknown = set(map(str, data)) - _TOP_KEYS
    if unknown:
        raise SlaError(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    if "calendar" not in data or "policies" not in data:
        raise SlaError("an SLA file needs 'calendar' and 'policies'")
    calendar = Calendar.from_config(data["calendar"])
    share = _share(data.get("warning_at", DEFAULT_WARN_SHARE), "warning_at")
    policies, unclassified = parse_policies(data, share)
    levels = data.get("levels") or {}
    if not isinstance(levels, Mapping) or set(levels) - {"warning", "breach"}:
        raise SlaError("'levels' is a mapping {warning: 1, breach: 2}")
    warning_level = _level(levels.get("warning", WARNING_LEVEL), "levels.warning")
    breach_level = _level(levels.get("breach", BREACH_LEVEL), "levels.breach")
    raw_contacts = data.get("contacts") or []
    if not isinstance(raw_contacts, list):
        raise SlaError("'contacts' is a list")
    contacts = tuple(_contact(i, raw, env) for i, raw in enumerate(raw_contacts))
    return TenantSla(tenant, calendar, policies, unclassified, warning_level, breach_level, contacts)


# -- the database ---------------------------------------------------------------------------------------------


def policy_row(row: Mapping[Any, Any]) -> Policy:
    """A policy as ``sla_policies`` (and ``ola_policies``) store it."""
    return Policy(
        row["priority"],
        timedelta(seconds=row["response_s"]),
        timedelta(seconds=row["resolution_s"]),
        row["warn_share"],
        row["around_the_clock"],
    )


async def load_calendar(conn: AsyncConnection, tenant: str) -> Calendar | None:
    """The tenant's business calendar (None: no SLA imported): what ``is_business_time`` takes."""
    stmt = select(sla_tenants.c.calendar).where(sla_tenants.c.tenant == tenant)
    found = (await conn.execute(stmt)).scalar_one_or_none()
    return None if found is None else stored_calendar(found)


async def load_calendars(db: Database) -> dict[str, Calendar]:
    """Every tenant's business calendar, for the KPIs that split calls by business hours."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(sla_tenants.c.tenant, sla_tenants.c.calendar))).all()
    return {tenant: stored_calendar(calendar) for tenant, calendar in rows}


async def load_sla(conn: AsyncConnection, tenant: str, *, with_contacts: bool = False) -> TenantSla | None:
    """The tenant's SLA in the caller's transaction; None when it has none."""
    return (await load_slas(conn, [tenant], with_contacts=with_contacts)).get(tenant)


async def load_slas(
    conn: AsyncConnection, tenants: Collection[str], *, with_contacts: bool = False
) -> dict[str, TenantSla]:
    """The SLAs of ``tenants`` in the caller's transaction, in three statements however many (a tenant without
    one is absent)."""
    wanted = sorted(set(tenants))
    if not wanted:
        return {}
    heads = (await conn.execute(select(sla_tenants).where(sla_tenants.c.tenant.in_(wanted)))).mappings().all()
    if not heads:
        return {}
    found = [h["tenant"] for h in heads]
    policies: dict[str, dict[int, Policy]] = {t: {} for t in found}
    for row in (await conn.execute(select(sla_policies).where(sla_policies.c.tenant.in_(found)))).mappings():
        policies[row["tenant"]][row["priority"]] = policy_row(row)
    contacts: dict[str, list[Contact]] = {t: [] for t in found}
    if with_contacts:
        stmt = select(sla_contacts).where(sla_contacts.c.tenant.in_(found)).order_by(sla_contacts.c.id)
        for c in (await conn.execute(stmt)).mappings():
            contacts[c["tenant"]].append(
                Contact(
                    c["name"],
                    c["level"],
                    c["category"],
                    tuple(split_addresses(c["mail"] or "")),
                    c["webhook_url"],
                    c["webhook_secret"],
                    c["id"],
                    c["locale"],
                )
            )
    return {
        h["tenant"]: TenantSla(
            tenant=h["tenant"],
            calendar=stored_calendar(h["calendar"]),
            policies=policies[h["tenant"]],
            unclassified_priority=h["unclassified_priority"],
            warning_level=h["warning_level"],
            breach_level=h["breach_level"],
            contacts=tuple(contacts[h["tenant"]]),
        )
        for h in heads
    }


class Loaded(Generic[T]):
    """The tenants' setups as one scan needs them (``LoadedSlas``, ``sla.ola_policy.LoadedOlas``): each loaded once,
    and again only when an import replaced it meanwhile — an import stamps its tenant's row of ``stamps``
    (``updated_at``) and re-arms the open tickets in the same transaction; a transaction that fired with the setup
    it replaced would store the old deadlines over the re-armed timers."""

    def __init__(self, stamps: Table, load: Callable[[AsyncConnection, list[str]], Awaitable[Mapping[str, T]]]):
        self._stamps = stamps
        self._load = load
        self._loaded: dict[str, tuple[datetime, T]] = {}

    async def of(self, conn: AsyncConnection, tenants: Collection[str]) -> dict[str, T]:
        """The current setup of each of ``tenants`` that has one, in the caller's transaction: one statement when
        none changed."""
        if not tenants:
            return {}
        table = self._stamps
        stmt = select(table.c.tenant, table.c.updated_at).where(table.c.tenant.in_(set(tenants)))
        stamps: dict[str, datetime] = dict((await conn.execute(stmt)).all())
        stale = [t for t, at in stamps.items() if t not in self._loaded or self._loaded[t][0] != at]
        for tenant, found in (await self._load(conn, stale)).items():
            self._loaded[tenant] = (stamps[tenant], found)
        return {t: found for t, (at, found) in self._loaded.items() if stamps.get(t) == at}


class LoadedSlas(Loaded[TenantSla]):
    """The tenants' SLAs with their contacts, as one scan needs them (``Loaded``)."""

    def __init__(self) -> None:
        super().__init__(sla_tenants, partial(load_slas, with_contacts=True))


async def contact_secret(conn: AsyncConnection, tenant: str, url: str) -> str | None:
    """The signing secret of the tenant's escalation contact posting to ``url`` (for the outbox worker)."""
    stmt = (
        select(sla_contacts.c.webhook_secret)
        .where(sla_contacts.c.tenant == tenant, sla_contacts.c.webhook_url == url)
        .order_by(sla_contacts.c.id.desc())
    )
    return (await conn.execute(stmt)).scalars().first()


def upsert_tenant(dialect: str, values: dict[str, Any], table: Table = sla_tenants) -> Any:
    """Insert or update the tenant's row of ``table`` (``sla_tenants``, or the OLA's ``ola_tenants``)."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.tenant], set_={k: stmt.excluded[k] for k in values if k != "tenant"}
    )


def file_data(
    path_or_data: str | os.PathLike[str] | Mapping[str, Any], kind: str = "SLA file", error: type[SlaError] = SlaError
) -> Any:
    """The data of a YAML or JSON file (the category loader's strict rules), or the data given; ``error`` names
    the file as ``kind`` when it cannot be read."""
    if not isinstance(path_or_data, str | os.PathLike):
        return path_or_data
    try:
        return load_file(path_or_data)
    except InvalidInput as exc:  # the category loader's errors name a "category file"
        raise error(exc.message.replace("category file", kind), exc.details) from None


async def arm_open_tickets(
    conn: AsyncConnection, tenant: str, now: datetime, *, table: Table = sla_timers, only: Any = None
) -> int:
    """Make every open ticket of the tenant due for recomputation now (the scanner does it within one scan);
    ``table``: the SLA's timers, or the OLA's (``ola_timers``, an OLA import); ``only``: a further condition on
    ``tickets`` (the OLA's: those with one of its groups, or with an instant stored)."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    # (ticket_id, tenant, next_due_at = now, computed_at = now) for each open ticket of the tenant
    source = select(
        tickets.c.id,
        tickets.c.tenant,
        literal(now, table.c.next_due_at.type),
        literal(now, table.c.computed_at.type),
    ).where(tickets.c.tenant == tenant, tickets.c.status.not_in(DONE))
    if only is not None:
        source = source.where(only)
    # in ticket order, as the scanner claims timers: the two lock rows in one order and never wait in a circle
    source = source.order_by(tickets.c.id)
    stmt = module.insert(table).from_select(["ticket_id", "tenant", "next_due_at", "computed_at"], source)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.ticket_id],
        set_={"next_due_at": stmt.excluded.next_due_at, "computed_at": stmt.excluded.computed_at},
    )
    return int((await conn.execute(stmt)).rowcount or 0)


@dataclass(frozen=True, slots=True)
class SlaImportResult:
    tenant: str
    policies: int
    contacts: int
    armed: int  # open tickets whose timers are recomputed against the new SLA

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "policies": self.policies, "contacts": self.contacts, "armed": self.armed}


async def import_sla(
    db: Database,
    tenant: str,
    path_or_data: str | os.PathLike[str] | Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> SlaImportResult:
    """Replace the tenant's SLA (calendar, policies, contacts) in one transaction and re-arm its open tickets."""
    check_tenant(tenant)
    sla = parse_sla(tenant, file_data(path_or_data), env)
    at = now or datetime.now(UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            upsert_tenant(
                conn.dialect.name,
                {
                    "tenant": tenant,
                    "calendar": sla.calendar.to_config(),
                    "unclassified_priority": sla.unclassified_priority,
                    "warning_level": sla.warning_level,
                    "breach_level": sla.breach_level,
                    "updated_at": at,
                },
            )
        )
        await conn.execute(delete(sla_policies).where(sla_policies.c.tenant == tenant))
        await conn.execute(
            insert(sla_policies),
            [
                {
                    "tenant": tenant,
                    "priority": p.priority,
                    "response_s": int(p.response.total_seconds()),
                    "resolution_s": int(p.resolution.total_seconds()),
                    "warn_share": p.warn_share,
                    "around_the_clock": p.around_the_clock,
                }
                for p in sla.policies.values()
            ],
        )
        await conn.execute(delete(sla_contacts).where(sla_contacts.c.tenant == tenant))
        if sla.contacts:
            await conn.execute(
                insert(sla_contacts),
                [
                    {
                        "tenant": tenant,
                        "level": c.level,
                        "category": c.category,
                        "name": c.name,
                        "mail": ", ".join(c.mail) or None,
                        "webhook_url": c.webhook_url,
                        "webhook_secret": c.webhook_secret,
                        "locale": c.locale,
                    }
                    for c in sla.contacts
                ],
            )
        armed = await arm_open_tickets(conn, tenant, at)
    return SlaImportResult(tenant, len(sla.policies), len(sla.contacts), armed)


def contacts_for(sla: TenantSla, level: int, category_path: str | None) -> list[Contact]:
    """Who hears of an escalation at ``level``: the contacts of the most specific category branch of the
    ticket that has any at that level, else the tenant-wide ones."""
    at_level = [c for c in sla.contacts if c.level == level]
    if category_path:
        branches = [
            c
            for c in at_level
            if c.category and (category_path == c.category or category_path.startswith(c.category + "/"))
        ]
        if branches:
            deepest = max(len(c.category or "") for c in branches)
            return [c for c in branches if len(c.category or "") == deepest]
    return [c for c in at_level if c.category is None]


__all__: Sequence[str] = [
    "Contact",
    "LoadedSlas",
    "SlaImportResult",
    "TenantSla",
    "contacts_for",
    "import_sla",
    "load_calendar",
    "load_calendars",
    "load_sla",
    "load_slas",
    "parse_duration",
    "parse_sla",
]
