"""A ticket's history in words, in the reader's language: who (a name, never ``agent:7``), what (statuses,
categories by their titles, groups and tenants by their names), and the notes the system wrote in words too.

The stored rows keep their codes (``status``, ``in_progress``, ``agent:7``): the API returns them as they are
and adds ``text`` and ``actor_name`` (``with_text``); the work-order mail writes its history lines with
``describe``. Capabilities above tickets describe their own actions through ``describes(action)`` (the SLA's
``escalated``, ``de-escalated``, ``acknowledged``: ``sla/escalation.py``) — a hook, as ``history.on_change``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.accounts.models import Account
from uhd_telephony.i18n import (
    N_,
    Translator,
    actor_label,
    format_duration,
    label,
    level_label,
    priority_label,
    translator,
)
from uhd_telephony.i18n.labels import account_id
from uhd_telephony.tickets.history import PUBLIC_COMMENT, Action
from uhd_telephony.tickets.models import Category, SupportGroup

TITLE_SEPARATOR = " › "
RULE_REASON = "auto-routed: 10-minute rule"  # tickets.routing writes it; said in words here
_NO_WORK_ORDER = re.compile(r"^(.*?) ?\(no work order: group (\S+) has no mail or webhook configured\)$", re.S)
_PRIORITY_NOTE = re.compile(r"^impact (\d) x urgency (\d)( \(VIP: urgency raised one level\))?$")
_STATUS_NOTE = re.compile(r"^SLA clock (paused|resumed)(?: after (\d+) s waiting)?(?:: (.*))?$", re.S)
_CREATED_NOTE = re.compile(r"^(?:phone call \S+ answered by .*|(phone|web|mail) ticket)$", re.S)
_TENANT_NOTE = re.compile(r"^call (\S+) belongs to tenant \S+$")


@dataclass(frozen=True, slots=True)
class Names:
    """What the codes of a tenant's history stand for: accounts, categories (path -> title path), groups, tenants."""

    accounts: Mapping[str, str] = field(default_factory=dict)  # actor (agent:7) -> display name
    categories: Mapping[str, str] = field(default_factory=dict)  # kis/sap-ish -> KIS › SAP IS-H
    groups: Mapping[str, str] = field(default_factory=dict)  # 2nd_level -> 2nd-Level-Support Klinik-IT
    tenants: Mapping[str, str] = field(default_factory=dict)  # klinikum-nord -> Klinikum Nord

    def category(self, path: str | None) -> str:
        if not path:
            return "\u2013"
        return self.categories.get(path) or path

    def group(self, code: str | None, t: Translator) -> str:
        """A group by its configured name; the helpdesk's levels and partners without one in words."""
        if not code:
            return "\u2013"
        if code in self.groups:
            return self.groups[code]
        kind, _, firm = code.partition(":")
        if kind == "partner" and firm:
            return t.gettext("service partner %(firm)s", firm=firm)
        return label("group", code, t.locale)

    def tenant(self, slug: str | None) -> str:
        return (self.tenants.get(slug) or slug or "\u2013") if slug else "\u2013"


@dataclass(frozen=True, slots=True)
class Context:
    """One reader's language and the names to use."""

    t: Translator
    names: Names = field(default_factory=Names)

    @property
    def locale(self) -> str:
        return self.t.locale

    def actor(self, actor: str | None) -> str:
        return actor_label(actor, self.locale, self.names.accounts)


Describer = Callable[[Mapping[str, Any], Context], str]
_describers: dict[str, Describer] = {}


def describes(action: str) -> Callable[[Describer], Describer]:
    """Register how history rows of ``action`` read (for actions of capabilities above tickets)."""

    def register(describer: Describer) -> Describer:
        _describers[action] = describer
        return describer

    return register


def describe(entry: Mapping[str, Any], ctx: Context) -> str:
    """What the row says, without who and when: ``Status: Neu → In Bearbeitung``."""
    action = str(entry.get("action") or "")
    describer = _describers.get(action) or _BUILTIN.get(action)
    if describer is not None:
        return describer(entry, ctx)
    return _generic(entry, ctx)


def sentence(entry: Mapping[str, Any], ctx: Context) -> str:
    """Who did what: ``Anna Becker: Status: Neu → In Bearbeitung``."""
    return ctx.t.gettext("%(who)s: %(what)s", who=ctx.actor(entry.get("actor")), what=describe(entry, ctx))


def with_text(entries: Iterable[Mapping[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    """The API's entries: the stored fields as they are, plus ``text`` (who did what, in words) and
    ``actor_name``."""
    return [{**e, "text": sentence(e, ctx), "actor_name": ctx.actor(e.get("actor"))} for e in entries]


# -- the names ------------------------------------------------------------------------------------------------


def title_paths(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """path -> the titles of the path's nodes: ``kis/sap-ish`` -> ``KIS (…) › SAP IS-H / i.s.h.med``."""
    names = dict(rows)
    out: dict[str, str] = {}
    for path in names:
        parts = path.split("/")
        out[path] = TITLE_SEPARATOR.join(names.get("/".join(parts[: i + 1]), parts[i]) for i in range(len(parts)))
    return out


async def category_titles(conn: AsyncConnection, tenant: str) -> dict[str, str]:
    """Every category of the tenant (inactive ones too: old history names them) by path -> title path."""
    rows = await conn.execute(select(Category.path, Category.name).where(Category.tenant == tenant))
    return title_paths((r.path, r.name) for r in rows)


async def account_names(conn: AsyncConnection, actors: Iterable[str | None]) -> dict[str, str]:
    """actor (``agent:<id>``, ``partner:<id>``) -> the account's display name, for the accounts there are."""
    ids = {a: i for a in set(actors) if a and (i := account_id(a)) is not None}
    if not ids:
        return {}
    rows = await conn.execute(select(Account.id, Account.display_name).where(Account.id.in_(set(ids.values()))))
    by_id = {r.id: r.display_name for r in rows}
    return {actor: by_id[i] for actor, i in ids.items() if i in by_id}


# (connection) -> tenant slug -> display name: the tenants capability's, handed in by app/plugins.py (tickets and
# tenants are siblings that do not import each other); without it a tenant is named by its slug
TenantNames = Callable[[AsyncConnection], Awaitable[Mapping[str, str]]]
_tenant_names: list[TenantNames] = []


def tenant_names_from(source: TenantNames) -> TenantNames:
    """Name tenants by ``source``'s display names (the last registration wins)."""
    _tenant_names[:] = [source]
    return source


async def tenant_names(conn: AsyncConnection) -> Mapping[str, str]:
    """Every tenant's display name by slug (empty without a registered source)."""
    return await _tenant_names[0](conn) if _tenant_names else {}


async def group_names(conn: AsyncConnection, tenant: str) -> dict[str, str]:
    rows = await conn.execute(select(SupportGroup.code, SupportGroup.name).where(SupportGroup.tenant == tenant))
    return {r.code: r.name for r in rows}


async def names_for(conn: AsyncConnection, tenant: str, entries: Sequence[Mapping[str, Any]] = ()) -> Names:
    """The names a tenant's history needs: its entries' accounts, the tenant's categories and groups, the
    tenants' display names."""
    return Names(
        accounts=await account_names(conn, (e.get("actor") for e in entries)),
        categories=await category_titles(conn, tenant),
        groups=await group_names(conn, tenant),
        tenants=await tenant_names(conn),
    )


async def context(
    conn: AsyncConnection, tenant: str, locale: str | None, entries: Sequence[Mapping[str, Any]] = ()
) -> Context:
    """The reader's context for a tenant's history."""
    return Context(translator(locale), await names_for(conn, tenant, entries))


# -- the built-in actions -------------------------------------------------------------------------------------


def _value(field_name: str | None, value: Any, ctx: Context) -> str:
    if value is None or value == "":
        return "\u2013"
    if field_name == "status":
        return label("status", value, ctx.locale)
    if field_name == "priority":
        return priority_label(value, ctx.locale)
    if field_name in ("impact", "urgency"):
        return level_label(int(value), ctx.locale) if str(value).isdigit() else str(value)
    if field_name == "category":
        return ctx.names.category(str(value))
    if field_name == "support_group":
        return ctx.names.group(str(value), ctx.t)
    if field_name == "tenant":
        return ctx.names.tenant(str(value))
    if field_name == "channel":
        return label("channel", value, ctx.locale)
    return str(value)


def _change(entry: Mapping[str, Any], ctx: Context) -> str:
    field_name = entry.get("field")
    what = label("field", field_name, ctx.locale)
    if field_name == "description":
        return ctx.t.gettext("%(field)s changed", field=what)
    old, new = _value(field_name, entry.get("old_value"), ctx), _value(field_name, entry.get("new_value"), ctx)
    return ctx.t.gettext("%(field)s: %(old)s → %(new)s", field=what, old=old, new=new)


def with_note(text: str, note: str | None, ctx: Context) -> str:
    return ctx.t.gettext("%(text)s · %(note)s", text=text, note=note) if note else text


def _created(entry: Mapping[str, Any], ctx: Context) -> str:
    note = entry.get("note") or ""
    found = _CREATED_NOTE.match(note)
    number = entry.get("new_value") or ""
    if found is not None and found.group(1):
        how = label("channel", found.group(1), ctx.locale)
        return ctx.t.gettext("Ticket %(number)s created (%(channel)s)", number=number, channel=how)
    if found is not None:
        return ctx.t.gettext("Ticket %(number)s created for the answered call", number=number)
    return with_note(ctx.t.gettext("Ticket %(number)s created", number=number), note, ctx)


def _classified(entry: Mapping[str, Any], ctx: Context) -> str:
    return _change(entry, ctx)


def _priority(entry: Mapping[str, Any], ctx: Context) -> str:
    text = _change({**entry, "field": "priority"}, ctx)
    found = _PRIORITY_NOTE.match(entry.get("note") or "")
    if found is None:
        return with_note(text, entry.get("note"), ctx)
    why = ctx.t.gettext("impact %(impact)s × urgency %(urgency)s", impact=found.group(1), urgency=found.group(2))
    if found.group(3):
        why = ctx.t.gettext("%(why)s (VIP: urgency raised one level)", why=why)
    return with_note(text, why, ctx)


def _status(entry: Mapping[str, Any], ctx: Context) -> str:
    text = _change({**entry, "field": "status"}, ctx)
    note = entry.get("note")
    found = _STATUS_NOTE.match(note or "")
    if found is None:
        return with_note(text, note, ctx)
    if found.group(1) == "paused":
        clock = ctx.t.gettext("SLA clock paused")
    elif found.group(2):
        waited = format_duration(int(found.group(2)), ctx.locale)
        clock = ctx.t.gettext("SLA clock resumed after %(waited)s waiting", waited=waited)
    else:
        clock = ctx.t.gettext("SLA clock resumed")
    text = with_note(text, clock, ctx)
    return with_note(text, found.group(3), ctx)


def _comment(entry: Mapping[str, Any], ctx: Context) -> str:
    if entry.get("field") == PUBLIC_COMMENT:
        return ctx.t.gettext("Public comment: %(text)s", text=entry.get("note") or "")
    if entry.get("field") is None and entry.get("actor") in (None, "", "system"):
        return _system_comment(entry.get("note") or "", ctx)
    return ctx.t.gettext("Internal note: %(text)s", text=entry.get("note") or "")


# what the system writes as comments (screenpop.catchup) — German as stored by older versions; said in words
_SYSTEM_COMMENTS = {
    "Ticket nach dem Anruf angelegt (beim Annehmen konnte kein Ticket angelegt werden)": N_(
        "Ticket created after the call (no ticket could be created when the call was answered)"
    ),
    "Ticket nach dem Anruf angelegt (Anruf nachträglich aus dem queue_log übernommen)": N_(
        "Ticket created after the call (the call was taken over from the queue_log afterwards)"
    ),
}


def _system_comment(note: str, ctx: Context) -> str:
    known = _SYSTEM_COMMENTS.get(note)
    return ctx.t.gettext(known) if known is not None else ctx.t.gettext("Note: %(text)s", text=note)


def _assigned(entry: Mapping[str, Any], ctx: Context) -> str:
    if entry.get("new_value"):
        return ctx.t.gettext("Assigned to %(name)s", name=entry["new_value"])
    return ctx.t.gettext("Assignment removed")


def _routed(entry: Mapping[str, Any], ctx: Context) -> str:
    note = entry.get("note") or ""
    missing = _NO_WORK_ORDER.match(note)
    reason = missing.group(1) if missing is not None else note
    if reason == RULE_REASON:
        reason = ctx.t.gettext("automatically: 10-minute rule")
    text = ctx.t.gettext(
        "Routed from %(old)s to %(new)s",
        old=ctx.names.group(entry.get("old_value"), ctx.t),
        new=ctx.names.group(entry.get("new_value"), ctx.t),
    )
    text = with_note(text, reason, ctx)
    if missing is not None:
        text = with_note(text, ctx.t.gettext("no work order: the group has no mail or webhook configured"), ctx)
    return text


def _tenant(entry: Mapping[str, Any], ctx: Context) -> str:
    found = _TENANT_NOTE.match(entry.get("note") or "")
    text = ctx.t.gettext(
        "Taken over by %(new)s (was %(old)s)",
        new=ctx.names.tenant(entry.get("new_value")),
        old=ctx.names.tenant(entry.get("old_value")),
    )
    return with_note(text, ctx.t.gettext("the call belongs to it") if found else entry.get("note"), ctx)


def _generic(entry: Mapping[str, Any], ctx: Context) -> str:
    text = label("action", entry.get("action"), ctx.locale)
    if entry.get("field"):
        text = ctx.t.gettext("%(action)s: %(change)s", action=text, change=_change(entry, ctx))
    return with_note(text, entry.get("note"), ctx)


_BUILTIN: dict[str, Describer] = {
    Action.CREATED.value: _created,
    Action.CLASSIFIED.value: _classified,
    Action.PRIORITY.value: _priority,
    Action.STATUS.value: _status,
    Action.COMMENT.value: _comment,
    Action.ASSIGNED.value: _assigned,
    Action.ROUTED.value: _routed,
    Action.TENANT.value: _tenant,
}
