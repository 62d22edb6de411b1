"""Working a ticket: the status state machine and every change an agent makes, each one transaction with its history.

The state machine (``TRANSITIONS``)::

    new ─────────▶ in_progress ◀────▶ waiting        (waiting pauses the SLA clock)
     │                 │                 │
     └────────────────▶├◀────────────────┘
                       ▼
                    resolved ──▶ closed
                       │           │
                       ▼           ▼
                    reopened ◀─────┘  ──▶ in_progress | resolved

A transition not in the table is ``Conflict`` (409) naming both statuses. Every status change is one history row
(action ``status``, field ``status``, old and new value); its ``at`` is when the SLA clock paused or resumed.
A resolution text is required to resolve and a reason to reopen; both are the status row's ``note``.

Comments are history rows too: action ``comment``, field ``public`` (shown to the caller on the status page) or
``internal``, the text in ``note``. The first write by a staff account sets ``first_response_at`` on a web or
mail ticket (a phone ticket is responded to when the agent answers the call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.accounts.service import AccountView
from uhd_telephony.errors import Conflict, NotFound, TicketError
from uhd_telephony.i18n import Label, Msg, Quoted
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import Action, Change, history
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.notify import notify_caller
from uhd_telephony.tickets.priority import priority
from uhd_telephony.tickets.routing import MAX_REASON, RouteResult, route
from uhd_telephony.tickets.service import SUBJECT_LENGTH, TicketService, clean_text, is_id, is_staff
from uhd_telephony.tickets.view import TicketView, from_row, tickets, view_select

S = TicketStatus

TRANSITIONS: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset({S.IN_PROGRESS, S.RESOLVED}),  # resolved at once: solved on the phone
    S.IN_PROGRESS: frozenset({S.WAITING, S.RESOLVED}),
    S.WAITING: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.IN_PROGRESS, S.RESOLVED}),
}
# a status change that needs a text: what solved it, why it is open again
NOTE_REQUIRED: Mapping[TicketStatus, str] = {S.RESOLVED: "resolution", S.REOPENED: "reason"}
# a ticket in one of these takes no comment, assignment, routing or edit: only reopening
FINAL = frozenset({S.CLOSED})
# routing moves work on: a resolved ticket has none left
NOT_ROUTABLE = frozenset({S.RESOLVED, S.CLOSED})

# the roles whose accounts work tickets: the assignable ones
STAFF = frozenset({"agent", "admin"})
PUBLIC = hist.PUBLIC_COMMENT
INTERNAL = hist.INTERNAL_COMMENT


def not_an_agent(tenant: str, agent_id: int) -> TicketError:
    """The one answer for an id that is no active agent of ``tenant``: none such, inactive, or another tenant's
    (the answer must not tell whether an account id exists elsewhere)."""
    return TicketError(
        Msg("%(agent)s is no active agent of %(tenant)s", agent=agent_id, tenant=tenant),
        {"field": "agent_id", "agent_id": agent_id},
    )


def _status(value: str) -> TicketStatus | None:
    try:
        return S(value)
    except ValueError:
        return None


def next_statuses(status: str) -> list[str]:
    """The statuses a ticket in ``status`` may move to, in the order of ``TicketStatus``."""
    current = _status(status)
    allowed = frozenset() if current is None else TRANSITIONS[current]
    return [s.value for s in S if s in allowed]


def check_transition(number: str, old: str, new: str) -> TicketStatus:
    """The target status when ``old -> new`` is legal; Conflict naming both otherwise."""
    target = _status(new)
    if target is None:
        raise TicketError(Msg("unknown status %(status)s", status=Quoted(new, 40)), {"field": "status"})
    current = _status(old)
    if current is None or target not in TRANSITIONS[current]:
        allowed = ", ".join(next_statuses(old)) or "none"
        raise Conflict(
            Msg(
                "ticket %(number)s cannot go from %(old)s to %(new)s (allowed from %(old)s: %(allowed)s)",
                number=number, old=Label("status", old), new=Label("status", target.value), allowed=allowed,
            ),
            {"from": old, "to": target.value, "allowed": next_statuses(old)},
        )  # fmt: skip
    return target


# a change of one locked ticket row: (connection, the row as view_select reads it, now) -> history rows
ChangeFn = Callable[[AsyncConnection, Mapping[str, Any], datetime], Awaitable[list[Change]]]


class _NoChange(Exception):
    """Ends a transaction without a write: the request changes nothing."""


@dataclass(frozen=True, slots=True)
class Commented:
    """A comment as written: the ticket after it and its history entry."""

    ticket: TicketView
    entry: dict[str, Any]


class TicketWorkflow:
    """The changes agents make to tickets, over a TicketService (its database, clock and priority matrix)."""

    def __init__(self, service: TicketService) -> None:
        self.service = service
        self.db = service.db

    # -- changes --------------------------------------------------------------------------------------------

    async def update(
        self,
        tenant: str,
        ticket_id: int,
        *,
        actor: str,
        subject: str | None = None,
        description: str | None = None,
        impact: int | None = None,
        urgency: int | None = None,
        category_id: int | None = None,
    ) -> TicketView:
        """Change text, impact, urgency (the priority follows) or category (``TicketService.classify``: the one
        classification, the console's too)."""
        if category_id is not None:
            return await self.service.classify(
                tenant, ticket_id, category_id=category_id, impact=impact, urgency=urgency, subject=subject,
                description=description, actor=actor,
            )  # fmt: skip
        if subject is not None:
            subject = clean_text(subject, "subject", required=True, limit=SUBJECT_LENGTH)
        description = (clean_text(description, "description") or "") if description is not None else None

        async def change(conn: AsyncConnection, row: Mapping[str, Any], now: datetime) -> list[Change]:
            _not_final(row)
            new: dict[str, Any] = {}
            for field, value in (("subject", subject), ("description", description)):
                if value is not None and value != row[field]:
                    new[field] = value
            for field, level in (("impact", impact), ("urgency", urgency)):
                if level is not None and level != row[field]:
                    new[field] = level
            changes = [Change(Action.CLASSIFIED, field, row[field], value) for field, value in new.items()]
            levels = (new.get("impact", row["impact"]), new.get("urgency", row["urgency"]))
            if None not in levels and ("impact" in new or "urgency" in new):
                assert levels[0] is not None and levels[1] is not None
                computed = priority(levels[0], levels[1], vip=bool(row["vip"]), matrix=self.service.matrix)
                if computed != row["priority"]:
                    new["priority"] = computed
                    vip = " (VIP: urgency raised one level)" if row["vip"] else ""
                    note = f"impact {levels[0]} x urgency {levels[1]}{vip}"
                    changes.append(Change(Action.PRIORITY, "priority", row["priority"], computed, note))
            if new:
                await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(new))
            return changes

        return await self._write(tenant, ticket_id, actor, change)

    async def comment(self, tenant: str, ticket_id: int, *, text: str, public: bool, actor: str) -> Commented:
        """Append a comment; ``public`` ones are shown to the caller on the status page."""
        body = clean_text(text, "text", required=True)
        visibility = PUBLIC if public else INTERNAL

        async def change(conn: AsyncConnection, row: Mapping[str, Any], now: datetime) -> list[Change]:
            _not_final(row)
            return [Change(Action.COMMENT, visibility, None, None, body)]

        entries: list[dict[str, Any]] = []

        async def written(conn: AsyncConnection) -> None:
            stmt = select(history).where(history.c.ticket_id == ticket_id).order_by(history.c.id.desc()).limit(1)
            entries.append(hist.entry_dict((await conn.execute(stmt)).mappings().one()))

        view = await self._write(tenant, ticket_id, actor, change, after=written)
        return Commented(view, entries[0])

    async def assign(self, tenant: str, ticket_id: int, *, agent: AccountView | None, actor: str) -> TicketView:
        """Give the ticket to an active agent of the tenant, or take it from whoever has it (``agent`` None)."""
        if agent is not None and (not agent.active or tenant not in agent.tenants or agent.role not in STAFF):
            raise not_an_agent(tenant, agent.id)
        new_id, new_name = (None, None) if agent is None else (agent.id, agent.display_name)

        async def change(conn: AsyncConnection, row: Mapping[str, Any], now: datetime) -> list[Change]:
            _not_final(row)
            if row["agent_id"] == new_id and (new_id is not None or row["agent_name"] is None):
                return []
            await conn.execute(
                update(tickets).where(tickets.c.id == ticket_id).values(agent_id=new_id, agent_name=new_name)
            )
            note = "unassigned" if new_id is None else f"account {new_id}"
            return [Change(Action.ASSIGNED, "agent", row["agent_name"], new_name, note)]

        return await self._write(tenant, ticket_id, actor, change)

    async def route(
        self, tenant: str, ticket_id: int, *, group: str | None, reason: str, actor: str
    ) -> tuple[TicketView, RouteResult]:
        """Route to ``group`` (the category's when None): group, history and work orders in one transaction."""
        why = clean_text(reason, "reason", required=True, limit=MAX_REASON)
        assert why is not None
        results: list[RouteResult] = []

        async def change(conn: AsyncConnection, row: Mapping[str, Any], now: datetime) -> list[Change]:
            if row["status"] in NOT_ROUTABLE:
                reopen = Msg(
                    "ticket %(number)s is %(status)s: reopen it before routing it",
                    number=row["number"],
                    status=Label("status", row["status"]),
                )
                raise Conflict(reopen, {"ticket_id": ticket_id, "status": row["status"]})
            result = await route(conn, tenant, ticket_id, group=group, actor=actor, reason=why, now=now)
            results.append(result)
            if not result.routed:
                raise _NoChange  # with that group already: nothing to write, not even updated_at
            return []  # routing wrote its own history row and work orders

        view = await self._write(tenant, ticket_id, actor, change, always=True)
        return view, results[0]

    async def transition(self, tenant: str, ticket_id: int, to: str, *, note: str | None, actor: str) -> TicketView:
        """Move the ticket to status ``to`` (see ``TRANSITIONS``), with its side effects and one history row."""
        return await self._write(tenant, ticket_id, actor, self.status_change(to, note))

    def status_change(self, to: str, note: str | None) -> ChangeFn:
        """The change of ``transition`` (``to`` and ``note`` checked now): for a capability above tickets that
        moves the status within a change of its own (``record``: the article a ticket is solved with)."""
        target = _status(to)
        if target is None:
            raise TicketError(Msg("unknown status %(status)s", status=Quoted(to, 40)), {"field": "status"})
        what = NOTE_REQUIRED.get(target)
        text = clean_text(note, what or "note", required=what is not None)

        async def change(conn: AsyncConnection, row: Mapping[str, Any], now: datetime) -> list[Change]:
            old, ticket_id = row["status"], row["id"]
            check_transition(row["number"], old, target.value)
            values: dict[str, Any] = {"status": target.value}
            notes = [text] if text else []
            if target == S.WAITING:
                notes.insert(0, "SLA clock paused")
            if old == S.WAITING.value:
                since = await _waiting_since(conn, ticket_id)
                waited = "" if since is None else f" after {int((now - since).total_seconds())} s waiting"
                notes.insert(0, f"SLA clock resumed{waited}")
            if target == S.RESOLVED:
                values["resolved_at"] = now
            elif target == S.CLOSED:
                values["closed_at"] = now
            elif target == S.REOPENED:
                values.update(resolved_at=None, closed_at=None)
            await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(values))
            if target == S.CLOSED:
                await notify_caller(conn, await _view(conn, ticket_id), "closed")
            return [Change(Action.STATUS, "status", old, target.value, ": ".join(notes) or None)]

        return change

    async def record(self, tenant: str, ticket_id: int, change: ChangeFn, *, actor: str) -> TicketView:
        """A change of a capability above tickets through the one write path (the ticket locked, its history
        rows appended with their hooks, the first response set, one transaction): ``change(conn, row, now)``
        returns its rows; none: nothing is written."""
        return await self._write(tenant, ticket_id, actor, change)

    # -- the one write path ---------------------------------------------------------------------------------

    async def _write(
        self,
        tenant: str,
        ticket_id: int,
        actor: str,
        change: ChangeFn,
        *,
        always: bool = False,
        after: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> TicketView:
        """Lock the ticket, apply ``change``, append its history, set the first response: one transaction.

        ``change(conn, row, now)`` returns the history rows to append; none means nothing changed and the
        transaction is rolled back (no ``updated_at`` churn) unless ``always`` (the change wrote its own).
        ``after(conn)`` runs last, inside the transaction (the comment reads back its history row).
        """
        if not is_id(ticket_id):
            raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
        now = self.service.now()
        try:
            async with self.db.engine.begin() as conn:
                # the first statement writes: it locks the row (PostgreSQL) or takes the write lock (SQLite), so
                # concurrent changes queue up and each history row's old value is the one it replaced
                touched = await conn.execute(
                    update(tickets).where(tickets.c.tenant == tenant, tickets.c.id == ticket_id).values(updated_at=now)
                )
                if touched.rowcount == 0:
                    raise NotFound(Msg("no ticket %(id)s", id=ticket_id), {"ticket_id": ticket_id})
                row = (await conn.execute(view_select().where(tickets.c.id == ticket_id))).mappings().one()
                changes = await change(conn, row, now)
                if not changes and not always:
                    raise _NoChange
                await hist.append(conn, ticket_id, now, actor, changes)
                if row["first_response_at"] is None and is_staff(actor):
                    await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(first_response_at=now))
                if after is not None:
                    await after(conn)
        except _NoChange:
            pass
        return await self.service.get(tenant, ticket_id)


def _not_final(row: Mapping[str, Any]) -> None:
    if row["status"] in FINAL:
        raise Conflict(
            Msg("ticket %(number)s is %(status)s: reopen it first", number=row["number"],
                status=Label("status", row["status"])),
            {"ticket_id": row["id"], "status": row["status"]},
        )  # fmt: skip


async def _view(conn: AsyncConnection, ticket_id: int) -> TicketView:
    return from_row((await conn.execute(view_select().where(tickets.c.id == ticket_id))).mappings().one())


async def _waiting_since(conn: AsyncConnection, ticket_id: int) -> datetime | None:
    """When the ticket last went to ``waiting``: the start of the pause that ends now."""
    stmt = (
        select(history.c.at)
        .where(
            history.c.ticket_id == ticket_id,
            history.c.action == Action.STATUS.value,
            history.c.new_value == S.WAITING.value,
        )
        .order_by(history.c.id.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).scalar_one_or_none()
