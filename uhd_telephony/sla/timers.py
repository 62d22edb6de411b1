"""Each ticket's next SLA due instant, persisted: computed from the ticket's facts, never slept on in memory.

``plan()`` reads what the clock needs (the ticket, its status rows, its escalations so far, the tenant's SLA)
and returns the deadlines still to fire; ``schedule()`` stores the earliest as ``sla_timers.next_due_at``. The
scanner (``sla.escalation``) finds due rows with an indexed query, so a restart loses nothing and an instant
that passed while the service was down is simply due at the next scan.

The stored instant may be early, never late: only a status or priority change (or an import) moves a deadline
earlier, and each reschedules in its own transaction. The write that records an agent's first response appends
its history row before it sets ``first_response_at`` (and a comment reschedules nothing), so the response
deadline can stay stored after it stopped mattering; the scanner recomputes the plan before it fires anything,
finds nothing due and stores the next instant.

Locks: a ticket change holds the ticket row, then writes the timer row; the scanner takes the timer rows of its
page first (``claim``, in ticket order) and never waits for a ticket row (its inserts referencing the tickets take
only the key-share lock, which a ticket update does not block). Both write the timer row before they read the
ticket's escalations — so a status change and a scanner firing the same ticket take turns on the timer row,
without deadlock, and whichever comes second sees what the first committed (tests/sla/test_instances.py races the
two on PostgreSQL). Whoever takes several timer rows takes them in ticket order (the scanner's claim, an SLA
import re-arming a tenant's tickets), so two of them never wait on each other in a circle either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.clock import Deadline, Facts, Policy, deadlines, pending
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import TenantSla, load_sla
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import Action
from uhd_telephony.tickets.models import TicketHistory
from uhd_telephony.tickets.view import tickets

history = table_of(TicketHistory)


@dataclass(frozen=True, slots=True)
class Plan:
    """A ticket's SLA as of now: its policy and calendar, and the deadlines still to fire (earliest first)."""

    ticket_id: int
    tenant: str
    facts: Facts
    priority: int | None
    category_id: int | None
    sla: TenantSla | None
    policy: Policy | None
    calendar: Calendar | None
    deadlines: tuple[Deadline, ...]
    fired: frozenset[tuple[str, str]]

    @property
    def next_due(self) -> datetime | None:
        return min((d.at for d in self.deadlines), default=None)


async def _ticket_row(conn: AsyncConnection, ticket_id: int) -> Mapping[Any, Any] | None:
    stmt = select(
        tickets.c.id,
        tickets.c.tenant,
        tickets.c.status,
        tickets.c.priority,
        tickets.c.category_id,
        tickets.c.created_at,
        tickets.c.first_response_at,
    ).where(tickets.c.id == ticket_id)
    return (await conn.execute(stmt)).mappings().first()


async def _facts(conn: AsyncConnection, row: Mapping[Any, Any]) -> Facts:
    changes = await conn.execute(
        select(history.c.at, history.c.new_value)
        .where(
            history.c.ticket_id == row["id"],
            history.c.action == Action.STATUS.value,
            history.c.field == "status",
        )
        .order_by(history.c.id)
    )
    return Facts(
        created_at=row["created_at"],
        status=row["status"],
        changes=tuple((at, str(new)) for at, new in changes.all()),
        first_response_at=row["first_response_at"],
    )


async def ticket_facts(conn: AsyncConnection, ticket_id: int) -> Facts | None:
    """What the SLA clock needs of a ticket: creation, status rows of its history, first response."""
    row = await _ticket_row(conn, ticket_id)
    return None if row is None else await _facts(conn, row)


async def fired(conn: AsyncConnection, ticket_id: int) -> frozenset[tuple[str, str]]:
    """(kind, target) of the ticket's escalations so far."""
    stmt = select(escalations.c.kind, escalations.c.target).where(escalations.c.ticket_id == ticket_id)
    return frozenset((kind, target) for kind, target in (await conn.execute(stmt)).all())


async def plan(
    conn: AsyncConnection, ticket_id: int, *, sla: TenantSla | None = None, tenant: str | None = None
) -> Plan | None:
    """The ticket's SLA plan; None when there is no such ticket (of ``tenant``, when given: another tenant's ticket
    is not looked into). No SLA (tenant or priority): no deadlines."""
    row = await _ticket_row(conn, ticket_id)
    if row is None or (tenant is not None and row["tenant"] != tenant):
        return None
    if sla is None or sla.tenant != row["tenant"]:  # (a ticket's tenant never changes; the guard is for the caller)
        sla = await load_sla(conn, row["tenant"])
    return await _plan(conn, row, sla)


async def _plan(conn: AsyncConnection, row: Mapping[Any, Any], sla: TenantSla | None) -> Plan:
    """``plan()`` of the ticket ``row`` (``_ticket_row``) under its tenant's ``sla``."""
    policy = None if sla is None else sla.policy_for(row["priority"])
    if policy is None:
        return _assemble(row, sla, (), frozenset())
    facts = await _facts(conn, row)
    return _assemble(row, sla, facts.changes, await fired(conn, row["id"]))


def _assemble(
    row: Mapping[Any, Any], sla: TenantSla | None, changes: Sequence[tuple[datetime, str]],
    done: frozenset[tuple[str, str]],
) -> Plan:  # fmt: skip
    """The plan of the ticket ``row`` from its status rows (``changes``) and its escalations so far (``done``;
    both empty when the ticket is measured by no policy)."""
    policy = None if sla is None else sla.policy_for(row["priority"])
    calendar = None if sla is None or policy is None else sla.calendar_of(policy)
    facts = Facts(
        created_at=row["created_at"],
        status=row["status"],
        changes=tuple(changes),
        first_response_at=row["first_response_at"],
    )
    ahead: tuple[Deadline, ...] = ()
    if policy is not None and calendar is not None:
        ahead = tuple(pending(deadlines(facts, policy, calendar), set(done)))
    return Plan(
        row["id"], row["tenant"], facts, row["priority"], row["category_id"], sla, policy, calendar, ahead, done
    )


async def plans(conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], slas: Mapping[str, TenantSla]) -> list[Plan]:
    """``plan()`` of many tickets (rows with ``_ticket_row``'s columns, e.g. ``tickets.view.view_select()``'s)
    under their tenants' SLAs (a tenant absent: none), in two statements however many: their status rows and
    their escalations so far."""
    measured = [r["id"] for r in rows if (sla := slas.get(r["tenant"])) and sla.policy_for(r["priority"])]
    changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    done: dict[int, set[tuple[str, str]]] = defaultdict(set)
    if measured:
        stmt = (
            select(history.c.ticket_id, history.c.at, history.c.new_value)
            .where(
                history.c.ticket_id.in_(measured),
                history.c.action == Action.STATUS.value,
                history.c.field == "status",
            )
            .order_by(history.c.ticket_id, history.c.id)
        )
        for ticket_id, at, new in await conn.execute(stmt):
            changes[ticket_id].append((at, str(new)))
        stmt = select(escalations.c.ticket_id, escalations.c.kind, escalations.c.target).where(
            escalations.c.ticket_id.in_(measured)
        )
        for ticket_id, kind, target in await conn.execute(stmt):
            done[ticket_id].add((kind, target))
    return [
        _assemble(r, slas.get(r["tenant"]), changes.get(r["id"], ()), frozenset(done.get(r["id"], ()))) for r in rows
    ]


async def lock_timer(conn: AsyncConnection, ticket_id: int, now: datetime, *, table: Table = sla_timers) -> None:
    """Take the ticket's timer row (if it has one) before reading its escalations: see the module's lock order.
    ``table``: ``sla_timers``, or ``ola_timers`` (the OLA's, kept the same way: ``sla.ola_timers``)."""
    await conn.execute(update(table).where(table.c.ticket_id == ticket_id).values(computed_at=now))


async def claim(
    conn: AsyncConnection, ticket_ids: Collection[int], now: datetime, *, table: Table = sla_timers
) -> list[int]:
    """Claim the timers of ``ticket_ids`` that are due at ``now`` (``next_due_at`` cleared) in the caller's
    transaction; the tickets this transaction won, in order. A timer another instance claimed, or a ticket change
    moved, since the caller's due query is not claimed: the condition is checked again on the row as it is once
    its lock is ours (PostgreSQL waits for a transaction holding it; SQLite has one writer at a time).

    PostgreSQL locks the rows in ticket order (``FOR UPDATE`` in the subquery): two scanners claiming overlapping
    batches, and an import re-arming a tenant's timers (``policy.arm_open_tickets``, also in ticket order), never
    wait on each other in a circle. ``table``: as ``lock_timer``'s."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return []
    due = (table.c.next_due_at.is_not(None), table.c.next_due_at <= now)
    chosen: Any = ids
    if conn.dialect.name == "postgresql":
        chosen = select(table.c.ticket_id).where(table.c.ticket_id.in_(ids), *due).order_by(table.c.ticket_id)
        chosen = chosen.with_for_update()
    stmt = (
        update(table)
        .where(table.c.ticket_id.in_(chosen), *due)
        .values(next_due_at=None, computed_at=now)
        .returning(table.c.ticket_id)
    )
    return sorted((await conn.execute(stmt)).scalars())


def _upsert(dialect: str, table: Table) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.ticket_id],
        set_={"next_due_at": stmt.excluded.next_due_at, "computed_at": stmt.excluded.computed_at},
    )


async def store(conn: AsyncConnection, ticket_id: int, tenant: str, next_due: datetime | None, now: datetime) -> None:
    """Write the ticket's next due instant (NULL: nothing ahead, the row leaves the scan's index)."""
    await store_many(conn, [(ticket_id, tenant, next_due)], now)


async def store_many(
    conn: AsyncConnection, timers: Sequence[tuple[int, str, datetime | None]], now: datetime, *,
    table: Table = sla_timers,
) -> None:  # fmt: skip
    """``store`` of many (ticket id, tenant, next due instant) in one executemany (``table``: as ``lock_timer``'s)."""
    rows = [{"ticket_id": t, "tenant": tenant, "next_due_at": due, "computed_at": now} for t, tenant, due in timers]
    if rows:
        await conn.execute(_upsert(conn.dialect.name, table), rows)


async def schedule(
    conn: AsyncConnection, ticket_id: int, now: datetime, *, new: Sequence[tuple[datetime, str]] | None = None
) -> Plan | None:
    """Recompute and store the ticket's next due instant in the caller's transaction; its plan (None: no such
    ticket, or its tenant has no SLA).

    ``new``: the ticket was inserted in this very transaction, with these status rows (usually none): it has no
    timer row to lock, no other status rows and no escalations to read — three round trips fewer on the way to
    an answered call's pop."""
    row = await _ticket_row(conn, ticket_id)
    if row is None:
        return None
    sla = await load_sla(conn, row["tenant"])
    if sla is None:
        if new is None:
            # no SLA for this tenant: no timer row (an SLA imported later arms the tenant's open tickets)
            await conn.execute(delete(sla_timers).where(sla_timers.c.ticket_id == ticket_id))
        return None
    if new is not None:
        current = _assemble(row, sla, new, frozenset())
    else:
        await lock_timer(conn, ticket_id, now)  # before the escalations are read: see the lock order above
        current = await _plan(conn, row, sla)
    await store(conn, ticket_id, current.tenant, current.next_due, now)
    return current
