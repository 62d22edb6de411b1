"""Escalation: a foreseeable miss (warning) and a miss (breach) of an SLA target, fired exactly once each.

``SlaScanner`` looks for due timers every ~15 s with an indexed query (``sla_timers.next_due_at``), a page of 100
at a time until none is left, and fires each page in one transaction (``fire_due``), in a fixed number of
statements however many tickets — the machinery of ``sla.timer_scan``, which the support groups' OLAs use too:

1. the claim: ``UPDATE sla_timers SET next_due_at = NULL WHERE ticket_id IN (…page…) AND next_due_at <= now`` —
   of two service instances exactly one changes each row (PostgreSQL: the other waits for the row lock, then
   finds the condition false; rows locked in ticket order, so two claims never wait in a circle; SQLite: one
   writer at a time);
2. the tickets' plans are computed again from their facts, read for the page at once (a status or priority change
   since only moves deadlines); the tenants' SLAs are loaded once per scan (``policy.LoadedSlas``);
3. each deadline due fires: ``INSERT INTO escalations … ON CONFLICT (ticket_id, kind, target) DO NOTHING`` — the
   unique key is the second guard: a row already there means it fired before, and nothing is sent;
4. with the escalation rows go their ``escalated`` history rows and the notifications (outbox rows) to the
   tenant's contacts of the level (per category branch where configured), then each ticket's next due instant.

All of it commits together or not at all: a crash mid-way leaves the timers due, and the next scan (here or on
another instance, after a restart too) fires them — once. A page that fails on a ticket's data is fired again
ticket by ticket (``SlaScanner``), so that ticket holds up no other.

``on_ticket_change`` is what the ticket history calls after a creation, status or priority row: it reschedules the
ticket's timer and, when the ticket is resolved, de-escalates its open escalations (reason "ticket resolved").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import func, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.i18n import (
    DEFAULT_LOCALE,
    LOCALES,
    Translator,
    actor_label,
    check_locale,
    format_datetime,
    format_duration,
    format_percent,
    priority_label,
    translator,
)
from uhd_telephony.i18n import label as i18n_label
from uhd_telephony.outbox.service import PUBLIC_URL, Message, enqueue_many
from uhd_telephony.sla.calendar import Calendar, describe, describe_in
from uhd_telephony.sla.clock import DONE, Deadline, Kind
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import Contact, LoadedSlas, TenantSla, contacts_for, load_sla
from uhd_telephony.sla.timer_scan import TimerScanner
from uhd_telephony.sla.timers import Plan, plans, schedule
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


def notified_words(stored: str, ctx: history_text.Context) -> str:
    """Who an escalation told, as its history note stores it ("Teamleitung (mail+webhook)"), in words."""
    if stored == "nobody configured":
        return ctx.t.gettext("nobody (no contact configured)")
    return _CHANNELS.sub(
        lambda m: "(" + ", ".join(i18n_label("notify_channel", c, ctx.locale) for c in m.group(1).split("+")) + ")",
        stored,
    )


@history_text.describes(Action.ESCALATED.value)
def _describe_escalated(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    what = in_words(entry.get("new_value"), ctx.locale)
    found = _ESCALATED_NOTE.match(entry.get("note") or "")
    if found is None:
        return history_text.with_note(what, entry.get("note"), ctx)
    limit = _seconds(found.group(3))
    notified = notified_words(found.group(7), ctx)
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
    created = any(str(c.action) == Action.CREATED.value for c in changes)
    statuses = [(at, str(c.new)) for c in changes if str(c.action) == Action.STATUS.value and c.field == "status"]
    await schedule(conn, ticket_id, at, new=statuses if created else None)
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
    accounts = await history_text.account_names(conn, [actor])
    who = {locale: actor_label(actor, locale, accounts) for locale in LOCALES}  # each contact reads its language
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
                    "de_escalated_by_name": who[DEFAULT_LOCALE],
                    "reason": reason,
                },
            },
        }
        queued += await _tell(
            conn,
            contacts,
            body,
            partial(_de_escalation_mail, names=names, who=who),
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
    """Queue ``_messages(...)`` through the outbox in the caller's transaction; how many."""
    messages = _messages(contacts, body, mail, tenant=tenant, ticket_id=ticket_id, key=key)
    await enqueue_many(conn, messages, now=at)
    return len(messages)


def _messages(
    contacts: Sequence[Contact], body: dict[str, Any], mail: Callable[[dict[str, Any], Contact], tuple[str, str]],
    *, tenant: str, ticket_id: int, key: str,
) -> list[Message]:  # fmt: skip
    """``body`` to each contact on each of its channels: the webhook gets ``body``, the mail ``mail(body,
    contact)``'s (subject, text); deduplicated by ``<key>:<contact key>:<channel>``."""
    out = []
    for contact in contacts:
        subject, text = mail(body, contact)
        for channel in contact.channels():
            out.append(
                Message(
                    tenant=tenant,
                    channel="mail" if channel == "mail" else "webhook",
                    target=", ".join(contact.mail) if channel == "mail" else str(contact.webhook_url),
                    subject=subject if channel == "mail" else None,
                    body={"text": text} if channel == "mail" else body,
                    dedupe_key=f"{key}:{contact.key}:{channel}",
                    ticket_id=ticket_id,
                )
            )
    return out


def de_escalation_text(
    body: Mapping[str, Any], *, names: history_text.Names | None = None, locale: str | None = DEFAULT_LOCALE,
    who: str | None = None,
) -> tuple[str, str]:  # fmt: skip
    """(subject, text) of the all-clear mail: in ``locale`` (the contact's; German by default), statuses, tenants
    and people in words (``who``: the one who took it back, named in ``locale``), times in Europe/Berlin."""
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
            who=who or e["de_escalated_by_name"],
            when=format_datetime(e["de_escalated_at"], locale),
        ),
        tr.gettext("Reason: %(reason)s", reason=_reason(e["reason"], locale)),
        "",
        tr.gettext("Ticket: %(url)s", url=f"{PUBLIC_URL}/tickets/{t['tenant']}/{t['id']}"),
        "",
        *closing_lines(tr),
    ]
    return f"[{t['number']}] {head}", "\n".join(lines) + "\n"


# -- firing ---------------------------------------------------------------------------------------------------


def _de_escalation_mail(
    body: dict[str, Any], contact: Contact, *, names: history_text.Names, who: Mapping[str, str]
) -> tuple[str, str]:
    """The all-clear mail to ``contact``, in its language."""
    locale = check_locale(contact.locale)
    return de_escalation_text(body, names=names, locale=locale, who=who[locale])


def _escalation_mail(
    body: dict[str, Any], contact: Contact, *, names: history_text.Names, calendar: Calendar | None,
    hours: dict[tuple[Calendar | None, str], str],
) -> tuple[str, str]:  # fmt: skip
    """The escalation mail to ``contact``, in its language; the business hours in words from ``hours`` (per
    calendar and language, filled as the firings need them)."""
    locale = check_locale(contact.locale)
    if (calendar, locale) not in hours:
        hours[(calendar, locale)] = describe_in(calendar, locale)
    return escalation_text(body, contact, names=names, calendar=hours[(calendar, locale)], locale=locale)


def _insert_escalations(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(escalations).on_conflict_do_nothing(
        index_elements=[escalations.c.ticket_id, escalations.c.kind, escalations.c.target]
    )
    return stmt.returning(escalations.c.id, escalations.c.ticket_id, escalations.c.kind, escalations.c.target)


def ticket_part(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket as an escalation's webhook carries it (``tickets.view.view_select()``'s row)."""
    return {
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
    }


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
            "ticket": ticket_part(ticket),
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


def closing_lines(tr: Translator) -> list[str]:
    """The last lines of every escalation mail: what its times are, and that a machine wrote it."""
    return [
        tr.gettext("Times in German local time (Europe/Berlin)."),
        tr.gettext("This message was generated automatically."),
    ]


def ticket_lines(t: Mapping[str, Any], names: history_text.Names, locale: str | None) -> list[str]:
    """The ticket as an escalation's mail names it (``ticket_part``'s dict): number and subject, tenant, priority,
    category, status and group, in words of ``locale``."""
    tr = translator(locale)
    category = names.category(t["category"]) if t["category"] else tr.gettext("not classified")
    return [
        tr.gettext("Ticket: %(number)s — %(subject)s", number=t["number"], subject=t["subject"] or "\u2013"),
        tr.gettext("Tenant: %(tenant)s", tenant=names.tenant(t["tenant"])),
        tr.gettext("Priority: %(priority)s", priority=priority_label(t["priority"], locale)),
        tr.gettext("Category: %(category)s", category=category),
        tr.gettext(
            "Status: %(status)s, group: %(group)s",
            status=i18n_label("status", t["status"], locale),
            group=names.group(t["support_group"], tr),
        ),
    ]


def escalation_text(
    body: Mapping[str, Any], contact: Contact, *, names: history_text.Names | None = None,
    calendar: str | None = None, locale: str | None = DEFAULT_LOCALE,
) -> tuple[str, str]:  # fmt: skip
    """(subject, text) of the mail: in ``locale`` (the contact's; German by default), statuses, priorities,
    categories (titles), groups and tenants in words, times in Europe/Berlin; ``calendar``: the business hours in
    words (``calendar.describe_in`` in ``locale``)."""
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
    lines = [
        head,
        "",
        *ticket_lines(t, names, locale),
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
        *closing_lines(tr),
    ]
    return f"[{t['number']}] {head}", "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Firing:
    """One deadline of one ticket to record: the ticket's row (``tickets.view.view_select()``), its plan, the
    deadline, and the tenant's SLA with its contacts."""

    row: Mapping[str, Any]
    current: Plan
    deadline: Deadline
    sla: TenantSla


async def fire(
    conn: AsyncConnection, current: Plan, deadline: Deadline, sla: TenantSla, at: datetime
) -> int | None:  # fmt: skip
    """Record one escalation with its history row and notifications, in the caller's transaction; its id, or
    None when it had fired already (the unique key decided: nothing written, nothing sent)."""
    row = (await conn.execute(view_select().where(tickets.c.id == current.ticket_id))).mappings().one()
    (escalation_id,) = await fire_many(conn, [Firing(row, current, deadline, sla)], at)
    return escalation_id


async def fire_many(conn: AsyncConnection, firings: Sequence[Firing], at: datetime) -> list[int | None]:
    """Record escalations with their history rows and notifications in the caller's transaction, in a handful of
    statements however many (the escalation rows, the history rows, the outbox rows, the names the mails use):
    each one's id, or None when it had fired already (the unique key decided: nothing written, nothing sent)."""
    told = []
    for f in firings:
        level = f.sla.warning_level if f.deadline.kind is Kind.WARNING else f.sla.breach_level
        told.append((level, contacts_for(f.sla, level, f.row["category_path"])))
    values = [
        {
            "ticket_id": f.current.ticket_id,
            "tenant": f.current.tenant,
            "kind": f.deadline.kind.value,
            "target": f.deadline.target.value,
            "level": level,
            "due_at": f.deadline.at,
            "fired_at": at,
            "category_id": f.row["category_id"],
            "priority": f.row["priority"],
            "notified": [{"name": c.name, "channels": list(c.channels())} for c in contacts],
        }
        for f, (level, contacts) in zip(firings, told, strict=True)
    ]
    inserted: dict[tuple[int, str, str], int] = {}  # (ticket, kind, target) -> the new escalation's id
    if values:
        for r in await conn.execute(_insert_escalations(conn.dialect.name), values):
            inserted[(r.ticket_id, r.kind, r.target)] = int(r.id)
    keys = [(f.current.ticket_id, f.deadline.kind.value, f.deadline.target.value) for f in firings]
    tenants = sorted({f.current.tenant for f, key in zip(firings, keys, strict=True) if key in inserted})
    names = {tenant: await history_text.names_for(conn, tenant) for tenant in tenants}
    hours: dict[tuple[Calendar | None, str], str] = {}  # the business hours in words, per calendar and language
    changes: dict[int, list[Change]] = {}
    messages: list[Message] = []
    ids: list[int | None] = []
    for f, (level, contacts), key in zip(firings, told, keys, strict=True):
        current, deadline, number = f.current, f.deadline, f.row["number"]
        what = label(deadline.kind, deadline.target)
        escalation_id = inserted.get(key)
        ids.append(escalation_id)
        if escalation_id is None:
            log.info("ticket %s: %s fired before; nothing sent", number, what)
            continue
        who = ", ".join(f"{c.name} ({'+'.join(c.channels())})" for c in contacts) or "nobody configured"
        assert current.policy is not None and current.calendar is not None
        note = (
            f"escalation #{escalation_id}: {deadline.target.value} target "
            f"{_hm(current.policy.target(deadline.target).total_seconds())}, "
            f"{deadline.kind.value} due {iso(deadline.at)}; level {level} notified: {who}"
        )
        changes.setdefault(current.ticket_id, []).append(Change(Action.ESCALATED, HISTORY_FIELD, None, what, note))
        body = escalation_body(f.row, f.sla, current, deadline, escalation_id, level, at)
        messages += _messages(
            contacts,
            body,
            partial(_escalation_mail, names=names[current.tenant], calendar=current.calendar, hours=hours),
            tenant=current.tenant,
            ticket_id=current.ticket_id,
            key=f"escalation:{escalation_id}",
        )
        if not contacts:
            log.warning("ticket %s of %s: %s at level %d, but the tenant has no contact for it", number,
                        current.tenant, what, level)  # fmt: skip
        log.info("ticket %s of %s: %s (escalation #%d), due %s, notified %s", number, current.tenant, what,
                 escalation_id, iso(deadline.at), who)  # fmt: skip
    await hist.append_many(conn, [(ticket_id, at, SYSTEM, each) for ticket_id, each in changes.items()])
    await enqueue_many(conn, messages, now=at)
    return ids


# -- the scanner ----------------------------------------------------------------------------------------------


class SlaScanner(TimerScanner[TenantSla]):
    """Fires due SLA escalations (``sla.timer_scan``: a page of due ``sla_timers`` per transaction)."""

    label = "SLA scan"
    table = sla_timers

    def loaded(self) -> LoadedSlas:
        return LoadedSlas()

    async def plans(
        self, conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], setups: Mapping[str, TenantSla]
    ) -> list[Plan]:
        return await plans(conn, rows, setups)

    def firing(self, row: Mapping[Any, Any], plan: Plan, deadline: Deadline, setups: Mapping[str, TenantSla]) -> Firing:
        assert plan.sla is not None  # a plan with deadlines has its SLA
        return Firing(row, plan, deadline, plan.sla)

    async def fire_many(self, conn: AsyncConnection, firings: Sequence[Firing], at: datetime) -> list[int | None]:
        return await fire_many(conn, firings, at)
