"""Each ticket's next OLA due instant, persisted in ``ola_timers`` exactly as the SLA's in ``sla_timers``.

``plans()`` reads what the OLA clock needs of a batch of tickets (their routing, status, comment and assignment
rows; the partner accounts among the actors; the OLA escalations so far) in three statements however many, and
gives each ticket's plan: the stint of the group it is with now, that group's policy for its priority, and the
deadlines still to fire. ``schedule()`` stores the earliest for one ticket; the history hook calls it on every
routing, status and priority change. The stored instant may be early, never late (``sla.timers``): a response
only moves deadlines later, and a ticket routed to a group without an OLA keeps its old instant until the OLA
scanner recomputes it and finds nothing ahead.

Locks as ``sla.timers``: a ticket change holds the ticket row, then writes the OLA timer row before it reads the
OLA escalations; the OLA scanner claims its timer rows first, in ticket order, and never waits for a ticket row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.accounts.models import Account
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.clock import Deadline, Policy, deadlines, pending
from uhd_telephony.sla.models import ola_escalations, ola_timers
from uhd_telephony.sla.ola import STINT_ACTIONS, Event, GroupOla, Stint, TenantOla, current_stint, members, stints
from uhd_telephony.sla.ola_policy import group_ola
from uhd_telephony.sla.timers import lock_timer, store_many
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import Action, Change, history
from uhd_telephony.tickets.view import tickets
from uhd_telephony.web.roles import Role

# the history rows that start, stop, pause or re-target a group's clock
RESCHEDULING = frozenset({Action.ROUTED.value, Action.STATUS.value, Action.PRIORITY.value, Action.TENANT.value})
PARTNER_ACTOR = "partner:"


@dataclass(frozen=True, slots=True)
class OlaPlan:
    """A ticket's OLA as of now: the stint of the group it is with, the group's OLA and policy for its priority,
    and the deadlines still to fire (earliest first); no stint, OLA or policy: nothing due."""

    ticket_id: int
    tenant: str
    priority: int | None
    stint: Stint | None
    ola: GroupOla | None
    policy: Policy | None
    deadlines: tuple[Deadline, ...] = ()
    fired: frozenset[tuple[str, str]] = frozenset()  # (kind, target) fired for this stint

    @property
    def next_due(self) -> datetime | None:
        return min((d.at for d in self.deadlines), default=None)

    @property
    def calendar(self) -> Calendar | None:
        return None if self.ola is None or self.policy is None else self.ola.calendar_of(self.policy)


async def history_events(conn: AsyncConnection, ticket_ids: Collection[int]) -> dict[int, list[Event]]:
    """The rows of ``ticket_ids``' histories the OLA clock reads, per ticket in history order: one statement."""
    found: dict[int, list[Event]] = defaultdict(list)
    if not ticket_ids:
        return found
    h = history.c
    stmt = (
        select(h.ticket_id, h.id, h.at, h.action, h.actor, h.field, h.new_value)
        .where(h.ticket_id.in_(sorted(set(ticket_ids))), h.action.in_(STINT_ACTIONS))
        .order_by(h.ticket_id, h.id)
    )
    for ticket_id, *row in await conn.execute(stmt):
        found[ticket_id].append(Event(*row))
    return found


async def partner_groups(conn: AsyncConnection, actors: Collection[str]) -> dict[str, str | None]:
    """``partner:<id>`` -> the partner account's group, for the partner actors among ``actors``: one statement."""
    numbers = (a.removeprefix(PARTNER_ACTOR) for a in actors if a.startswith(PARTNER_ACTOR))
    ids = {int(n) for n in numbers if n.isdigit()}
    if not ids:
        return {}
    stmt = select(Account.id, Account.partner_group).where(Account.id.in_(sorted(ids)), Account.role == Role.PARTNER)
    return {f"{PARTNER_ACTOR}{account_id}": group for account_id, group in await conn.execute(stmt)}


async def fired_of(conn: AsyncConnection, ticket_ids: Collection[int]) -> dict[tuple[int, int], set[tuple[str, str]]]:
    """(ticket, routing) -> (kind, target) of the OLA escalations fired so far: one statement."""
    found: dict[tuple[int, int], set[tuple[str, str]]] = defaultdict(set)
    if ticket_ids:
        e = ola_escalations.c
        stmt = select(e.ticket_id, e.routed_id, e.kind, e.target).where(e.ticket_id.in_(sorted(set(ticket_ids))))
        for ticket_id, routed_id, kind, target in await conn.execute(stmt):
            found[(ticket_id, routed_id)].add((kind, target))
    return found


def _measured(row: Mapping[Any, Any], olas: Mapping[str, TenantOla]) -> tuple[GroupOla, Policy] | None:
    ola = olas.get(row["tenant"])
    group = None if ola is None else ola.groups.get(row["support_group"])
    policy = None if group is None else group.policy_for(row["priority"])
    return None if group is None or policy is None else (group, policy)


async def plans(
    conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], olas: Mapping[str, TenantOla]
) -> list[OlaPlan]:
    """The OLA plans of tickets (rows with id, tenant, status, priority, support_group) under their tenants' OLAs
    (a tenant absent: none), in three statements however many."""
    measured = {r["id"]: m for r in rows if (m := _measured(r, olas)) is not None}
    events = await history_events(conn, measured)
    groups = await partner_groups(conn, {e.actor for each in events.values() for e in each})
    done = await fired_of(conn, measured)
    acts_for = members(groups)
    out: list[OlaPlan] = []
    for row in rows:
        if row["id"] not in measured:
            out.append(OlaPlan(row["id"], row["tenant"], row["priority"], None, None, None))
            continue
        group, policy = measured[row["id"]]
        stint = current_stint(stints(events[row["id"]], acts_for, row["status"]), row["support_group"])
        fired = frozenset(done.get((row["id"], stint.routed_id), ())) if stint is not None else frozenset()
        ahead: tuple[Deadline, ...] = ()
        if stint is not None and stint.open:
            ahead = tuple(pending(deadlines(stint.facts(), policy, group.calendar), set(fired)))
        out.append(OlaPlan(row["id"], row["tenant"], row["priority"], stint, group, policy, ahead, fired))
    return out


async def schedule(conn: AsyncConnection, ticket_id: int, now: datetime) -> OlaPlan | None:
    """Recompute and store the ticket's next OLA due instant in the caller's transaction; its plan (None: no such
    ticket, or its group has no OLA — two small reads then, nothing written)."""
    stmt = select(tickets.c.id, tickets.c.tenant, tickets.c.status, tickets.c.priority, tickets.c.support_group)
    row = (await conn.execute(stmt.where(tickets.c.id == ticket_id))).mappings().first()
    if row is None:
        return None
    group = await group_ola(conn, row["tenant"], row["support_group"])
    if group is None:
        return None  # an instant stored for the group before stays early: the scanner clears it
    await lock_timer(conn, ticket_id, now, table=ola_timers)  # before the OLA escalations are read
    (current,) = await plans(conn, [row], {row["tenant"]: TenantOla(row["tenant"], {group.group: group})})
    await store_many(conn, [(ticket_id, current.tenant, current.next_due)], now, table=ola_timers)
    return current


@hist.on_change
async def on_ticket_change(
    conn: AsyncConnection, ticket_id: int, at: datetime, actor: str, changes: Sequence[Change]
) -> None:
    """After a routing, status or priority row (same transaction): reschedule the ticket's OLA timer."""
    if any(str(c.action) in RESCHEDULING for c in changes):
        await schedule(conn, ticket_id, at)
