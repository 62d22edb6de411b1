"""Escalation: a foreseeable miss (warning) and a miss (breach) of an SLA target, fired exactly once each.

``SlaScanner`` looks for due timers every ~15 s with an indexed query (``sla_timers.next_due_at``) and handles each
ticket in one transaction:

1. the claim: ``UPDATE sla_timers SET next_due_at = NULL WHERE ticket_id = … AND next_due_at <= now`` — of two
   service instances exactly one changes the row (PostgreSQL: the other waits for the row lock, then finds the
   condition false; SQLite: one writer at a time);
2. the ticket's plan is computed again from its facts (a status or priority change since only moves deadlines);
3. each deadline due fires: ``INSERT INTO escalations … ON CONFLICT (ticket_id, kind, target) DO NOTHING`` — the
   unique key is the second guard: a row already there means it fired before, and nothing is sent;
4. with the escalation row go an ``escalated`` history row and the notifications (outbox rows) to the tenant's
   contacts of the level (per category branch where configured), then the next due instant.

All of it commits together or not at all: a crash mid-way leaves the timer due, and the next scan (here or on
another instance, after a restart too) fires it — once.

``on_ticket_change`` is what the ticket history calls after a creation, status or priority row: it reschedules the
ticket's timer and, when the ticket is resolved, de-escalates its open escalations (reason "ticket resolved").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.i18n import (
    DEFAULT_LOCALE,
    actor_label,
    format_datetime,
    format_duration,
    format_percent,
    priority_label,
    translator,
)
from uhd_telephony.i18n import label as i18n_label
from uhd_telephony.outbox.service import PUBLIC_URL, enqueue
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.sla.calendar import describe, describe_in
from uhd_telephony.sla.clock import DONE, Deadline, Kind, pending
from uhd_telephony.sla.clock import due as due_now
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import Contact, TenantSla, contacts_for, load_sla
from uhd_telephony.sla.timers import Plan, plan, schedule, store
from uhd_telephony.store.db import Database
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.history import SYSTEM, Action, Change, iso
from uhd_telephony.tickets.priority import PRIORITY_NAMES
from uhd_telephony.tickets.view import tickets, view_select

log = logging.getLogger(__name__)

# the history rows that change a ticket's SLA clock or targets: creation, status, priority
RESCHEDULING = frozenset({Action.CREATED.value, Action.STATUS.value, Action.PRIORITY.value, Action.TENANT.value})
# history action of a manager's acknowledgement (escalated / de-escalated are tickets.history.Action's)
ACKNOWLEDGED = "acknowledged"
HISTORY_FIELD = "sla"
RESOLVED_REASON = "ticket resolved"
LOCAL_TZ_NAME = "Europe/Berlin"

_ESCALATED_NOTE = re.compile(
    r"^escalation #(\d+): (\w+) target ((?:\d+ h )?\d+ min), (\w+) due (\S+); level (\d+) notified: (.*)$", re.S
)
_TAKEN_BACK_NOTE = re.compile(r"^escalation #(\d+) taken back: (.*)$", re.S)
_ACKNOWLEDGED_NOTE = re.compile(r"^escalation #(\d+) acknowledged(?:: (.*))?$", re.S)
_HM = re.compile(r"^(?:(\d+) h )?(\d+) min$")
_CHANNELS = re.compile(r"\(((?:mail|webhook)(?:\+(?:mail|webhook))*)\)")


def label(kind: str, target: str) -> str:
    """How the history names an escalation: ``resolution warning``, ``response breach``."""
    return f"{target} {kind}"


def in_words(stored: str | None, locale: str | None) -> str:
    """An escalation as the history stores it (``response warning``) in words: "SLA-Warnung (Reaktionszeit)"."""
    target, _, kind = (stored or "").partition(" ")
    return translator(locale).gettext(
        "%(kind)s (%(target)s)",
        kind=i18n_label("escalation_kind", kind, locale),
        target=i18n_label("sla_target", target, locale),
    )


def _reason(reason: str, locale: str | None) -> str:
    """A de-escalation's reason; the one the system gives (the ticket was resolved) in words."""
    return translator(locale).gettext("ticket resolved") if reason == RESOLVED_REASON else reason


def _seconds(hm: str) -> int | None:
    found = _HM.match(hm)
    return None if found is None else int(found.group(1) or 0) * 3600 + int(found.group(2)) * 60


# -- the history in words (tickets.history_text: the SLA's own actions) -----------------------------------------


@history_text.describes(Action.ESCALATED.value)
def _describe_escalated(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    what = in_words(entry.get("new_value"), ctx.locale)
    found = _ESCALATED_NOTE.match(entry.get("note") or "")
    if found is None:
        return history_text.with_note(what, entry.get("note"), ctx)
    limit = _seconds(found.group(3))
    notified = found.group(7)
    if notified == "nobody configured":
        notified = ctx.t.gettext("nobody (no contact configured)")
    else:
        notified = _CHANNELS.sub(
            lambda m: "(" + ", ".join(i18n_label("notify_channel", c, ctx.locale) for c in m.group(1).split("+")) + ")",
            notified,
        )
    return ctx.t.gettext(
        "%(what)s: due %(due)s, target %(limit)s; level %(level)s notified: %(who)s",
        what=what,
        due=format_datetime(found.group(5), ctx.locale),
        limit=format_duration(limit, ctx.locale) if limit is not None else found.group(3),
        level=found.group(6),
        who=notified,
    )


@history_text.describes(Action.DE_ESCALATED.value)
def _describe_de_escalated(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    what = in_words(entry.get("old_value"), ctx.locale)
    found = _TAKEN_BACK_NOTE.match(entry.get("note") or "")
    if found is None:
        return history_text.with_note(ctx.t.gettext("%(what)s taken back", what=what), entry.get("note"), ctx)
    return ctx.t.gettext("%(what)s taken back: %(reason)s", what=what, reason=_reason(found.group(2), ctx.locale))


@history_text.describes(ACKNOWLEDGED)
def _describe_acknowledged(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    what = ctx.t.gettext("%(what)s acknowledged", what=in_words(entry.get("old_value"), ctx.locale))
    found = _ACKNOWLEDGED_NOTE.match(entry.get("note") or "")
    return history_text.with_note(what, found.group(2) if found is not None else entry.get("note"), ctx)


def _hm(seconds: float) -> str:
    """The target as the history note stores it (read back by ``_describe_escalated``)."""
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


# -- the hook of the ticket history ---------------------------------------------------------------------------


@hist.on_change
async def on_ticket_change(
    conn: AsyncConnection, ticket_id: int, at: datetime, actor: str, changes: Sequence[Change]
) -> None:
    """After a creation, status or priority row (``tickets.history.append``, same transaction): reschedule the
    ticket's timer; on resolving or closing, de-escalate what is still open."""
    if not any(str(c.action) in RESCHEDULING for c in changes):
        return
    await schedule(conn, ticket_id, at)
    finished = any(str(c.action) == Action.STATUS.value and str(c.new) in DONE for c in changes)
    if finished:
        await de_escalate_open(conn, ticket_id, actor=actor, at=at, reason=RESOLVED_REASON)


async def de_escalate_open(
    conn: AsyncConnection, ticket_id: int, *, actor: str, at: datetime, reason: str, escalation_id: int | None = None
) -> list[dict[str, Any]]:
    """Take back the ticket's open escalations (or the one ``escalation_id``) in the caller's transaction: the
    table row (an unacknowledged one counts as acknowledged by the same hand) and a ``de-escalated`` history row
    each. The rows taken back."""
    stmt = update(escalations).where(escalations.c.ticket_id == ticket_id, escalations.c.de_escalated_at.is_(None))
    if escalation_id is not None:
        stmt = stmt.where(escalations.c.id == escalation_id)
    stmt = stmt.values(
        de_escalated_by=actor,
        de_escalated_at=at,
        reason=reason,
        acknowledged_by=func.coalesce(escalations.c.acknowledged_by, actor),
        # typed: a plain bind would be a naive DATETIME (local wall time of ``at`` on SQLite), not the UTC column
        acknowledged_at=func.coalesce(escalations.c.acknowledged_at, literal(at, escalations.c.acknowledged_at.type)),
    ).returning(escalations.c.id, escalations.c.kind, escalations.c.target, escalations.c.level, escalations.c.notified)
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    rows.sort(key=lambda r: r["id"])
    await hist.append(
        conn,
        ticket_id,
        at,
        actor,
        [
            Change(
                Action.DE_ESCALATED,
                HISTORY_FIELD,
                label(r["kind"], r["target"]),
                None,
                f"escalation #{r['id']} taken back: {reason}",
            )
            for r in rows
        ],
    )
    if rows:
        await notify_de_escalation(conn, ticket_id, rows, actor=actor, at=at, reason=reason)
    return rows


async def notify_de_escalation(
    conn: AsyncConnection, ticket_id: int, rows: Sequence[Mapping[str, Any]], *, actor: str, at: datetime,
    reason: str,
) -> int:  # fmt: skip
    """Tell those an escalation was sent to that it was taken back (who, why): the same channels, through the
    outbox, in the caller's transaction. Contacts added since, or no longer configured, are not told; a ticket
    whose escalations notified nobody sends nothing. The number of notifications queued."""
    ticket = (await conn.execute(view_select().where(tickets.c.id == ticket_id))).mappings().one()
    sla = await load_sla(conn, ticket["tenant"], with_contacts=True)
    if sla is None:
        return 0
    who = await _actor_name(conn, actor)
    names = await history_text.names_for(conn, ticket["tenant"])
    queued = 0
    for row in rows:
        told = {str(n.get("name")) for n in (row.get("notified") or ()) if isinstance(n, Mapping)}
        contacts = [c for c in contacts_for(sla, int(row["level"]), ticket["category_path"]) if c.name in told]
        body = {
            "type": "ticket.de_escalated",
            "timestamp": iso(at),
            "data": {
                "ticket": {
                    "id": ticket["id"],
                    "number": ticket["number"],
                    "tenant": ticket["tenant"],
                    "status": ticket["status"],
                    "subject": ticket["subject"],
                },
                "escalation": {
                    "id": row["id"],
                    "kind": row["kind"],
                    "target": row["target"],
                    "level": row["level"],
                    "de_escalated_at": iso(at),
                    "de_escalated_by": actor,
                    "de_escalated_by_name": who,
                    "reason": reason,
                },
            },
        }
        queued += await _tell(
            conn,
            contacts,
            body,
            lambda body, _: de_escalation_text(body, names=names),
            tenant=ticket["tenant"],
            ticket_id=ticket_id,
            key=f"de-escalation:{row['id']}",
            at=at,
        )
    return queued


async def _tell(
    conn: AsyncConnection, contacts: Sequence[Contact], body: dict[str, Any],
    mail: Callable[[dict[str, Any], Contact], tuple[str, str]], *, tenant: str, ticket_id: int, key: str,
    at: datetime,
) -> int:  # fmt: skip
    """Queue ``body`` to each contact on each of its channels, through the outbox in the caller's transaction: the
    webhook gets ``body``, the mail ``mail(body, contact)``'s (subject, text); deduplicated by
    ``<key>:<contact id>:<channel>``. The number of notifications queued."""
    queued = 0
    for contact in contacts:
        subject, text = mail(body, contact)
        for channel in contact.channels():
            await enqueue(
                conn,
                tenant=tenant,
                channel="mail" if channel == "mail" else "webhook",
                target=", ".join(contact.mail) if channel == "mail" else str(contact.webhook_url),
                subject=subject if channel == "mail" else None,
                body={"text": text} if channel == "mail" else body,
                dedupe_key=f"{key}:{contact.id}:{channel}",
                ticket_id=ticket_id,
                now=at,
            )
            queued += 1
    return queued


async def _actor_name(conn: AsyncConnection, actor: str, locale: str | None = None) -> str:
    """Who, by name: an account's display name for ``agent:<id>`` (as the history writes it), "System", …"""
    return actor_label(actor, locale, await history_text.account_names(conn, [actor]))


def de_escalation_text(
    body: Mapping[str, Any], *, names: history_text.Names | None = None, locale: str | None = DEFAULT_LOCALE
) -> tuple[str, str]:
    """(subject, text) of the all-clear mail: in ``locale`` (German: contacts have no language of their own),
    statuses, tenants and people in words, times in Europe/Berlin."""
    tr = translator(locale)
    t, e = body["data"]["ticket"], body["data"]["escalation"]
    names = names or history_text.Names()
    what = in_words(label(e["kind"], e["target"]), locale)
    head = tr.gettext("%(what)s taken back", what=what)
    lines = [
        head,
        "",
        tr.gettext("Ticket: %(number)s — %(subject)s", number=t["number"], subject=t["subject"] or "\u2013"),
        tr.gettext("Tenant: %(tenant)s", tenant=names.tenant(t["tenant"])),
        tr.gettext("Status: %(status)s", status=i18n_label("status", t["status"], locale)),
        tr.gettext("Escalation: #%(id)s, level %(level)s", id=e["id"], level=e["level"]),
        tr.gettext(
            "Taken back by: %(who)s, %(when)s",
            who=e["de_escalated_by_name"],
            when=format_datetime(e["de_escalated_at"], locale),
        ),
        tr.gettext("Reason: %(reason)s", reason=_reason(e["reason"], locale)),
        "",
        tr.gettext("Ticket: %(url)s", url=f"{PUBLIC_URL}/tickets/{t['tenant']}/{t['id']}"),
        "",
        tr.gettext("Times in German local time (Europe/Berlin)."),
        tr.gettext("This message was generated automatically."),
    ]
    return f"[{t['number']}] {head}", "\n".join(lines) + "\n"


# -- firing ---------------------------------------------------------------------------------------------------


def _insert_escalation(dialect: str, values: dict[str, Any]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(escalations).values(values)
    return stmt.on_conflict_do_nothing(
        index_elements=[escalations.c.ticket_id, escalations.c.kind, escalations.c.target]
    ).returning(escalations.c.id)


def escalation_body(
    ticket: Mapping[str, Any], sla: TenantSla, current: Plan, deadline: Deadline, escalation_id: int, level: int,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The webhook's JSON (Standard Webhooks' ``type``/``timestamp``/``data`` envelope)."""
    assert current.policy is not None and current.calendar is not None
    target = current.policy.target(deadline.target)
    return {
        "type": "ticket.escalated",
        "timestamp": iso(at),
        "data": {
            "ticket": {
                "id": ticket["id"],
                "number": ticket["number"],
                "tenant": ticket["tenant"],
                "status": ticket["status"],
                "priority": ticket["priority"],
                "priority_name": None if ticket["priority"] is None else PRIORITY_NAMES[ticket["priority"]],
                "category": None if ticket["category_id"] is None else ticket["category_path"],
                "subject": ticket["subject"],
                "support_group": ticket["support_group"],
                "created_at": iso(ticket["created_at"]),
            },
            "escalation": {
                "id": escalation_id,
                "kind": deadline.kind.value,
                "target": deadline.target.value,
                "level": level,
                "due_at": iso(deadline.at),
                "fired_at": iso(at),
                "target_s": int(target.total_seconds()),
                "threshold_s": int(deadline.threshold.total_seconds()),
                "calendar": describe(current.calendar),
            },
        },
    }


def escalation_text(
    body: Mapping[str, Any], contact: Contact, *, names: history_text.Names | None = None,
    calendar: str | None = None, locale: str | None = DEFAULT_LOCALE,
) -> tuple[str, str]:  # fmt: skip
    """(subject, text) of the mail: in ``locale`` (German: contacts have no language of their own), statuses,
    priorities, categories (titles), groups and tenants in words, times in Europe/Berlin; ``calendar``: the
    business hours in words (``calendar.describe_in``)."""
    tr = translator(locale)
    t, e = body["data"]["ticket"], body["data"]["escalation"]
    names = names or history_text.Names()
    target = i18n_label("sla_target", e["target"], locale)
    share = e["threshold_s"] / e["target_s"] if e["target_s"] else 1.0
    if e["kind"] == Kind.WARNING.value:
        head = tr.gettext(
            "SLA warning: %(share)s of the %(target)s used", share=format_percent(share, locale, digits=0),
            target=target,
        )  # fmt: skip
    else:
        head = tr.gettext("SLA breached: %(target)s exceeded", target=target)
    category = names.category(t["category"]) if t["category"] else tr.gettext("not classified")
    lines = [
        head,
        "",
        tr.gettext("Ticket: %(number)s — %(subject)s", number=t["number"], subject=t["subject"] or "\u2013"),
        tr.gettext("Tenant: %(tenant)s", tenant=names.tenant(t["tenant"])),
        tr.gettext("Priority: %(priority)s", priority=priority_label(t["priority"], locale)),
        tr.gettext("Category: %(category)s", category=category),
        tr.gettext(
            "Status: %(status)s, group: %(group)s",
            status=i18n_label("status", t["status"], locale),
            group=names.group(t["support_group"], tr),
        ),
        tr.gettext(
            "Target: %(limit)s (%(hours)s)",
            limit=format_duration(e["target_s"], locale),
            hours=calendar or e["calendar"],
        ),
        tr.gettext("Due: %(when)s", when=format_datetime(e["due_at"], locale)),
        tr.gettext("Escalation level: %(level)s (%(contact)s)", level=e["level"], contact=contact.name),
        "",
        tr.gettext("Ticket: %(url)s", url=f"{PUBLIC_URL}/tickets/{t['tenant']}/{t['id']}"),
        tr.gettext(
            "Acknowledge or take back: escalation #%(id)s (API: POST %(path)s/acknowledge or /de-escalate)",
            id=e["id"],
            path=f"/api/tenants/{t['tenant']}/tickets/{t['id']}/escalations/{e['id']}",
        ),
        "",
        tr.gettext("Times in German local time (Europe/Berlin)."),
        tr.gettext("This message was generated automatically."),
    ]
    return f"[{t['number']}] {head}", "\n".join(lines) + "\n"


async def fire(
    conn: AsyncConnection, current: Plan, deadline: Deadline, sla: TenantSla, at: datetime
) -> int | None:  # fmt: skip
    """Record one escalation with its history row and notifications, in the caller's transaction; its id, or
    None when it had fired already (the unique key decided: nothing written, nothing sent)."""
    row = (await conn.execute(view_select().where(tickets.c.id == current.ticket_id))).mappings().one()
    level = sla.warning_level if deadline.kind is Kind.WARNING else sla.breach_level
    contacts = contacts_for(sla, level, row["category_path"])
    notified = [{"name": c.name, "channels": list(c.channels())} for c in contacts]
    values = {
        "ticket_id": current.ticket_id,
        "tenant": current.tenant,
        "kind": deadline.kind.value,
        "target": deadline.target.value,
        "level": level,
        "due_at": deadline.at,
        "fired_at": at,
        "category_id": row["category_id"],
        "priority": row["priority"],
        "notified": notified,
    }
    escalation_id = (await conn.execute(_insert_escalation(conn.dialect.name, values))).scalar_one_or_none()
    if escalation_id is None:
        log.info("ticket %s: %s fired before; nothing sent", row["number"], label(deadline.kind, deadline.target))
        return None
    who = ", ".join(f"{c.name} ({'+'.join(c.channels())})" for c in contacts) or "nobody configured"
    assert current.policy is not None
    target = _hm(current.policy.target(deadline.target).total_seconds())
    note = (
        f"escalation #{escalation_id}: {deadline.target.value} target {target}, "
        f"{deadline.kind.value} due {iso(deadline.at)}; level {level} notified: {who}"
    )
    await hist.append(
        conn,
        current.ticket_id,
        at,
        SYSTEM,
        [Change(Action.ESCALATED, HISTORY_FIELD, None, label(deadline.kind, deadline.target), note)],
    )
    body = escalation_body(row, sla, current, deadline, int(escalation_id), level, at)
    names = await history_text.names_for(conn, current.tenant)
    hours = describe_in(current.calendar, DEFAULT_LOCALE)
    await _tell(
        conn,
        contacts,
        body,
        lambda body, contact: escalation_text(body, contact, names=names, calendar=hours),
        tenant=current.tenant,
        ticket_id=current.ticket_id,
        key=f"escalation:{escalation_id}",
        at=at,
    )
    if not contacts:
        log.warning("ticket %s of %s: %s at level %d, but the tenant has no contact for it", row["number"],
                    current.tenant, label(deadline.kind, deadline.target), level)  # fmt: skip
    log.info("ticket %s of %s: %s (escalation #%d), due %s, notified %s", row["number"], current.tenant,
             label(deadline.kind, deadline.target), escalation_id, iso(deadline.at), who)  # fmt: skip
    return int(escalation_id)


# -- the scanner ----------------------------------------------------------------------------------------------


class SlaScanner(PeriodicScanner):
    """Fires due escalations; one owned task, ``start``/``close``; ``clock`` is injectable."""

    label = "SLA scan"

    def __init__(self, db: Database, **options: Any) -> None:
        super().__init__(db, **options)
        self.fired = 0
        self.scans = 0

    def closing_summary(self) -> str:
        return f"SLA scanner shutdown: {self.fired} escalations fired in {self.scans} scans"

    def health(self) -> dict[str, Any]:
        return {"fired": self.fired, "last_error": self.last_error}

    def due_query(self, now: datetime) -> Any:
        """The indexed scan: timers due at ``now``, earliest first (``ix_sla_timers_next_due_at``)."""
        return (
            select(sla_timers.c.ticket_id)
            .where(sla_timers.c.next_due_at.is_not(None), sla_timers.c.next_due_at <= now)
            .order_by(sla_timers.c.next_due_at, sla_timers.c.ticket_id)
            .limit(self.batch_size)
        )

    async def scan_once(self) -> int:
        """Fire every escalation due now; the number this instance fired."""
        now = self.clock()
        count = 0
        seen: set[int] = set()
        while True:
            async with self.db.engine.connect() as conn:
                due = [t for t in (await conn.execute(self.due_query(now))).scalars() if t not in seen]
            for ticket_id in due:
                seen.add(ticket_id)
                try:
                    count += await self.handle(ticket_id, now)
                except Exception:  # one broken ticket must not stop escalation for every other one
                    log.exception("SLA: ticket %d failed; it stays due and is tried at the next scan", ticket_id)
            if len(due) < self.batch_size:
                break
        self.fired += count
        self.scans += 1
        return count

    async def handle(self, ticket_id: int, now: datetime) -> int:
        """Claim the ticket's due timer, fire what is due, store the next instant: one transaction."""
        async with self.db.engine.begin() as conn:
            claimed = await conn.execute(
                update(sla_timers)
                .where(
                    sla_timers.c.ticket_id == ticket_id,
                    sla_timers.c.next_due_at.is_not(None),
                    sla_timers.c.next_due_at <= now,
                )
                .values(next_due_at=None, computed_at=now)
                .returning(sla_timers.c.tenant)
            )
            tenant = claimed.scalar_one_or_none()
            if tenant is None:
                return 0  # another instance has it, or a ticket change moved it since the scan's query
            sla = await load_sla(conn, tenant, with_contacts=True)
            current = await plan(conn, ticket_id, sla=sla)
            if current is None or current.sla is None:
                return 0  # the ticket or the tenant's SLA is gone: the timer stays cleared
            firing = due_now(current.deadlines, now)
            ids: list[int] = []
            for deadline in firing:
                escalation_id = await fire(conn, current, deadline, current.sla, now)
                if escalation_id is not None:
                    ids.append(escalation_id)
            done = set(current.fired) | {(d.kind.value, d.target.value) for d in firing}
            ahead = [d for d in pending(current.deadlines, done) if d.at > now]
            await store(conn, ticket_id, current.tenant, min((d.at for d in ahead), default=None), now)
        return len(ids)
