"""A tenant's OLAs as data: the support groups' own targets for work routed to them — validated, imported, loaded.

The OLAs of a tenant are a file of their own, imported like its SLA file (``uhd-telephony import-ola``): the
targets are the SLA's kind of data (priorities, durations, business calendars with holidays), which the groups
file (``tickets.groups``, below the SLA in the house) cannot know. An OLA file (YAML or JSON,
``examples/ola.example.yaml``)::

    calendar:                        # the groups' business calendar (the SLA file's form); a group may have its own
      hours: {mon: ["08:00-17:00"], ..., fri: ["08:00-15:00"]}
      holidays: {state: NW}
    warning_at: 0.75                 # a warning once this share of a target is used
    levels: {warning: 1, breach: 1}  # which of the SLA's contacts (the helpdesk's lead) hear of it besides the group
    groups:
      partner:medisoft:              # a group of the tenant (uhd-telephony import-groups)
        unclassified_priority: 3     # the targets of a ticket not classified yet
        policies:
          1: {response: 30m, resolution: 4h, calendar: 24/7}
          3: {response: 4h, resolution: 3d}
      2nd_level:
        calendar: {always: true}
        policies: {3: {response: 1h, resolution: 8h}}

An import replaces the tenant's OLAs in one transaction and re-arms the OLA timers of its open tickets with one of
its groups (and of those with an instant stored, for a group it may have dropped). A group the tenant does not
have (or not active) is an error that names it, and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.sla.calendar import Calendar, SlaError, stored_calendar
from uhd_telephony.sla.clock import DEFAULT_WARN_SHARE, Policy
from uhd_telephony.sla.models import ola_groups, ola_policies, ola_tenants, ola_timers
from uhd_telephony.sla.ola import GroupOla, TenantOla
from uhd_telephony.sla.policy import (
    Contact,
    Loaded,
    _level,
    _share,
    arm_open_tickets,
    file_data,
    load_slas,
    parse_policies,
    policy_row,
    upsert_tenant,
)
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant
from uhd_telephony.tickets.groups import GroupView, get_group, support_groups, valid_code
from uhd_telephony.tickets.view import tickets

_TOP_KEYS = {"calendar", "warning_at", "levels", "groups"}
_GROUP_KEYS = {"calendar", "unclassified_priority", "warning_at", "policies"}
LEAD_LEVEL = 1  # the helpdesk's lead: the SLA contacts of level 1 (team lead), unless ``levels`` says otherwise


class OlaError(SlaError):
    """An OLA file or group that cannot be used; the message names the group and what is wrong."""

    error_id = "invalid-ola"


def _group(code: Any, raw: Any, calendar: Calendar | None, share: float) -> GroupOla:
    if not isinstance(code, str) or not valid_code(code):
        raise OlaError(f"group {code!r}: not a group code (1st_level, 2nd_level, 3rd_level, partner:<firm>)")
    if not isinstance(raw, Mapping) or set(map(str, raw)) - _GROUP_KEYS or "policies" not in raw:
        raise OlaError(
            f"group {code!r}: a mapping with policies and optional calendar, unclassified_priority, warning_at",
            {"group": code},
        )
    try:
        own = Calendar.from_config(raw["calendar"]) if "calendar" in raw else calendar
        if own is None:
            raise SlaError("no calendar: give the file's 'calendar' or the group's own")
        share = _share(raw.get("warning_at", share), "warning_at")
        policies, unclassified = parse_policies(raw, share)
    except SlaError as exc:
        raise OlaError(f"group {code!r}: {exc.message}", {"group": code}) from None
    return GroupOla(code, own, policies, unclassified)


def parse_ola(tenant: str, data: Any) -> TenantOla:
    """A tenant's OLAs from file data; OlaError names the first thing wrong (the groups are checked against the
    tenant's by ``import_ola``)."""
    try:
        return _parse(tenant, data)
    except OlaError:
        raise
    except SlaError as exc:  # the file's calendar, warning_at or levels
        raise OlaError(exc.message, exc.details) from None


def _parse(tenant: str, data: Any) -> TenantOla:
    if not isinstance(data, Mapping):
        raise OlaError("an OLA file is a mapping with groups (and calendar, warning_at, levels)")
    unknown = set(map(str, data)) - _TOP_KEYS
    if unknown:
        raise OlaError(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    calendar = Calendar.from_config(data["calendar"]) if "calendar" in data else None
    share = _share(data.get("warning_at", DEFAULT_WARN_SHARE), "warning_at")
    levels = data.get("levels") or {}
    if not isinstance(levels, Mapping) or set(levels) - {"warning", "breach"}:
        raise OlaError("'levels' is a mapping {warning: 1, breach: 1} (the SLA contacts' levels told)")
    raw_groups = data.get("groups")
    if not isinstance(raw_groups, Mapping) or not raw_groups:
        raise OlaError("'groups' maps group codes (as in the groups file) to their targets")
    groups = {str(code): _group(code, raw, calendar, share) for code, raw in raw_groups.items()}
    return TenantOla(
        tenant,
        groups,
        _level(levels.get("warning", LEAD_LEVEL), "levels.warning"),
        _level(levels.get("breach", LEAD_LEVEL), "levels.breach"),
    )


async def _check_groups(conn: AsyncConnection, tenant: str, codes: Collection[str]) -> None:
    """OlaError when one of ``codes`` is not an active group of the tenant (naming the ones it has)."""
    stmt = select(support_groups.c.code, support_groups.c.active).where(support_groups.c.tenant == tenant)
    have = dict((await conn.execute(stmt)).all())
    unknown = sorted(c for c in codes if not have.get(c))
    if unknown:
        known = ", ".join(sorted(c for c, active in have.items() if active)) or "none yet"
        raise OlaError(
            f"unknown group {unknown[0]!r} of tenant {tenant!r}: import it with uhd-telephony import-groups first "
            f"(the tenant's groups: {known})",
            {"group": unknown[0]},
        )


@dataclass(frozen=True, slots=True)
class OlaImportResult:
    tenant: str
    groups: int
    policies: int
    armed: int  # open tickets whose OLA timers are recomputed against the new targets

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "groups": self.groups, "policies": self.policies, "armed": self.armed}


async def import_ola(
    db: Database,
    tenant: str,
    path_or_data: str | os.PathLike[str] | Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> OlaImportResult:
    """Replace the tenant's OLAs in one transaction and re-arm its open tickets' OLA timers; OlaError (nothing
    written) for a bad file or a group the tenant does not have."""
    check_tenant(tenant)
    ola = parse_ola(tenant, file_data(path_or_data, "OLA file", OlaError))
    at = now or datetime.now(UTC)
    async with db.engine.begin() as conn:
        # a write first: SQLite takes its write lock here, so an import of the groups waits for this one
        values = {"tenant": tenant, "warning_level": ola.warning_level, "breach_level": ola.breach_level}
        await conn.execute(upsert_tenant(conn.dialect.name, {**values, "updated_at": at}, ola_tenants))
        await _check_groups(conn, tenant, ola.groups)
        await conn.execute(delete(ola_policies).where(ola_policies.c.tenant == tenant))
        await conn.execute(delete(ola_groups).where(ola_groups.c.tenant == tenant))
        rows = [
            {"tenant": tenant, "support_group": g.group, "calendar": g.calendar.to_config(),
             "unclassified_priority": g.unclassified_priority}
            for g in ola.groups.values()
        ]  # fmt: skip
        await conn.execute(insert(ola_groups), rows)
        policies = [
            {"tenant": tenant, "support_group": g.group, "priority": p.priority,
             "response_s": int(p.response.total_seconds()), "resolution_s": int(p.resolution.total_seconds()),
             "warn_share": p.warn_share, "around_the_clock": p.around_the_clock}
            for g in ola.groups.values()
            for p in g.policies.values()
        ]  # fmt: skip
        await conn.execute(insert(ola_policies), policies)
        # the tickets with one of its groups now, and those with an instant stored for a group it may have dropped
        stored = select(ola_timers.c.ticket_id).where(
            ola_timers.c.tenant == tenant, ola_timers.c.next_due_at.is_not(None)
        )
        concerned = tickets.c.support_group.in_(sorted(ola.groups)) | tickets.c.id.in_(stored)
        armed = await arm_open_tickets(conn, tenant, at, table=ola_timers, only=concerned)
    return OlaImportResult(tenant, len(ola.groups), len(policies), armed)


# -- loading ----------------------------------------------------------------------------------------------------


async def _groups(conn: AsyncConnection, where: Any) -> dict[tuple[str, str], GroupOla]:
    """The OLAs of the groups ``where`` selects (a condition on ``ola_groups``), by (tenant, group): two statements."""
    heads = (await conn.execute(select(ola_groups).where(where))).mappings().all()
    if not heads:
        return {}
    policies: dict[tuple[str, str], dict[int, Policy]] = {(h["tenant"], h["support_group"]): {} for h in heads}
    stmt = select(ola_policies).where(ola_policies.c.tenant.in_({h["tenant"] for h in heads}))
    for row in (await conn.execute(stmt)).mappings():
        if (key := (row["tenant"], row["support_group"])) in policies:
            policies[key][row["priority"]] = policy_row(row)
    return {
        (h["tenant"], h["support_group"]): GroupOla(
            h["support_group"], stored_calendar(h["calendar"]), policies[(h["tenant"], h["support_group"])],
            h["unclassified_priority"],
        )
        for h in heads
    }  # fmt: skip


async def group_ola(conn: AsyncConnection, tenant: str, group: str) -> GroupOla | None:
    """The OLA of one group of the tenant (None: it has none) — one statement when it has none, the common case
    on every status change (``sla.ola_timers``)."""
    found = await _groups(conn, (ola_groups.c.tenant == tenant) & (ola_groups.c.support_group == group))
    return found.get((tenant, group))


def group_contact(view: GroupView) -> Contact:
    """A support group (``tickets.groups.GroupView``) as the OLA's escalations tell it: its work-order addresses
    and webhook, in its language."""
    return Contact(
        view.name, 1, None, tuple(view.mail), view.webhook_url, view.webhook_secret, None, view.locale,
        ref=f"group-{view.id}",
    )  # fmt: skip


async def load_olas(
    conn: AsyncConnection, tenants: Collection[str], *, with_contacts: bool = False
) -> dict[str, TenantOla]:
    """The OLAs of ``tenants`` in the caller's transaction (a tenant without any is absent); ``with_contacts``:
    with each group's contact (an inactive group has none) and the tenant's SLA with its contacts."""
    wanted = sorted(set(tenants))
    if not wanted:
        return {}
    heads = (await conn.execute(select(ola_tenants).where(ola_tenants.c.tenant.in_(wanted)))).mappings().all()
    if not heads:
        return {}
    groups = await _groups(conn, ola_groups.c.tenant.in_([h["tenant"] for h in heads]))
    slas = await load_slas(conn, [h["tenant"] for h in heads], with_contacts=True) if with_contacts else {}
    found: dict[str, TenantOla] = {}
    for h in heads:
        tenant = h["tenant"]
        mine = {g: ola for (t, g), ola in groups.items() if t == tenant}
        contacts: dict[str, Contact] | None = None
        if with_contacts:
            views = {g: await get_group(conn, tenant, g) for g in mine}
            contacts = {g: group_contact(v) for g, v in views.items() if v is not None}
        found[tenant] = TenantOla(
            tenant, mine, h["warning_level"], h["breach_level"], contacts, slas.get(tenant)
        )  # fmt: skip
    return found


class LoadedOlas(Loaded[TenantOla]):
    """The tenants' OLAs with the groups' and the SLA's contacts, as one scan needs them (``policy.Loaded``)."""

    def __init__(self) -> None:
        super().__init__(ola_tenants, partial(load_olas, with_contacts=True))
