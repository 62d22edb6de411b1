"""Support groups per tenant: who works routed tickets and where their work orders go (mail, signed webhook).

A group file (YAML or JSON) is a list, or a mapping with the list under ``groups``. Each group::

    code: 2nd_level                  # 1st_level, 2nd_level, 3rd_level or partner:<firm>; what categories name
    name: 2nd-Level-Support          # shown in work orders
    level: 2                         # 1..3; default from the code (partners: 3)
    mail: [2nd-level@it.example]     # work-order recipients (a list or one comma-separated text)
    webhook:                         # optional: a signed JSON POST (Standard Webhooks)
      url: https://tickets.partner.example/uhd
      secret_env: UHD_PARTNER_SECRET # or ``secret: whsec_...`` (keep secrets out of files in git)
    locale: en                       # optional: the work orders' language, de or en (default: German)
    active: true

A re-import updates groups by code, adds new ones and (with ``prune``) deactivates the ones the file no longer
has. The webhook secret is stored (it signs every request) and never logged or shown; ``GroupView`` omits it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from sqlalchemy import false, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict, InvalidInput
from uhd_telephony.i18n import DEFAULT_LOCALE, LOCALES, check_locale, is_locale
from uhd_telephony.outbox.mail import MAX_RECIPIENTS, split_addresses, valid_address
from uhd_telephony.outbox.webhook import valid_secret
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenant import check_tenant
from uhd_telephony.tickets.categories import load_file
from uhd_telephony.tickets.models import FIRST_LEVEL, SupportGroup

support_groups = table_of(SupportGroup)

SECOND_LEVEL = "2nd_level"
THIRD_LEVEL = "3rd_level"
PARTNER_PREFIX = "partner"
STANDARD_LEVELS = {FIRST_LEVEL: 1, SECOND_LEVEL: 2, THIRD_LEVEL: 3}
# the same shape categories.py accepts for a category's group
GROUP_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*(:[a-z0-9][a-z0-9_.-]*)?$")
_KEYS = {"code", "name", "level", "mail", "webhook", "locale", "active"}
_WEBHOOK_KEYS = {"url", "secret", "secret_env"}
_FIELDS = ("name", "level", "mail", "webhook_url", "webhook_secret", "locale", "active")
SECRET_HINT = (
    "make one with: python -c \"import base64, secrets; print('whsec_' + base64.b64encode(secrets.token_bytes(32))"
    '.decode())"'
)


class GroupError(InvalidInput):
    """A group file or value that cannot be stored; the message names the group."""

    error_id = "invalid-support-group"


def valid_code(code: object) -> bool:
    """``1st_level``, ``2nd_level``, ``3rd_level``, ``partner:<firm>`` or another lower-case slug."""
    return isinstance(code, str) and 0 < len(code) <= 64 and GROUP_RE.match(code) is not None


def default_level(code: str) -> int:
    """The level a code stands for: 1, 2 or 3; partners and other teams count as 3 unless a file says otherwise."""
    return STANDARD_LEVELS.get(code, 3)


def public_label(code: str | None) -> tuple[str, str]:
    """How the caller's status page names a group (German, English): levels by number, partners without names."""
    if code is None or code == FIRST_LEVEL:
        return "1st-Level-Support (User Helpdesk)", "1st level support (user helpdesk)"
    if code == SECOND_LEVEL:
        return "2nd-Level-Support", "2nd level support"
    if code == THIRD_LEVEL:
        return "3rd-Level-Support", "3rd level support"
    if code.startswith(PARTNER_PREFIX):
        return "einen externen Servicepartner", "an external service partner"
    return "eine Fachabteilung", "a specialist team"


def is_partner(code: str) -> bool:
    """Whether a group is an external service partner's (``partner:<firm>``), not the helpdesk's own staff."""
    return code == PARTNER_PREFIX or code.startswith(PARTNER_PREFIX + ":")


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group as the API and routing see it; the webhook secret stays out of ``repr`` and ``to_dict``."""

    id: int
    tenant: str
    code: str
    name: str
    level: int
    mail: list[str]
    webhook_url: str | None
    active: bool
    webhook_secret: str | None = field(default=None, repr=False)
    locale: str = DEFAULT_LOCALE  # the language of its work orders (mail)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "mail": list(self.mail),
            "webhook_url": self.webhook_url,
            "webhook_signed": self.webhook_secret is not None,
            "locale": self.locale,
            "active": self.active,
        }


def _view(row: Mapping[Any, Any]) -> GroupView:
    return GroupView(
        id=row["id"],
        tenant=row["tenant"],
        code=row["code"],
        name=row["name"],
        level=row["level"],
        mail=split_addresses(row["mail"] or ""),
        webhook_url=row["webhook_url"],
        active=row["active"],
        webhook_secret=row["webhook_secret"],
        locale=check_locale(row["locale"]),
    )


async def get_group(conn: AsyncConnection, tenant: str, code: str, *, active_only: bool = True) -> GroupView | None:
    """The tenant's group with this code, in the caller's transaction; None when there is none (or inactive)."""
    stmt = select(support_groups).where(support_groups.c.tenant == tenant, support_groups.c.code == code)
    row = (await conn.execute(stmt)).mappings().first()
    if row is None or (active_only and not row["active"]):
        return None
    return _view(row)


async def list_groups(db: Database, tenant: str, *, include_inactive: bool = False) -> list[GroupView]:
    """The tenant's groups by level, then code."""
    stmt = select(support_groups).where(support_groups.c.tenant == tenant)
    if not include_inactive:
        stmt = stmt.where(support_groups.c.active)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt.order_by(support_groups.c.level, support_groups.c.code))).mappings()
        return [_view(row) for row in rows]


async def webhook_secret(conn: AsyncConnection, tenant: str, url: str) -> str | None:
    """The signing secret of the tenant's group that sends work orders to ``url`` (the outbox worker asks)."""
    stmt = (
        select(support_groups.c.webhook_secret)
        .where(support_groups.c.tenant == tenant, support_groups.c.webhook_url == url)
        .order_by(support_groups.c.active.desc(), support_groups.c.id)
    )
    return (await conn.execute(stmt)).scalars().first()


# -- import ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One validated group of a file."""

    code: str
    name: str
    level: int
    mail: str | None
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    active: bool
    locale: str | None = None  # None: not given (German)


@dataclass(frozen=True, slots=True)
class GroupImportResult:
    created: int
    updated: int
    unchanged: int
    deactivated: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _fail(label: str, message: str) -> GroupError:
    return GroupError(f"group {label}: {message}", {"group": label})


def _mail(label: str, value: Any) -> str | None:
    if value is None:
        return None
    items = split_addresses(value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise _fail(label, "'mail' is an address or a list of addresses")
    items = [a.strip() for a in items if a.strip()]
    bad = [a for a in items if not valid_address(a)]
    if bad:
        raise _fail(label, f"not a plain mail address: {bad[0]!r} (write name@host, no display name)")
    if len(items) > MAX_RECIPIENTS:
        raise _fail(label, f"at most {MAX_RECIPIENTS} addresses")
    return ", ".join(dict.fromkeys(items)) or None


def _webhook(label: str, value: Any, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping) or set(value) - _WEBHOOK_KEYS:
        raise _fail(label, "'webhook' is a mapping with url and secret (or secret_env)")
    url = value.get("url")
    if not isinstance(url, str) or len(url) > 2000:
        raise _fail(label, f"'webhook.url' must be an http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(label, f"'webhook.url' must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise _fail(label, "'webhook.url' must not carry credentials: the signature authenticates the request")
    if "secret" in value and "secret_env" in value:
        raise _fail(label, "give 'webhook.secret' or 'webhook.secret_env', not both")
    if "secret_env" in value:
        name = value["secret_env"]
        if not isinstance(name, str) or not name:
            raise _fail(label, "'webhook.secret_env' names an environment variable")
        secret = env.get(name)
        if secret is None:
            raise _fail(label, f"environment variable {name} (the webhook secret) is not set")
    else:
        secret = value.get("secret")
    # never echo the value: only say what is wrong with it
    if not valid_secret(secret):
        raise _fail(label, f"the webhook secret must be 'whsec_' + base64 of at least 24 random bytes; {SECRET_HINT}")
    return url, secret


def recipient_locale(value: Any) -> str | None:
    """A group's or contact's ``locale`` from a file: None when not given (German), else one of
    ``i18n.LOCALES``; ValueError says what is allowed."""
    if value is None:
        return None
    if is_locale(value):
        return str(value)
    # in words, read from Babel's data only when a file is wrong: "de (German) or en (English)"
    choices = " or ".join(f"{code} ({Locale.parse(code).get_language_name('en')})" for code in LOCALES)
    raise ValueError(f"'locale' must be {choices}, got {value!r:.40}")


def validate_groups(data: Any, env: Mapping[str, str] | None = None) -> list[GroupSpec]:
    """Every group of a file, checked; GroupError names the first bad one."""
    env = os.environ if env is None else env
    if isinstance(data, Mapping):
        if set(data) != {"groups"}:
            raise GroupError("a group file is a list of groups or a mapping with only a 'groups' key")
        data = data["groups"]
    if not isinstance(data, list) or not data:
        raise GroupError("a group file needs a non-empty list of groups")
    specs: list[GroupSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        label = f"#{index + 1}"
        if not isinstance(raw, Mapping):
            raise _fail(label, "a group is a mapping with a code")
        code = raw.get("code")
        if not isinstance(code, str) or not valid_code(code):
            raise _fail(label, f"'code' must be like 1st_level, 2nd_level, 3rd_level or partner:<firm>, got {code!r}")
        label = repr(code)
        if code in seen:
            raise _fail(label, "appears twice")
        seen.add(code)
        unknown = set(raw) - _KEYS
        if unknown:
            keys = ", ".join(sorted(map(str, unknown)))
            raise _fail(label, f"unknown key(s) {keys}; allowed: {', '.join(sorted(_KEYS))}")
        name = raw.get("name", code)
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
            raise _fail(label, "'name' must be a text of 1..200 printable characters")
        level = raw.get("level", default_level(code))
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 3:
            raise _fail(label, f"'level' must be 1, 2 or 3, got {level!r}")
        if code in STANDARD_LEVELS and level != STANDARD_LEVELS[code]:
            raise _fail(label, f"the level of {code} is {STANDARD_LEVELS[code]}")
        active = raw.get("active", True)
        if not isinstance(active, bool):
            raise _fail(label, f"'active' must be true or false, got {active!r}")
        mail = _mail(label, raw.get("mail"))
        url, secret = _webhook(label, raw.get("webhook"), env)
        try:
            locale = recipient_locale(raw.get("locale"))
        except ValueError as exc:
            raise _fail(label, str(exc)) from None
        specs.append(GroupSpec(code, name.strip(), level, mail, url, secret, active, locale))
    return specs


def load_groups(path: str | os.PathLike[str]) -> Any:
    """The data of a YAML or JSON group file (the category loader's strict rules: no duplicate keys)."""
    try:
        return load_file(path)
    except InvalidInput as exc:
        raise GroupError(exc.message.replace("category file", "group file"), exc.details) from None


async def import_groups(
    db: Database,
    tenant: str,
    path_or_data: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
    *,
    prune: bool = False,
    env: Mapping[str, str] | None = None,
) -> GroupImportResult:
    """Upsert a tenant's groups by code in one transaction (idempotent); ``prune`` deactivates groups not listed."""
    check_tenant(tenant)
    data = load_groups(path_or_data) if isinstance(path_or_data, str | os.PathLike) else path_or_data
    specs = validate_groups(data, env)
    now = datetime.now(UTC)
    created = updated = unchanged = deactivated = 0
    try:
        async with db.engine.begin() as conn:
            # a write first: SQLite takes its write lock here, so two imports of one tenant take turns
            await conn.execute(update(support_groups).where(false()).values(updated_at=now))
            rows = await conn.execute(select(support_groups).where(support_groups.c.tenant == tenant))
            existing = {row["code"]: row for row in rows.mappings()}
            for spec in specs:
                values = {
                    "name": spec.name,
                    "level": spec.level,
                    "mail": spec.mail,
                    "webhook_url": spec.webhook_url,
                    "webhook_secret": spec.webhook_secret,
                    "locale": spec.locale,
                    "active": spec.active,
                }
                row = existing.get(spec.code)
                if row is None:
                    await conn.execute(
                        insert(support_groups).values(
                            tenant=tenant, code=spec.code, created_at=now, updated_at=now, **values
                        )
                    )
                    created += 1
                elif all(row[key] == values[key] for key in _FIELDS):
                    unchanged += 1
                else:
                    await conn.execute(
                        update(support_groups)
                        .where(support_groups.c.id == row["id"])
                        .values({**values, "updated_at": now})
                    )
                    updated += 1
            if prune:
                listed = {spec.code for spec in specs}
                gone = [row["id"] for code, row in existing.items() if code not in listed and row["active"]]
                if gone:
                    await conn.execute(
                        update(support_groups).where(support_groups.c.id.in_(gone)).values(active=False, updated_at=now)
                    )
                deactivated = len(gone)
    except IntegrityError as exc:
        raise Conflict(f"the groups of {tenant!r} changed during the import: run it again") from exc
    return GroupImportResult(created=created, updated=updated, unchanged=unchanged, deactivated=deactivated)
