"""Finding tickets: filters, full-text search, sorting and keyset or offset pagination, on SQLite and PostgreSQL.

The text search folds case and German spelling on both sides (``Müller``, ``MUELLER`` and ``mueller`` are the
same word) in SQL, so it needs no extra column: ``replace`` spells the umlauts and ß out, ``lower`` folds the
case. PostgreSQL's ``lower`` follows the database's locale for other letters; SQLite's folds ASCII only, so on
SQLite ``É`` and ``é`` stay different — German names are what the helpdesk searches for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnClause

from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import categories
from uhd_telephony.tickets.extras import sort_order
from uhd_telephony.tickets.view import TicketView, from_row, tickets, view_select

MAX_LIMIT = 200
MAX_OFFSET = 100_000
MAX_WORDS = 8
# a column, newest/highest first with a leading "-"; ``sla``: breaches first, then warnings, then the nearest due
# instant (ordered by the SLA capability through ``tickets.extras.add_sort``, paged by offset)
Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "priority", "-priority", "sla"]
SORTS: tuple[str, ...] = get_args(Sort)
PROVIDED_SORTS = frozenset({"sla"})  # sorts another capability orders (tickets.extras)
# spelt out before lower(): SQLite's lower() leaves non-ASCII letters alone, so capitals are listed too
_FOLD = (("Ä", "ae"), ("ä", "ae"), ("Ö", "oe"), ("ö", "oe"), ("Ü", "ue"), ("ü", "ue"), ("ß", "ss"), ("ẞ", "ss"))
_LIKE_SPECIAL = re.compile(r"([\\%_])")
# a ticket without a priority sorts after planning (5): unclassified work is not the most urgent
_NO_PRIORITY = 9


def fold(text: str) -> str:
    """Text as the search compares it, the same way the SQL expression folds the columns."""
    for letter, spelt in _FOLD:
        text = text.replace(letter, spelt)
    return text.lower()


def _folded(column: ColumnElement[Any]) -> ColumnElement[Any]:
    expr = column
    for letter, spelt in _FOLD:
        expr = func.replace(expr, letter, spelt)
    return func.lower(expr)


def _like(text: str) -> str:
    return "%" + _LIKE_SPECIAL.sub(r"\\\1", text) + "%"


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What to list; empty sequences and None mean "any"."""

    status: Sequence[str] = ()
    priority: Sequence[int] = ()
    channel: Sequence[str] = ()
    category_id: int | None = None  # the category and every category below it
    group: str | None = None  # the support group working the ticket now (routing)
    agent_id: int | None = None
    unassigned: bool = False
    requester_user_id: int | None = None
    requester_number: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None
    sort: str = "-created_at"
    limit: int = 50
    offset: int | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TicketPage:
    """One page of tickets with the total that matched and the cursor of the next page (None on the last)."""

    tickets: list[TicketView]
    total: int
    limit: int
    offset: int | None
    next_cursor: str | None = field(default=None)


def _key_column(sort: str) -> ColumnElement[Any]:
    name = sort.lstrip("-")
    if name == "priority":
        return func.coalesce(tickets.c.priority, _NO_PRIORITY)
    column: ColumnClause[Any] = tickets.c[name]
    return column


def encode_cursor(sort: str, key: Any, ticket_id: int) -> str:
    """An opaque cursor: the sort, the last row's sort key and its id."""
    value = key.astimezone(UTC).isoformat() if isinstance(key, datetime) else key
    raw = json.dumps([sort, value, ticket_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """(sort key, id) of a cursor made for ``sort``; InvalidInput for anything else."""
    bad = InvalidInput(Msg("invalid cursor: use the next_cursor of the previous page"), {"field": "cursor"})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, key, ticket_id = json.loads(raw)
    except (ValueError, binascii.Error, TypeError):
        raise bad from None
    if made_for != sort:
        other = Msg("the cursor was made for sort %(made)s, not %(sort)s", made=Quoted(made_for, 40), sort=Quoted(sort))
        raise InvalidInput(other, {"field": "cursor"})
    if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or not 0 < ticket_id < 2**63:
        raise bad
    if sort in PROVIDED_SORTS:  # the key is the next page's offset
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key <= MAX_OFFSET:
            raise bad
        return key, ticket_id
    if sort.lstrip("-") == "priority":
        if not isinstance(key, int) or isinstance(key, bool) or not 1 <= key <= _NO_PRIORITY:
            raise bad
        return key, ticket_id
    try:
        moment = datetime.fromisoformat(key) if isinstance(key, str) else None
        if moment is not None and moment.tzinfo is not None:
            moment.astimezone(UTC)  # how the store binds it: 0001-01-01T00:00:00+14:00 has no UTC instant
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad
    return moment, ticket_id


async def _category_subtree(conn: Any, tenant: str, category_id: int) -> ColumnElement[bool]:
    path = (
        await conn.execute(
            select(categories.c.path).where(categories.c.tenant == tenant, categories.c.id == category_id)
        )
    ).scalar_one_or_none()
    if path is None:
        unknown = Msg("unknown category %(id)s", id=category_id)
        raise InvalidInput(unknown, {"field": "category", "category_id": category_id})
    below = select(categories.c.id).where(
        categories.c.tenant == tenant,
        or_(categories.c.path == path, categories.c.path.like(_LIKE_SPECIAL.sub(r"\\\1", path) + "/%", escape="\\")),
    )
    return tickets.c.category_id.in_(below)


def _text_condition(text: str) -> ColumnElement[bool] | None:
    words = fold(text).split()[:MAX_WORDS]
    if not words:
        return None
    fields = [
        _folded(tickets.c.number),
        _folded(tickets.c.subject),
        _folded(tickets.c.description),
        _folded(tickets.c.requester_name),
        _folded(tickets.c.requester_number),
    ]
    # every word somewhere: "müller drucker" finds Müller's printer ticket
    return and_(*(or_(*(f.like(_like(word), escape="\\") for f in fields)) for word in words))


async def search(db: Database, tenant: str, query: TicketFilter, *, now: datetime | None = None) -> TicketPage:
    """One page of the tenant's tickets matching ``query`` (``now``: the instant a provided sort orders by)."""
    if query.sort not in SORTS:
        unknown = Msg("unknown sort %(sort)s: one of %(sorts)s", sort=Quoted(query.sort, 40), sorts=", ".join(SORTS))
        raise InvalidInput(unknown, {"field": "sort"})
    provided = sort_order(query.sort) if query.sort in PROVIDED_SORTS else None
    if query.sort in PROVIDED_SORTS and provided is None:
        raise InvalidInput(
            Msg("sort %(sort)s is not offered by this process", sort=Quoted(query.sort)), {"field": "sort"}
        )
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(Msg("limit must be 1..%(max)s", max=MAX_LIMIT), {"field": "limit"})
    if query.offset is not None and query.cursor is not None:
        raise InvalidInput(Msg("give either offset or cursor, not both"), {"field": "cursor"})
    if query.offset is not None and not 0 <= query.offset <= MAX_OFFSET:
        raise InvalidInput(Msg("offset must be 0..%(max)s", max=MAX_OFFSET), {"field": "offset"})
    after = decode_cursor(query.cursor, query.sort) if query.cursor is not None else None
    conditions: list[ColumnElement[bool]] = [tickets.c.tenant == tenant]
    if query.status:
        conditions.append(tickets.c.status.in_(list(query.status)))
    if query.priority:
        conditions.append(tickets.c.priority.in_(list(query.priority)))
    if query.channel:
        conditions.append(tickets.c.channel.in_(list(query.channel)))
    if query.group is not None:
        conditions.append(tickets.c.support_group == query.group)
    if query.unassigned:
        conditions.append(tickets.c.agent_id.is_(None))
    elif query.agent_id is not None:
        conditions.append(tickets.c.agent_id == query.agent_id)
    if query.requester_user_id is not None:
        conditions.append(tickets.c.requester_user_id == query.requester_user_id)
    if query.requester_number:
        conditions.append(tickets.c.requester_number == query.requester_number)
    if query.created_from is not None:
        conditions.append(tickets.c.created_at >= query.created_from)
    if query.created_to is not None:
        conditions.append(tickets.c.created_at < query.created_to)
    text = _text_condition(query.text) if query.text else None
    if text is not None:
        conditions.append(text)
    if provided is not None:
        return await _provided_page(db, tenant, query, conditions, provided(now or datetime.now(UTC)), after)
    key = _key_column(query.sort)
    descending = query.sort.startswith("-")
    async with db.engine.connect() as conn:
        if query.category_id is not None:
            conditions.append(await _category_subtree(conn, tenant, query.category_id))
        counted = select(func.count()).select_from(
            tickets.outerjoin(categories, categories.c.id == tickets.c.category_id)
        )
        total = int((await conn.execute(counted.where(*conditions))).scalar_one())
        stmt = view_select().add_columns(key.label("sort_key")).where(*conditions)
        if after is not None:
            last_key, last_id = after
            bound = literal(last_key, key.type)
            if descending:
                stmt = stmt.where(or_(key < bound, and_(key == bound, tickets.c.id < last_id)))
            else:
                stmt = stmt.where(or_(key > bound, and_(key == bound, tickets.c.id > last_id)))
        order = [key.desc(), tickets.c.id.desc()] if descending else [key.asc(), tickets.c.id.asc()]
        stmt = stmt.order_by(*order).limit(query.limit + 1)
        if query.offset:
            stmt = stmt.offset(query.offset)
        rows = list((await conn.execute(stmt)).mappings())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor(query.sort, rows[-1]["sort_key"], rows[-1]["id"]) if more and rows else None
    return TicketPage([from_row(r) for r in rows], total, query.limit, query.offset, cursor)


async def _provided_page(
    db: Database,
    tenant: str,
    query: TicketFilter,
    conditions: list[ColumnElement[bool]],
    order: Sequence[ColumnElement[Any]],
    after: tuple[Any, int] | None,
) -> TicketPage:
    """A page of a sort another capability orders: by offset (its keys are no columns a cursor could name); the
    cursor carries the next page's offset."""
    skip = after[0] if after is not None else (query.offset or 0)
    async with db.engine.connect() as conn:
        if query.category_id is not None:
            conditions.append(await _category_subtree(conn, tenant, query.category_id))
        counted = select(func.count()).select_from(
            tickets.outerjoin(categories, categories.c.id == tickets.c.category_id)
        )
        total = int((await conn.execute(counted.where(*conditions))).scalar_one())
        stmt = view_select().where(*conditions).order_by(*order, tickets.c.id.asc()).limit(query.limit + 1)
        if skip:
            stmt = stmt.offset(skip)
        rows = list((await conn.execute(stmt)).mappings())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    following = skip + query.limit
    cursor = encode_cursor(query.sort, following, 1) if more and following <= MAX_OFFSET else None
    return TicketPage([from_row(r) for r in rows], total, query.limit, query.offset, cursor)
