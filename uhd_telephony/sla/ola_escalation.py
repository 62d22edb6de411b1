"""OLA escalation: a support group's foreseeable miss (warning) and miss (breach) of its own targets for a ticket
routed to it, fired once per routing, told to the group and to the helpdesk's lead.

``OlaScanner`` is the SLA's scanner machinery (``sla.timer_scan``) over ``ola_timers``: a page of due timers per
transaction, claimed, the plans recomputed (``sla.ola_timers``), each due deadline inserted into
``ola_escalations`` guarded by its unique key (ticket, routing, kind, target), an ``ola`` history row each, and
the notifications through the outbox: to the group's own mail and webhook (its work-order addresses, in its
language) and to the tenant's SLA contacts of the OLA's level (1: team lead by default; per category branch as
the SLA's) — each in its own language. The SLA's escalations, figures and history actions are not touched: an OLA
escalation is recorded apart (table ``ola_escalations``, history action ``ola``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.i18n import N_, check_locale, format_datetime, format_duration, format_percent, translator
from uhd_telephony.i18n import label as i18n_label
from uhd_telephony.outbox.service import PUBLIC_URL, Message, enqueue_many
from uhd_telephony.sla.calendar import Calendar, describe, describe_in
from uhd_telephony.sla.clock import Deadline, Kind
from uhd_telephony.sla.escalation import (
    _hm,
    _messages,
    _seconds,
    closing_lines,
    label,
    notified_words,
    ticket_lines,
    ticket_part,
)
from uhd_telephony.sla.models import ola_escalations, ola_timers
from uhd_telephony.sla.ola import TenantOla
from uhd_telephony.sla.ola_policy import LoadedOlas
from uhd_telephony.sla.ola_timers import OlaPlan, plans
from uhd_telephony.sla.policy import Contact, contacts_for
from uhd_telephony.sla.timer_scan import TimerScanner
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.history import SYSTEM, Change, iso

log = logging.getLogger(__name__)

OLA_ACTION = "ola"  # the history action of an OLA escalation (the SLA's are ``escalated``: no SLA figure reads it)
KIND_WORDS = {Kind.WARNING.value: N_("OLA warning"), Kind.BREACH.value: N_("OLA breach")}
_NOTE = re.compile(r"^OLA escalation #(\d+): (\w+) target ((?:\d+ h )?\d+ min), (\w+) due (\S+); notified: (.*)$", re.S)


def in_words(stored: str | None, locale: str | None) -> str:
    """An OLA escalation as the history stores it (``response warning``) in words: "OLA-Warnung (Reaktionszeit)"."""
    target, _, kind = (stored or "").partition(" ")
    tr = translator(locale)
    return tr.gettext(
        "%(kind)s (%(target)s)",
        kind=tr.gettext(KIND_WORDS[kind]) if kind in KIND_WORDS else kind,
        target=i18n_label("sla_target", target, locale),
    )


@history_text.describes(OLA_ACTION)
def _describe(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    what = in_words(entry.get("new_value"), ctx.locale)
    group = ctx.names.group(entry.get("field"), ctx.t)
    found = _NOTE.match(entry.get("note") or "")
    if found is None:
        return history_text.with_note(ctx.t.gettext("%(what)s of %(group)s", what=what, group=group),
                                      entry.get("note"), ctx)  # fmt: skip
    limit = _seconds(found.group(3))
    return ctx.t.gettext(
        "%(what)s of %(group)s: due %(due)s, target %(limit)s; notified: %(who)s",
        what=what,
        group=group,
        due=format_datetime(found.group(5), ctx.locale),
        limit=format_duration(limit, ctx.locale) if limit is not None else found.group(3),
        who=notified_words(found.group(6), ctx),
    )


# -- the messages ---------------------------------------------------------------------------------------------


def ola_body(
    ticket: Mapping[str, Any], plan: OlaPlan, deadline: Deadline, escalation_id: int, level: int, at: datetime
) -> dict[str, Any]:
    """The webhook's JSON (Standard Webhooks' ``type``/``timestamp``/``data`` envelope)."""
    assert plan.stint is not None and plan.policy is not None and plan.calendar is not None
    return {
        "type": "ticket.ola_escalated",
        "timestamp": iso(at),
        "data": {
            "ticket": ticket_part(ticket),
            "ola": {
                "id": escalation_id,
                "group": plan.stint.group,
                "kind": deadline.kind.value,
                "target": deadline.target.value,
                "level": level,
                "routed_at": iso(plan.stint.start),
                "due_at": iso(deadline.at),
                "fired_at": iso(at),
                "target_s": int(plan.policy.target(deadline.target).total_seconds()),
                "threshold_s": int(deadline.threshold.total_seconds()),
                "calendar": describe(plan.calendar),
            },
        },
    }


def ola_text(
    body: Mapping[str, Any], *, names: history_text.Names | None = None, calendar: str | None = None,
    locale: str | None = None,
) -> tuple[str, str]:  # fmt: skip
    """(subject, text) of the mail to a group or a lead: in ``locale`` (the recipient's; German by default), the
    ticket and group in words, times in Europe/Berlin; ``calendar``: the group's business hours in words."""
    tr = translator(locale)
    t, o = body["data"]["ticket"], body["data"]["ola"]
    names = names or history_text.Names()
    group = names.group(o["group"], tr)
    target = i18n_label("sla_target", o["target"], locale)
    if o["kind"] == Kind.WARNING.value:
        share = format_percent(o["threshold_s"] / o["target_s"] if o["target_s"] else 1.0, locale, digits=0)
        head = tr.gettext("OLA warning: %(share)s of the %(target)s of %(group)s used", share=share, target=target,
                          group=group)  # fmt: skip
    else:
        head = tr.gettext("OLA breached: %(target)s of %(group)s exceeded", target=target, group=group)
    lines = [
        head,
        "",
        *ticket_lines(t, names, locale),
        tr.gettext("Routed to %(group)s: %(when)s", group=group, when=format_datetime(o["routed_at"], locale)),
        tr.gettext(
            "Target: %(limit)s (%(hours)s)",
            limit=format_duration(o["target_s"], locale),
            hours=calendar or o["calendar"],
        ),
        tr.gettext("Due: %(when)s", when=format_datetime(o["due_at"], locale)),
        tr.gettext("The group's own target (OLA) for work routed to it; the ticket's SLA is counted apart."),
        "",
        tr.gettext("Ticket: %(url)s", url=f"{PUBLIC_URL}/tickets/{t['tenant']}/{t['id']}"),
        "",
        *closing_lines(tr),
    ]
    return f"[{t['number']}] {head}", "\n".join(lines) + "\n"


def _mail(
    body: dict[str, Any], contact: Contact, *, names: history_text.Names, calendar: Calendar | None,
    hours: dict[tuple[Calendar | None, str], str],
) -> tuple[str, str]:  # fmt: skip
    """The OLA mail to ``contact`` in its language; the business hours in words from ``hours`` (per calendar and
    language, filled as the firings need them)."""
    locale = check_locale(contact.locale)
    if (calendar, locale) not in hours:
        hours[(calendar, locale)] = describe_in(calendar, locale)
    return ola_text(body, names=names, calendar=hours[(calendar, locale)], locale=locale)


# -- firing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OlaFiring:
    """One deadline of one ticket's stint to record: the ticket's row (``tickets.view.view_select()``), its OLA
    plan, the deadline, and the tenant's OLAs with the contacts."""

    row: Mapping[str, Any]
    plan: OlaPlan
    deadline: Deadline
    ola: TenantOla

    def told(self) -> tuple[int, list[Contact]]:
        """The level of the lead's contacts, and who is told: the group itself, then the SLA contacts of that level
        (of the ticket's category branch where configured)."""
        level = self.ola.warning_level if self.deadline.kind is Kind.WARNING else self.ola.breach_level
        assert self.plan.stint is not None
        group = (self.ola.group_contacts or {}).get(self.plan.stint.group)
        leads = [] if self.ola.sla is None else contacts_for(self.ola.sla, level, self.row["category_path"])
        return level, ([group] if group is not None else []) + leads


def _insert(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    e = ola_escalations.c
    stmt = module.insert(ola_escalations).on_conflict_do_nothing(
        index_elements=[e.ticket_id, e.routed_id, e.kind, e.target]
    )
    return stmt.returning(e.id, e.ticket_id, e.routed_id, e.kind, e.target)


def _key(f: OlaFiring) -> tuple[int, int, str, str]:
    assert f.plan.stint is not None
    return f.plan.ticket_id, f.plan.stint.routed_id, f.deadline.kind.value, f.deadline.target.value


def _row(f: OlaFiring, level: int, contacts: Sequence[Contact], at: datetime) -> dict[str, Any]:
    """The ``ola_escalations`` row of one firing."""
    assert f.plan.stint is not None
    return {
        "ticket_id": f.plan.ticket_id, "tenant": f.plan.tenant, "support_group": f.plan.stint.group,
        "routed_id": f.plan.stint.routed_id, "routed_at": f.plan.stint.start, "kind": f.deadline.kind.value,
        "target": f.deadline.target.value, "level": level, "due_at": f.deadline.at, "fired_at": at,
        "priority": f.row["priority"],
        "notified": [{"name": c.name, "channels": list(c.channels())} for c in contacts],
    }  # fmt: skip


async def fire_many(conn: AsyncConnection, firings: Sequence[OlaFiring], at: datetime) -> list[int | None]:
    """Record OLA escalations with their history rows and notifications in the caller's transaction, in a handful
    of statements however many: each one's id, or None when it had fired already (the unique key decided: nothing
    written, nothing sent)."""
    told = [f.told() for f in firings]
    inserted: dict[tuple[int, int, str, str], int] = {}
    if firings:
        values = [_row(f, level, contacts, at) for f, (level, contacts) in zip(firings, told, strict=True)]
        for r in await conn.execute(_insert(conn.dialect.name), values):
            inserted[(r.ticket_id, r.routed_id, r.kind, r.target)] = int(r.id)
    tenants = sorted({f.plan.tenant for f in firings if _key(f) in inserted})
    names = {tenant: await history_text.names_for(conn, tenant) for tenant in tenants}
    hours: dict[tuple[Calendar | None, str], str] = {}
    changes: dict[int, list[Change]] = {}
    messages: list[Message] = []
    ids: list[int | None] = []
    for f, (level, contacts) in zip(firings, told, strict=True):
        escalation_id = inserted.get(_key(f))
        ids.append(escalation_id)
        plan, deadline, number = f.plan, f.deadline, f.row["number"]
        what = label(deadline.kind, deadline.target)
        if escalation_id is None or plan.stint is None or plan.policy is None:
            log.info("ticket %s: OLA %s fired before; nothing sent", number, what)
            continue
        who = ", ".join(f"{c.name} ({'+'.join(c.channels())})" for c in contacts) or "nobody configured"
        note = (
            f"OLA escalation #{escalation_id}: {deadline.target.value} target "
            f"{_hm(plan.policy.target(deadline.target).total_seconds())}, {deadline.kind.value} due "
            f"{iso(deadline.at)}; notified: {who}"
        )
        changes.setdefault(plan.ticket_id, []).append(Change(OLA_ACTION, plan.stint.group, None, what, note))
        body = ola_body(f.row, plan, deadline, escalation_id, level, at)
        mail = partial(_mail, names=names[plan.tenant], calendar=plan.calendar, hours=hours)
        messages += _messages(contacts, body, mail, tenant=plan.tenant, ticket_id=plan.ticket_id,
                              key=f"ola-escalation:{escalation_id}")  # fmt: skip
        log.info("ticket %s of %s: OLA %s of %s (#%d), due %s, notified %s", number, plan.tenant, what,
                 plan.stint.group, escalation_id, iso(deadline.at), who)  # fmt: skip
    await hist.append_many(conn, [(ticket_id, at, SYSTEM, each) for ticket_id, each in changes.items()])
    await enqueue_many(conn, messages, now=at)
    return ids


class OlaScanner(TimerScanner[TenantOla]):
    """Fires due OLA escalations (``sla.timer_scan``: a page of due ``ola_timers`` per transaction)."""

    label = "OLA scan"
    name = "OLA"
    table = ola_timers

    def loaded(self) -> LoadedOlas:
        return LoadedOlas()

    async def plans(
        self, conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], setups: Mapping[str, TenantOla]
    ) -> list[OlaPlan]:
        return await plans(conn, rows, setups)

    def firing(
        self, row: Mapping[Any, Any], plan: OlaPlan, deadline: Deadline, setups: Mapping[str, TenantOla]
    ) -> OlaFiring:
        return OlaFiring(row, plan, deadline, setups[plan.tenant])

    async def fire_many(self, conn: AsyncConnection, firings: Sequence[OlaFiring], at: datetime) -> list[int | None]:
        return await fire_many(conn, firings, at)
