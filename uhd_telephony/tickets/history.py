"""The append-only ticket history: one row per change (who, when, what, old and new value).

Only ``append`` writes here; nothing in the package updates or deletes a history row. Escalation, routing and
de-escalation append through the same function, so the ticket view and the reports read one record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.models import TicketHistory

history = table_of(TicketHistory)

SYSTEM = "system"
# a comment row's ``field``: ``public`` ones the caller sees too; ``internal`` ones stay with the helpdesk
PUBLIC_COMMENT = "public"
INTERNAL_COMMENT = "internal"


class Action(StrEnum):
    """What a history row records."""

    CREATED = "created"
    CLASSIFIED = "classified"
    PRIORITY = "priority"
    STATUS = "status"
    COMMENT = "comment"
    ASSIGNED = "assigned"
    ROUTED = "routed"
    ESCALATED = "escalated"
    DE_ESCALATED = "de-escalated"
    TENANT = "tenant"  # a call's ticket taken over by the tenant the call turned out to belong to


def agent_actor(agent_id: int) -> str:
    """The actor string of an agent: ``agent:<id>``."""
    return f"agent:{agent_id}"


@dataclass(frozen=True, slots=True)
class Change:
    """One entry to append: ``field`` with its ``old`` and ``new`` value, or a plain event (created, comment)."""

    action: Action | str
    field: str | None = None
    old: Any = None
    new: Any = None
    note: str | None = None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


# called after every append, in the appending transaction: (connection, ticket id, time, actor, the changes)
HistoryHook = Callable[[AsyncConnection, int, datetime, str, Sequence[Change]], Awaitable[None]]
_hooks: list[HistoryHook] = []


def on_change(hook: HistoryHook) -> HistoryHook:
    """Have ``hook`` run after every history append (once, however often it is registered).

    How capabilities above tickets follow ticket changes without tickets knowing them: the SLA registers its
    timer and de-escalation here (sla/escalation.py)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


async def append(conn: AsyncConnection, ticket_id: int, at: datetime, actor: str, changes: list[Change]) -> None:
    """Append ``changes`` of one ticket in the caller's transaction, in order."""
    await append_many(conn, [(ticket_id, at, actor, changes)])


async def append_many(conn: AsyncConnection, entries: Sequence[tuple[int, datetime, str, Sequence[Change]]]) -> None:
    """``append`` of several tickets' (ticket id, at, actor, changes) in one executemany (the SLA scanner's
    batch), in order; then the hooks, ticket by ticket."""
    rows = [
        {
            "ticket_id": ticket_id,
            "at": at,
            "actor": actor,
            "action": str(c.action),
            "field": c.field,
            "old_value": _text(c.old),
            "new_value": _text(c.new),
            "note": c.note,
        }
        for ticket_id, at, actor, changes in entries
        for c in changes
    ]
    if not rows:
        return
    await conn.execute(insert(history), rows)
    # what other capabilities do with a ticket's change, in the same transaction (the SLA keeps its timer)
    for ticket_id, at, actor, changes in entries:
        if changes:
            for hook in _hooks:
                await hook(conn, ticket_id, at, actor, changes)


def iso(dt: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC with milliseconds and a ``Z``, like the call records."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The JSON shape of one history row."""
    return {
        "id": row["id"],
        "at": iso(row["at"]),
        "actor": row["actor"],
        "action": row["action"],
        "field": row["field"],
        "old_value": row["old_value"],
        "new_value": row["new_value"],
        "note": row["note"],
    }


async def entries(conn: AsyncConnection, ticket_id: int) -> list[dict[str, Any]]:
    """Every history row of a ticket, oldest first."""
    stmt = select(history).where(history.c.ticket_id == ticket_id).order_by(history.c.id)
    return [entry_dict(row) for row in (await conn.execute(stmt)).mappings()]


def is_internal_comment(entry: Mapping[str, Any]) -> bool:
    """Whether a history entry is a comment not marked public (fail closed: any other field counts as internal)."""
    return entry["action"] == Action.COMMENT.value and entry["field"] != PUBLIC_COMMENT


def for_partner(entries: Sequence[dict[str, Any]], own: Collection[str] = ()) -> list[dict[str, Any]]:
    """The entries a partner may read: every one but the internal comments, except those written by ``own`` actors
    (the partner's own). Internal notes never leave the helpdesk: the API for partners and the work orders to
    ``partner:`` groups go through here; the helpdesk's own 2nd/3rd level see everything."""
    return [e for e in entries if not is_internal_comment(e) or e["actor"] in own]
