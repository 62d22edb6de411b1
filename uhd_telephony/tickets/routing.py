"""Routing: a ticket goes to the group that works its category, with a work order by mail and/or signed webhook.

``route()`` runs in the caller's transaction: the ticket's group, a ``routed`` history row (who, when, old group
→ new group, why) and the work orders (outbox rows) commit together or not at all.

The 10-minute rule: a phone ticket carries ``first_level_due_at`` (answer time + UHD_FIRST_LEVEL_LIMIT_S). The
``FirstLevelScanner`` finds due tickets with an indexed query and routes each in one transaction that first
clears the due time with a conditional UPDATE — of two service instances scanning at once, exactly one wins
the row and routes it; the other sees nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.accounts.models import Account
from uhd_telephony.errors import Conflict, NotFound, TicketError
from uhd_telephony.i18n import DEFAULT_LOCALE, Msg, Quoted, format_datetime, label, priority_label, translator
from uhd_telephony.outbox.service import enqueue
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.store.db import Database
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.groups import (
    SECOND_LEVEL,
    STANDARD_LEVELS,
    GroupView,
    default_level,
    get_group,
    is_partner,
    valid_code,
)
from uhd_telephony.tickets.history import SYSTEM, Action, Change, iso
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.priority import PRIORITY_NAMES
from uhd_telephony.tickets.view import tickets, view_select

log = logging.getLogger(__name__)

RULE_REASON = history_text.RULE_REASON  # the 10-minute rule's reason, as stored (said in words in mails and pages)
# tickets the 10-minute rule leaves alone: solved on the phone after all
DONE = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
MAX_REASON = 1000
MAX_HISTORY_IN_ORDER = 200


@dataclass(frozen=True, slots=True)
class RouteResult:
    """What ``route()`` did: ``routed`` is False when the ticket was with that group already (nothing written)."""

    ticket_id: int
    number: str
    routed: bool
    old_group: str | None
    new_group: str
    work_orders: tuple[str, ...] = ()  # the channels a work order was queued on: "mail", "webhook"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "number": self.number,
            "routed": self.routed,
            "old_group": self.old_group,
            "new_group": self.new_group,
            "work_orders": list(self.work_orders),
        }


def escalation_target(category_group: str | None) -> str:
    """Where the 10-minute rule sends a ticket: its category's group, or 2nd level when that is 1st level or unset."""
    if category_group is None or not valid_code(category_group) or default_level(category_group) <= 1:
        return SECOND_LEVEL
    return category_group


def _check(actor: str, reason: str) -> None:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 128:
        raise TicketError("actor must name who routes (system, agent:<id>, api:<client>) in at most 128 characters")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON or "\x00" in reason:
        no_reason = Msg("a routing needs a reason of 1..%(limit)s characters", limit=MAX_REASON)
        raise TicketError(no_reason, {"field": "reason"})


async def route(
    conn: AsyncConnection,
    tenant: str,
    ticket_id: int,
    *,
    group: str | None = None,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> RouteResult:
    """Route the ticket to ``group``, or to its category's group (2nd level when unclassified), in ``conn``'s
    transaction: the ticket's group, a ``routed`` history row and the work orders to the group's mail/webhook.

    NotFound for a ticket of another tenant, Conflict for a closed one, TicketError for an unknown ``group``
    (neither a configured group of the tenant nor 1st/2nd/3rd level).
    """
    return await _route(conn, tenant, ticket_id, group=group, actor=actor, reason=reason, now=now, explicit=True)


async def _route(
    conn: AsyncConnection,
    tenant: str,
    ticket_id: int,
    *,
    group: str | None,
    actor: str,
    reason: str,
    now: datetime | None,
    explicit: bool,
) -> RouteResult:
    _check(actor, reason)
    at = now or datetime.now(UTC)
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 0 < ticket_id < 2**63:
        raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
    # a write first: it locks the ticket row (PostgreSQL) or takes the write lock (SQLite), so two routings of
    # one ticket queue up and each history row's old group is the one it replaced
    touched = await conn.execute(
        update(tickets).where(tickets.c.tenant == tenant, tickets.c.id == ticket_id).values(updated_at=at)
    )
    if touched.rowcount == 0:
        raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
    row = (await conn.execute(view_select().where(tickets.c.id == ticket_id))).mappings().one()
    if row["status"] == TicketStatus.CLOSED.value:
        closed = Msg("ticket %(number)s is closed", number=row["number"])
        raise Conflict(closed, {"ticket_id": ticket_id, "status": row["status"]})
    if group is not None and not valid_code(group):
        raise TicketError(Msg("invalid group %(group)s", group=Quoted(group, 80)), {"field": "group"})
    target = group if group is not None else (row["category_group"] or SECOND_LEVEL)
    configured = await get_group(conn, tenant, target)
    if configured is None and explicit and group is not None and target not in STANDARD_LEVELS:
        unknown = Msg("unknown group %(group)s for tenant %(tenant)s", group=Quoted(target), tenant=Quoted(tenant))
        raise TicketError(unknown, {"field": "group", "group": target})
    old = row["support_group"]
    if old == target:
        return RouteResult(ticket_id, row["number"], False, old, target)
    level = configured.level if configured is not None else default_level(target)
    values: dict[str, Any] = {"support_group": target}
    if level > 1:
        values["first_level_due_at"] = None  # beyond 1st level: the 10-minute rule is done with it
    await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(values))
    channels = _channels(configured)
    note = reason.strip()
    if not channels:
        note += f" (no work order: group {target} has no mail or webhook configured)"
        log.warning("ticket %s routed to %s of %s, which has no mail or webhook: no work order sent",
                    row["number"], target, tenant)  # fmt: skip
    await hist.append(conn, ticket_id, at, actor, [Change(Action.ROUTED, "support_group", old, target, note)])
    if channels:
        assert configured is not None
        await _work_orders(conn, row, configured, channels, old=old, actor=actor, reason=reason.strip(), at=at)
    log.info("ticket %s of %s routed %s -> %s by %s: %s", row["number"], tenant, old, target, actor, reason)
    return RouteResult(ticket_id, row["number"], True, old, target, channels)


def _channels(group: GroupView | None) -> tuple[str, ...]:
    if group is None:
        return ()
    return tuple(c for c, on in (("mail", bool(group.mail)), ("webhook", group.webhook_url is not None)) if on)


# -- the work order -------------------------------------------------------------------------------------------


async def _requester_details(conn: AsyncConnection, row: Mapping[str, Any]) -> dict[str, Any]:
    from uhd_telephony.directory.models import PLACES, USERS

    details: dict[str, Any] = {"department": None, "location": None}
    for table, key in ((USERS, "requester_user_id"), (PLACES, "requester_place_id")):
        if row[key] is None:
            continue
        stmt = select(table.c.department, table.c.location).where(
            table.c.tenant == row["tenant"], table.c.id == row[key]
        )
        found = (await conn.execute(stmt)).mappings().first()
        if found is not None:
            return dict(found)
    return details


async def _partner_actors(conn: AsyncConnection, code: str) -> set[str]:
    """How the history names the accounts of partner group ``code`` (``partner:<id>``, as ``web.auth`` writes it)."""
    stmt = select(Account.id).where(Account.partner_group == code, Account.role == "partner")
    return {f"partner:{account_id}" for account_id in (await conn.execute(stmt)).scalars()}


def work_order(
    row: Mapping[str, Any],
    group: GroupView,
    *,
    requester: Mapping[str, Any],
    history: list[dict[str, Any]],
    old: str | None,
    actor: str,
    reason: str,
    at: datetime,
) -> dict[str, Any]:
    """The work order's JSON (the webhook body, Standard Webhooks' ``type``/``timestamp``/``data`` envelope)."""
    return {
        "type": "ticket.routed",
        "timestamp": iso(at),
        "data": {
            "ticket": {
                "id": row["id"],
                "number": row["number"],
                "tenant": row["tenant"],
                "status": row["status"],
                "channel": row["channel"],
                "priority": row["priority"],
                "priority_name": None if row["priority"] is None else PRIORITY_NAMES[row["priority"]],
                "impact": row["impact"],
                "urgency": row["urgency"],
                "category": None
                if row["category_id"] is None
                else {"path": row["category_path"], "name": row["category_name"]},
                "subject": row["subject"],
                "description": row["description"],
                "requester": {
                    "name": row["requester_name"],
                    "number": row["requester_number"],
                    "vip": bool(row["vip"]),
                    "department": requester.get("department"),
                    "location": requester.get("location"),
                },
                "created_at": iso(row["created_at"]),
            },
            "routing": {
                "from": old,
                "to": group.code,
                "group_name": group.name,
                "reason": reason,
                "by": actor,
                "at": iso(at),
            },
            "history": history,
        },
    }


def work_order_text(order: Mapping[str, Any], words: history_text.Context | None = None) -> str:
    """The work order as a plain-text mail in ``words``' language (the group's ``locale``; German by default):
    statuses, priorities, categories (titles), groups, tenants and people in words, times in Europe/Berlin."""
    ctx = words or history_text.Context(translator(DEFAULT_LOCALE))
    tr, names = ctx.t, ctx.names
    dash = "\u2013"
    data = order["data"]
    t, r = data["ticket"], data["routing"]
    req = t["requester"]
    where = ", ".join(x for x in (req["department"], req["location"]) if x)
    category = names.category(t["category"]["path"]) if t["category"] else tr.gettext("not classified")
    reason = tr.gettext("automatically: 10-minute rule") if r["reason"] == RULE_REASON else r["reason"]
    requester = ", ".join(
        x for x in (requester_name(req["name"], req["number"], ctx.locale), req["number"], where) if x
    ) + (" (VIP)" if req["vip"] else "")
    lines = [
        tr.gettext("Work order %(number)s", number=t["number"]),
        "",
        tr.gettext(
            "Routed to: %(group)s, from: %(old)s", group=r["group_name"] or names.group(r["to"], tr),
            old=names.group(r["from"], tr) if r["from"] else dash,
        ),
        tr.gettext("Reason: %(reason)s", reason=reason),
        tr.gettext("Routed by: %(who)s, %(when)s", who=ctx.actor(r["by"]), when=format_datetime(r["at"], ctx.locale)),
        tr.gettext("Tenant: %(tenant)s", tenant=names.tenant(t["tenant"])),
        tr.gettext("Category: %(category)s", category=category),
        tr.gettext("Priority: %(priority)s", priority=priority_label(t["priority"], ctx.locale)),
        tr.gettext("Status: %(status)s", status=label("status", t["status"], ctx.locale)),
        tr.gettext("Channel: %(channel)s", channel=label("channel", t["channel"], ctx.locale)),
        tr.gettext("Requester: %(requester)s", requester=requester or dash),
        tr.gettext("Subject: %(subject)s", subject=t["subject"] or dash),
        tr.gettext("Created: %(when)s", when=format_datetime(t["created_at"], ctx.locale)),
        "",
        tr.gettext("Description:"),
        t["description"] or dash,
        "",
        tr.gettext("History:"),
    ]  # fmt: skip
    for entry in data["history"]:
        lines.append(f"  {format_datetime(entry['at'], ctx.locale)}  {history_text.sentence(entry, ctx)}")
    lines += [
        "",
        tr.gettext("Times in German local time (Europe/Berlin)."),
        tr.gettext("This message was generated automatically."),
    ]
    return "\n".join(lines) + "\n"


def requester_name(name: str | None, number: str | None, locale: str | None) -> str:
    """A caller's name as people read it: a withheld number ("Anonymous" in Asterisk) said in words."""
    if (name or "").strip().lower() == "anonymous" or (number or "").strip().lower() == "anonymous":
        return translator(locale).gettext("Number withheld")
    return name or ""


async def _work_orders(
    conn: AsyncConnection,
    row: Mapping[str, Any],
    group: GroupView,
    channels: tuple[str, ...],
    *,
    old: str | None,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    ticket_id = row["id"]
    entries = await hist.entries(conn, ticket_id)
    # the ticket row is locked: this count is this routing's sequence number, the same on every attempt
    seq = sum(1 for e in entries if e["action"] == Action.ROUTED.value)
    if is_partner(group.code):
        # internal notes never leave the helpdesk: a partner's order carries the public comments and its own only
        # (2nd/3rd level are the helpdesk's own staff and get the whole history)
        entries = hist.for_partner(entries, own=await _partner_actors(conn, group.code))
    order = work_order(
        row,
        group,
        requester=await _requester_details(conn, row),
        history=entries[-MAX_HISTORY_IN_ORDER:],
        old=old,
        actor=actor,
        reason=reason,
        at=at,
    )
    # the mail in the group's language (a partner abroad: English); the webhook's JSON is the same for everyone
    words = await history_text.context(conn, row["tenant"], group.locale, entries)
    what = words.names.category(row["category_path"]) if row["category_path"] else row["subject"] or "Ticket"
    subject = f"[{row['number']}] " + words.t.gettext("Work order: %(what)s", what=what)
    for channel in channels:
        await enqueue(
            conn,
            tenant=row["tenant"],
            channel="mail" if channel == "mail" else "webhook",
            target=", ".join(group.mail) if channel == "mail" else str(group.webhook_url),
            subject=subject if channel == "mail" else None,
            body={"text": work_order_text(order, words)} if channel == "mail" else order,
            dedupe_key=f"workorder:{ticket_id}:{seq}:{channel}",
            ticket_id=ticket_id,
            now=at,
        )


# -- the 10-minute rule ---------------------------------------------------------------------------------------


def first_level_due(answered_at: datetime, limit_s: float) -> datetime:
    """When a phone ticket answered at ``answered_at`` leaves 1st level unless solved."""
    return answered_at + timedelta(seconds=limit_s)


class _Skip(Exception):
    """Another instance routed the ticket first (or it needs nothing): roll back, write nothing."""


class FirstLevelScanner(PeriodicScanner):
    """Routes phone tickets still at 1st level when their due time passes; one owned task, ``start``/``close``."""

    label = "10-minute rule scan"

    def __init__(self, db: Database, **options: Any) -> None:
        super().__init__(db, **options)
        self.routed = 0

    def health(self) -> dict[str, Any]:
        return {"routed": self.routed, "last_error": self.last_error}

    async def scan_once(self) -> int:
        """Route every ticket due now; the number this instance routed."""
        now = self.clock()
        routed = 0
        seen: set[int] = set()
        while True:
            stmt = (
                select(tickets.c.id, tickets.c.tenant, tickets.c.status)
                .where(tickets.c.first_level_due_at.is_not(None), tickets.c.first_level_due_at <= now)
                .order_by(tickets.c.first_level_due_at, tickets.c.id)
                .limit(self.batch_size)
            )
            async with self.db.engine.connect() as conn:
                due = [r for r in (await conn.execute(stmt)).all() if r.id not in seen]
            for ticket_id, tenant, status in due:
                seen.add(ticket_id)
                try:
                    if status in DONE:
                        await self._forget(ticket_id)
                    elif await self._escalate(ticket_id, tenant, now):
                        routed += 1
                except Exception:  # one broken ticket must not stop the rule for every other one
                    log.exception("10-minute rule: routing ticket %d of %s failed; retried at the next scan",
                                  ticket_id, tenant)  # fmt: skip
            if len(due) < self.batch_size:
                break
        self.routed += routed
        return routed

    async def _forget(self, ticket_id: int) -> None:
        # solved before it was due: it leaves the index (one row per transaction: no lock-order deadlocks)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.status.in_(DONE))
                .values(first_level_due_at=None)
            )

    async def _escalate(self, ticket_id: int, tenant: str, now: datetime) -> bool:
        try:
            async with self.db.engine.begin() as conn:
                # the claim: of several instances exactly one clears the due time and goes on
                claimed = await conn.execute(
                    update(tickets)
                    .where(
                        tickets.c.id == ticket_id,
                        tickets.c.first_level_due_at.is_not(None),
                        tickets.c.first_level_due_at <= now,
                        tickets.c.status.not_in(DONE),
                    )
                    .values(first_level_due_at=None)
                )
                if claimed.rowcount != 1:
                    raise _Skip
                row = (await conn.execute(view_select().where(tickets.c.id == ticket_id))).mappings().one()
                current = await get_group(conn, tenant, row["support_group"])
                level = current.level if current is not None else default_level(row["support_group"])
                if level > 1:
                    return False  # routed on by hand already; the cleared due time is all there was to do
                result = await _route(
                    conn,
                    tenant,
                    ticket_id,
                    group=escalation_target(row["category_group"]),
                    actor=SYSTEM,
                    reason=RULE_REASON,
                    now=now,
                    explicit=False,
                )
        except _Skip:
            return False
        return result.routed


async def routed_count(conn: AsyncConnection, ticket_id: int) -> int:
    """How often a ticket was routed (its ``routed`` history rows)."""
    stmt = select(func.count()).where(hist.history.c.ticket_id == ticket_id, hist.history.c.action == Action.ROUTED)
    return int((await conn.execute(stmt)).scalar_one())
