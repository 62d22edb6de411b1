"""Recurring problems of one tenant's month: rising categories, callers who call again, bursts. Counted in SQL.

The one definition the monthly report prints (``DEFINITIONS`` in ``metrics.report``, with ``PARAMS``). Categories
are top-level categories (the report's), of the tickets as classified now; unclassified tickets are in none.

- **Rising categories**: tickets created in the month per category against the month before (Europe/Berlin
  months); listed when the month has at least ``RISE_MIN_TICKETS`` of them and more than the month before (so one
  ticket after none is no "+100 %"), by the rise in tickets, then in per cent. No tickets the month before: the
  per cent is None (shown as "new").
- **Callers with repeated tickets**: a caller with ``REPEAT_TICKETS`` or more tickets of one category within
  ``REPEAT_WINDOW`` (30 days, both ends included: tickets exactly 30 days apart are within it), in any such window
  that ends in the month (its last ticket created in the month; the earlier ones may be of the month before).
  The caller is the ticket's requester: the directory user, else the shared phone's place, else the calling
  number. Listed with their tickets in such windows (the newest ``MAX_NUMBERS`` numbers), most tickets first.
- **Bursts**: ``BURST_TICKETS`` or more tickets of one category created within ``BURST_WINDOW`` (60 minutes, both
  ends included), a sliding window over the month's tickets; overlapping windows are one burst, from its first
  ticket to its last, with the number of tickets in between. Largest first.

People: the report names a directory user by the directory's name and department, a shared phone by its place,
and an unknown number only masked (``mask_number``): enough to follow up (with the ticket numbers), nothing more.

Cost: two statements side by side (``aggregates.run_all``), each one scan and a hash aggregate, no sort: the
tickets of the month and the month before counted per category, with the month's creation times per category
(for the bursts); the tickets of the month and the 30 days before per caller and category, only the groups with
``REPEAT_TICKETS`` or more, with their times and ids. PostgreSQL hands the times over as their binary form
(``timestamptz_send``: whole microseconds since 2000, read by numpy as they come), SQLite as a list of whole
microseconds; ``metrics.sliding`` finds the windows in numpy, exactly. Sorting a month's tickets by category and
time for SQL window functions cost ten times as much (bench/monthly_report.py's data, 30,000 tickets).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, LargeBinary, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import DirectoryPlace, DirectoryUser
from uhd_telephony.metrics import kpi, sliding
from uhd_telephony.metrics.aggregates import run_all
from uhd_telephony.metrics.queries import _category, _micros_between, _top_levels, categories, tickets
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import iso

RISE_MIN_TICKETS = 10
REPEAT_TICKETS = 3
REPEAT_WINDOW = timedelta(days=30)
BURST_TICKETS = 5
BURST_WINDOW = timedelta(minutes=60)
MAX_NUMBERS = 10  # ticket numbers listed per caller and category
MAX_LISTED = 50  # callers, bursts: the largest this many (the totals say how many there were)
# the definitions' placeholders (metrics.report prints them with these)
PARAMS: Mapping[str, int] = {
    "min_tickets": RISE_MIN_TICKETS,
    "repeat": REPEAT_TICKETS,
    "days": REPEAT_WINDOW.days,
    "burst": BURST_TICKETS,
    "minutes": int(BURST_WINDOW.total_seconds() // 60),
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PG_EPOCH_US = 946_684_800 * 1_000_000  # PostgreSQL's binary times count from 2000-01-01 UTC
users, places = table_of(DirectoryUser), table_of(DirectoryPlace)


@dataclass(frozen=True, slots=True)
class Rise:
    category: str  # top-level code
    count: int
    previous: int

    @property
    def change(self) -> int:
        return self.count - self.previous

    @property
    def change_ratio(self) -> float | None:
        return self.change / self.previous if self.previous else None

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "count": self.count, "previous": self.previous, "change": self.change,
                "change_ratio": self.change_ratio}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RepeatCaller:
    caller: str  # the directory's name, the place's name, or the masked number
    department: str | None
    kind: str  # "user", "place" or "number"
    category: str
    tickets: int  # tickets in the windows that end in the month
    numbers: tuple[str, ...]  # the newest MAX_NUMBERS of them, oldest first
    first_at: datetime
    last_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"caller": self.caller, "department": self.department, "kind": self.kind, "category": self.category,
                "tickets": self.tickets, "ticket_numbers": list(self.numbers), "first_at": iso(self.first_at),
                "last_at": iso(self.last_at)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Burst:
    category: str
    start: datetime
    end: datetime
    tickets: int

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "start": iso(self.start), "end": iso(self.end), "tickets": self.tickets}


@dataclass(frozen=True, slots=True)
class RecurringProblems:
    rising: tuple[Rise, ...] = ()
    callers: tuple[RepeatCaller, ...] = ()
    callers_total: int = 0
    bursts: tuple[Burst, ...] = ()
    bursts_total: int = 0
    params: Mapping[str, int] = field(default_factory=lambda: dict(PARAMS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rising_categories": [r.to_dict() for r in self.rising],
            "repeat_callers": [c.to_dict() for c in self.callers],
            "repeat_callers_total": self.callers_total,
            "bursts": [b.to_dict() for b in self.bursts],
            "bursts_total": self.bursts_total,
            "parameters": dict(self.params),
        }


def mask_number(number: str) -> str:
    """A calling number as the report shows it: its first three and last two characters (``+49•••••••00``);
    a short one only its last (an extension ``••11``)."""
    text = number.strip()
    if len(text) <= 4:
        return "\u2022" * max(len(text) - 1, 0) + text[-1:]
    head = text[:3] if len(text) > 7 else ""
    return head + "\u2022" * (len(text) - len(head) - 2) + text[-2:]


def previous_month(start: datetime) -> datetime:
    """The first local midnight of the month before the one ``start`` (a local midnight) begins."""
    day = start.astimezone(kpi.TIMEZONE).date()
    first = date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)
    return datetime.combine(first, time(0), kpi.TIMEZONE)


def _top_code(dialect: str, path: Any) -> ColumnElement[Any]:
    """A category path's top-level code in SQL (``kpi.top_level``)."""
    if dialect == "postgresql":
        return func.split_part(path, "/", 1)
    return func.substr(path, 1, func.instr(path + "/", "/") - 1)


def _instants(dialect: str, column: Any) -> Any:
    """An aggregate of a group's times: PostgreSQL their binary form one after another (8 bytes each, whole
    microseconds since 2000-01-01 UTC), SQLite whole microseconds since 1970 as a list."""
    if dialect == "postgresql":
        return func.string_agg(func.timestamptz_send(column), literal(b"", LargeBinary))
    return func.group_concat(_micros_between(dialect, column, literal(_EPOCH, tickets.c.created_at.type)))


def _numbers(dialect: str, column: Any) -> Any:
    """An aggregate of a group's ids, in the same order as ``_instants`` (every aggregate of a group reads its
    rows in one order)."""
    if dialect == "postgresql":
        return func.string_agg(func.int8send(column), literal(b"", LargeBinary))
    return func.group_concat(column)


def _decode(raw: Any, *, instants: bool) -> Any:
    """``_instants`` (as microseconds since 1970) or ``_numbers`` as a numpy int64 array."""
    if raw is None:
        return np.empty(0, dtype=np.int64)
    if isinstance(raw, bytes | bytearray | memoryview):
        values = np.frombuffer(bytes(raw), dtype=">i8").astype(np.int64)
        return values + _PG_EPOCH_US if instants else values
    return np.array([int(v) for v in str(raw).split(",")], dtype=np.int64)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _categories(dialect: str, tenant: str, before: datetime, start: datetime, end: datetime) -> Any:
    """Per category: tickets the month before, tickets of the month, the month's creation times."""
    t = tickets.c
    month = t.created_at >= start
    return (
        select(
            t.category_id,
            func.count().filter(~month),
            func.count().filter(month),
            _instants(dialect, t.created_at).filter(month),
        )
        .where(t.tenant == tenant, t.created_at >= before, t.created_at < end, t.category_id.is_not(None))
        .group_by(t.category_id)
    )


def _repeat_groups(dialect: str, tenant: str, start: datetime, end: datetime) -> Any:
    """Per caller and top-level category with REPEAT_TICKETS+ tickets in the month and the 30 days before, one of
    them in the month: the times and ids of those tickets."""
    t, c = tickets.c, categories.c
    user, place = t.requester_user_id, t.requester_place_id
    who = (
        user.label("user_id"),
        case((user.is_(None), place)).label("place_id"),
        case((and_(user.is_(None), place.is_(None)), t.requester_number)).label("number_key"),
        _top_code(dialect, c.path).label("top"),
    )
    known = or_(user.is_not(None), place.is_not(None), t.requester_number != "")
    return (
        select(*who, _instants(dialect, t.created_at), _numbers(dialect, t.id), func.max(t.requester_number))
        .select_from(tickets.join(categories, and_(c.id == t.category_id, c.tenant == t.tenant)))
        .where(t.tenant == tenant, t.created_at >= start - REPEAT_WINDOW, t.created_at < end, known)
        .group_by(*who)
        .having(func.count() >= REPEAT_TICKETS, func.max(t.created_at) >= start)
    )


async def recurring_problems(db: Database, tenant: str, start: datetime, end: datetime) -> RecurringProblems:
    """The tenant's recurring problems of the month ``[start, end)`` (module docstring)."""
    dialect = db.engine.dialect.name
    per_category, groups = await run_all(
        db,
        [
            _categories(dialect, tenant, previous_month(start), start, end),
            _repeat_groups(dialect, tenant, start, end),
        ],
    )
    async with db.engine.connect() as conn:
        top = await _top_levels(conn, tenant)
        callers = await _callers(conn, tenant, _repeats(groups, _micros(start)))
    found = _bursts(top, tenant, per_category)
    return RecurringProblems(
        rising=_rising(top, tenant, per_category),
        callers=tuple(callers[:MAX_LISTED]),
        callers_total=len(callers),
        bursts=tuple(found[:MAX_LISTED]),
        bursts_total=len(found),
    )


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _bursts(top: dict[tuple[str, int], str], tenant: str, rows: Sequence[Any]) -> list[Burst]:
    """The month's bursts per top-level category, largest first (then the earliest)."""
    times: dict[str, list[Any]] = {}
    for category_id, _, _, raw in rows:
        code = _category(top, tenant, category_id)
        if code != kpi.UNCLASSIFIED:
            times.setdefault(code, []).append(_decode(raw, instants=True))
    span = BURST_WINDOW // timedelta(microseconds=1)
    found = [
        Burst(code, _instant(first), _instant(last), n)
        for code, parts in times.items()
        for first, last, n in sliding.runs(np.sort(np.concatenate(parts)), BURST_TICKETS, span)
    ]
    found.sort(key=lambda b: (-b.tickets, b.start, b.category))
    return found


@dataclass(frozen=True, slots=True)
class _Repeat:
    """A caller's tickets of one category in windows ending in the month: what ``_callers`` names and lists."""

    user_id: int | None
    place_id: int | None
    top: str
    phone: str
    tickets: int
    first_at: datetime
    last_at: datetime
    newest: tuple[int, ...]  # ids of the newest MAX_NUMBERS, oldest first


def _repeats(groups: Sequence[Any], since: int) -> list[_Repeat]:
    span = REPEAT_WINDOW // timedelta(microseconds=1)
    out = []
    for user_id, place_id, _, code, raw_times, raw_ids, phone in groups:
        times, ids = _decode(raw_times, instants=True), _decode(raw_ids, instants=False)
        order = np.lexsort((ids, times))
        times, ids = times[order], ids[order]
        mask = sliding.in_windows(times, REPEAT_TICKETS, span, since)
        if not mask.any():
            continue
        inside, chosen = times[mask], ids[mask]
        out.append(
            _Repeat(user_id, place_id, code, phone or "", int(mask.sum()), _instant(int(inside[0])),
                    _instant(int(inside[-1])), tuple(int(i) for i in chosen[-MAX_NUMBERS:]))
        )  # fmt: skip
    return out


def _rising(top: dict[tuple[str, int], str], tenant: str, rows: Sequence[Any]) -> tuple[Rise, ...]:
    this: Counter[str] = Counter()
    previous: Counter[str] = Counter()
    for category_id, before, now, _ in rows:
        code = _category(top, tenant, category_id)
        previous[code] += int(before)
        this[code] += int(now)
    rises = [
        Rise(code, n, previous[code])
        for code, n in this.items()
        if code != kpi.UNCLASSIFIED and n >= RISE_MIN_TICKETS and n > previous[code]
    ]
    big = float("inf")
    rises.sort(key=lambda r: (-r.change, -(r.change_ratio if r.change_ratio is not None else big), r.category))
    return tuple(rises)


async def _callers(conn: AsyncConnection, tenant: str, repeats: Sequence[_Repeat]) -> list[RepeatCaller]:
    """The repeated callers, named as the report may name them, with their tickets' numbers; most tickets first."""
    named_users = await _names(conn, users, tenant, {r.user_id for r in repeats if r.user_id is not None})
    named_places = await _names(conn, places, tenant, {r.place_id for r in repeats if r.place_id is not None})
    ids = [i for r in repeats for i in r.newest]
    numbers: dict[int, str] = {}
    for chunk in range(0, len(ids), 1000):
        stmt = select(tickets.c.id, tickets.c.number).where(tickets.c.id.in_(ids[chunk : chunk + 1000]))
        numbers.update({row.id: row.number for row in await conn.execute(stmt)})
    out = []
    for r in repeats:
        if r.user_id is not None and r.user_id in named_users:
            kind, (name, department) = "user", named_users[r.user_id]
        elif r.place_id is not None and r.place_id in named_places:
            kind, (name, department) = "place", named_places[r.place_id]
        else:  # an unknown number, or a directory entry that is gone: the number, masked
            kind, name, department = "number", mask_number(r.phone), None
        listed = tuple(numbers[i] for i in r.newest if i in numbers)
        out.append(RepeatCaller(name, department, kind, r.top, r.tickets, listed, r.first_at, r.last_at))
    out.sort(key=lambda c: (-c.tickets, c.first_at, c.caller))
    return out


async def _names(conn: AsyncConnection, table: Any, tenant: str, ids: set[int]) -> dict[int, tuple[str, str | None]]:
    if not ids:
        return {}
    stmt = select(table.c.id, table.c.name, table.c.department).where(table.c.tenant == tenant, table.c.id.in_(ids))
    return {row.id: (row.name, row.department) for row in await conn.execute(stmt)}
