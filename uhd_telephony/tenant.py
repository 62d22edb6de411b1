"""What a tenant is, in one place: the identifier rule, its length, and which tenant a call belongs to.

The rule
--------
A tenant is named everywhere by its identifier (``klinikum-nord``): in every ``tenant`` column, in URLs
(``/api/tenants/<tenant>/…``), in Asterisk's ``UHD_TENANT`` channel variable, in file names of reports.

* **A new tenant** (``uhd-telephony tenant add``, ``POST /api/admin/tenants``: the ``tenants`` table's rows from
  now on) is a *slug*: 1-64 lower-case letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit
  (``[a-z0-9][a-z0-9._-]{0,63}``; blanks around it are dropped). ``check_new_tenant``.
* **A tenant identifier** — what every other entry point accepts (route paths, imports, accounts, API tokens,
  tickets of calls, the directory, the AGI lookup, the outbox) — is 1-``TENANT_LENGTH`` (64) *printable*
  characters with no blank at either end. ``is_tenant`` / ``check_tenant``. Every slug is one.

The second, wider form is what existing data can hold: before tenants were data, tickets and category trees took
any 1-64 printable characters, accounts any 1-64 characters, and migration 0007 copied the tenants of
``account_tenants`` and ``categories`` into the ``tenants`` table as they were. A stricter rule would lock
such a tenant out of its own tickets. ``TENANT_LENGTH`` is the width of every ``String(64)`` tenant column.

Which tenant a call belongs to
------------------------------
``resolve_tenant`` decides it, for the live tracker and the queue_log backfill alike, in this order:

1. the ``UHD_TENANT`` channel variable (the dialplan sets it);
2. the ``tenants`` table's hotline numbers (``Hotlines``: the dialled number in E.164, any spelling);
3. ``UHD_TENANT_NUMBERS`` (the dialled number as ``number_key`` writes it: digits, a leading ``+`` kept);
4. the ``tenants`` table's queues (only a queue one tenant alone rings);
5. ``UHD_TENANT_QUEUES``;
6. ``UHD_DEFAULT_TENANT``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from uhd_telephony.errors import InvalidInput, UhdError
from uhd_telephony.i18n import Msg, Quoted

TENANT_LENGTH = 64
# the channel variable the dialplan (and the AGI caller lookup) sets; ami.names re-exports it as VAR_TENANT
TENANT_VARIABLE = "UHD_TENANT"
RULE = f"1-{TENANT_LENGTH} printable characters without a blank at either end, e.g. klinikum-nord"
SLUG_RULE = f"1-{TENANT_LENGTH} lower-case letters, digits, '.', '_', '-', starting with a letter or digit"
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0," + str(TENANT_LENGTH - 1) + r"}")


def is_tenant(value: object) -> bool:
    """True when ``value`` is a tenant identifier (the module's rule): 1-64 printable characters, no blank at
    either end."""
    return isinstance(value, str) and 0 < len(value) <= TENANT_LENGTH and value == value.strip() and value.isprintable()


def check_tenant(value: object, error: type[UhdError] = InvalidInput, *, field: str = "tenant") -> str:
    """``value`` when it is a tenant identifier, else ``error`` (an InvalidInput by default: a 400, a CLI
    error) saying what a tenant is; ``field`` names the input in the error's details."""
    if isinstance(value, str) and is_tenant(value):
        return value
    raise error(Msg("invalid tenant %(tenant)s: %(rule)s", tenant=Quoted(value, 80), rule=RULE), {"field": field})


def check_new_tenant(value: object, error: type[UhdError] = InvalidInput) -> str:
    """The identifier of a tenant being created (blanks around it dropped) when it is a slug, else ``error``."""
    slug = value.strip() if isinstance(value, str) else ""
    if not _SLUG.fullmatch(slug):
        raise error(Msg("a tenant is %(rule)s", rule=SLUG_RULE), {"field": "tenant"})
    return slug


class _TenantRule:
    """Pydantic's hooks for ``TenantName``, without a Pydantic import: its core schema is plain data."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {
            "type": "function-after",
            "function": {"type": "no-info", "function": _validate},
            "schema": {"type": "str", "strip_whitespace": True, "min_length": 1, "max_length": TENANT_LENGTH},
        }

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        schema.setdefault("description", f"a tenant: {RULE}")
        return schema


def _validate(value: str) -> str:
    if not is_tenant(value):
        raise ValueError(Msg("not a tenant: %(rule)s", rule=RULE))
    return value


# a tenant identifier in a Pydantic model (``tenants: list[TenantName]``): blanks around it are dropped, then
# ``is_tenant`` decides; an invalid one fails validation (a 400). The JSON schema says 1-64 characters.
TenantName = Annotated[str, _TenantRule()]


# ----------------------------------------------------------------------------------------- number/queue → tenant
# (dialled, queue, channel variables) -> tenant or None: what CallTracker(tenant_resolver=…) takes
TenantLookup = Callable[[str, str, dict[str, str]], str | None]
# (dialled, region) -> the number in E.164 or None: tenants.service gives phonenumbers' parser
NumberParser = Callable[[str, str], str | None]


def number_key(number: str) -> str:
    """A number as ``UHD_TENANT_NUMBERS`` are compared: digits only, a leading ``+`` kept (``+49 231 99-0001``
    → ``+49231990001``, ``0049231990001`` stays ``0049231990001``)."""
    number = number.strip()
    digits = "".join(ch for ch in number if ch.isdigit())
    return ("+" + digits) if number.startswith("+") else digits


def number_map(numbers: Mapping[str, str] | None) -> dict[str, str]:
    """``UHD_TENANT_NUMBERS`` keyed by ``number_key``."""
    return {number_key(k): v for k, v in (numbers or {}).items()}


def _plain(dialled: str, region: str) -> str | None:
    key = number_key(dialled)
    return key or None


@dataclass(frozen=True, slots=True)
class Hotlines:
    """The ``tenants`` table's part of ``resolve_tenant`` (steps 2 and 4), as ``CallTracker(tenant_resolver=…)``.

    ``numbers`` are E.164 hotline numbers, ``queues`` the queues one tenant alone rings; ``settings_numbers``
    the ``number_key`` of each ``UHD_TENANT_NUMBERS`` number, which decides before a table queue (step 3).
    None: the table does not know the call.
    """

    numbers: Mapping[str, str]
    queues: Mapping[str, str]
    regions: Sequence[str] = ("DE",)
    settings_numbers: frozenset[str] = frozenset()
    parse: NumberParser = field(default=_plain, compare=False)

    def __call__(self, dialled: str, queue: str, variables: dict[str, str]) -> str | None:
        if dialled:
            for region in self.regions:
                key = self.parse(dialled, region)
                if key is not None and key in self.numbers:
                    return self.numbers[key]
            if number_key(dialled) in self.settings_numbers:
                return None
        return self.queues.get(queue) if queue else None


def resolve_tenant(
    dialled: str,
    queue: str,
    variables: dict[str, str],
    *,
    numbers: Mapping[str, str],
    queues: Mapping[str, str],
    default: str,
    table: TenantLookup | None = None,
) -> str:
    """The tenant of a queue call (the order is the module docstring's): ``numbers`` are ``UHD_TENANT_NUMBERS``
    as ``number_map`` keys them, ``queues`` ``UHD_TENANT_QUEUES``, ``table`` the tenants table's ``Hotlines``."""
    tenant = variables.get(TENANT_VARIABLE)
    if tenant:
        return tenant
    if table is not None:
        found = table(dialled, queue, variables)
        if found:
            return found
    if dialled:
        found = numbers.get(number_key(dialled))
        if found:
            return found
    return queues.get(queue, default)
