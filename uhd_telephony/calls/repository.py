"""The call-record repository: idempotent batched upserts keyed on ``call_id``, and the queries on them.

Which version of a call wins when two meet (in the database, in one batch, or in the writer's buffer) is
decided by ``supersedes()`` and, in SQL, by the same rule in ``_SUPERSEDES`` on the upsert's conflict branch:

1. An in-progress snapshot (``outcome`` NULL) is replaced by any later write of the same call.
2. A finished record is never replaced by an in-progress one: snapshots arrive late and replays repeat them.
3. Between two finished versions, a real outcome replaces ``unknown`` (a call that ended while the AMI link
   was down) and ``unknown`` never replaces a real outcome; otherwise the later ``ended_at`` wins, and at an
   equal ``ended_at`` the write that comes last wins (a replay rewrites the same values; a correction of the
   same call applies). A finished record without ``ended_at`` yields to one with it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Insert, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt
from uhd_telephony.errors import StoreError
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of

log = logging.getLogger(__name__)

calls = table_of(Call)
# every column a newer version of a call may change; id, call_id and created_at stay as first written
# the reach-back columns are the matcher's (uhd_telephony/reachback): a record written again never resets them
_MATCHER_COLUMNS = {"reach", "reached_at", "reach_s"}
_UPDATABLE = [c.name for c in calls.columns if c.name not in {"id", "call_id", "created_at", *_MATCHER_COLUMNS}]
_UNKNOWN = Outcome.UNKNOWN.value


def to_datetime(ts: float) -> datetime:
    """Epoch seconds (the AMI ``Timestamp``) as an aware UTC datetime, rounded to the microsecond."""
    if not math.isfinite(ts):
        raise ValueError(f"timestamp {ts!r} is not a finite number")
    return datetime.fromtimestamp(ts, UTC)


def to_epoch(dt: datetime) -> float:
    """An aware datetime back to epoch seconds: exact for any value ``to_datetime`` produced."""
    return dt.timestamp()


def supersedes(new: CallRecord, old: CallRecord) -> bool:
    """True when ``new`` should replace ``old``, an earlier-written version of the same call (module docstring)."""
    if old.outcome is None:
        return True
    if new.outcome is None:
        return False
    old_unknown = old.outcome == _UNKNOWN
    new_unknown = new.outcome == _UNKNOWN
    if old_unknown != new_unknown:
        return old_unknown
    if old.ended_at is None:
        return True
    if new.ended_at is None:
        return False
    # compared as stored (to the microsecond), so this and the SQL rule agree on every pair
    return to_datetime(new.ended_at) >= to_datetime(old.ended_at)


def _supersedes_sql(excluded: Any) -> ColumnElement[bool]:
    """``supersedes(excluded, calls)`` as the WHERE of ``ON CONFLICT DO UPDATE`` (calls = the stored row)."""
    old, new = calls.c, excluded
    old_unknown, new_unknown = old.outcome == _UNKNOWN, new.outcome == _UNKNOWN
    return or_(
        old.outcome.is_(None),
        and_(
            new.outcome.is_not(None),
            or_(
                and_(old_unknown, ~new_unknown),
                and_(
                    or_(and_(old_unknown, new_unknown), and_(~old_unknown, ~new_unknown)),
                    or_(old.ended_at.is_(None), new.ended_at >= old.ended_at),
                ),
            ),
        ),
    )


def _text(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL; a mangled AMI header must not make the record unstorable
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _opt_dt(ts: float | None) -> datetime | None:
    return None if ts is None else to_datetime(ts)


def _opt_epoch(dt: datetime | None) -> float | None:
    return None if dt is None else to_epoch(dt)


def _json_ts(ts: float | None) -> float | None:
    if ts is not None and not math.isfinite(ts):
        raise ValueError(f"timestamp {ts!r} is not a finite number")
    return ts


def to_row(record: CallRecord, now: datetime) -> dict[str, Any]:
    """The ``calls`` row of a record; raises StoreError when the record cannot be stored as it is."""
    try:
        return {
            "call_id": _text(record.call_id),
            "linkedid": _text(record.linkedid),
            "uniqueid": _text(record.uniqueid),
            "tenant": _text(record.tenant),
            "queue": _text(record.queue),
            "channel": _text(record.channel),
            "caller_number": _text(record.caller_number),
            "caller_name": _text(record.caller_name),
            "dialled": _text(record.dialled),
            "entered_at": to_datetime(record.entered_at),
            "answered_at": _opt_dt(record.answered_at),
            "ended_at": _opt_dt(record.ended_at),
            "wait_s": record.wait_s,
            "talk_s": record.talk_s,
            "agent": _opt_text(record.agent),
            "agent_interface": _opt_text(record.agent_interface),
            "outcome": None if record.outcome is None else str(record.outcome),
            "ended_by": _opt_text(record.ended_by),
            "queue_status": _opt_text(record.queue_status),
            "callback_requested": bool(record.callback_requested),
            "transferred_to": _opt_text(record.transferred_to),
            "position": int(record.position),
            "ring_attempts": [
                {
                    "interface": _text(a.interface),
                    "member_name": _text(a.member_name),
                    "started_at": _json_ts(a.started_at),
                    "ended_at": _json_ts(a.ended_at),
                    "result": _opt_text(a.result),
                    "dest_channel": _text(a.dest_channel),
                }
                for a in record.ring_attempts
            ],
            "variables": {_text(str(k)): _text(str(v)) for k, v in record.variables.items()},
            "resynced": bool(record.resynced),
            "backfilled": bool(record.backfilled),
            "created_at": now,
            "updated_at": now,
        }
    except (ValueError, TypeError, OverflowError, OSError, AttributeError) as exc:
        # OSError: datetime.fromtimestamp of a value the platform cannot represent
        raise StoreError(
            f"call record {record.call_id!r} cannot be stored: {exc}", {"call_id": str(record.call_id)}
        ) from exc


def _outcome(value: str | None, call_id: str) -> Outcome | None:
    if value is None:
        return None
    try:
        return Outcome(value)
    except ValueError:
        # written by a newer version of the service: a list must not fail on one row
        log.warning("call %s has an outcome this version does not know (%r): reading it as unknown", call_id, value)
        return Outcome.UNKNOWN


def from_row(row: Mapping[Any, Any]) -> CallRecord:
    """The CallRecord of a ``calls`` row."""
    return CallRecord(
        call_id=row["call_id"],
        linkedid=row["linkedid"],
        uniqueid=row["uniqueid"],
        queue=row["queue"],
        tenant=row["tenant"],
        entered_at=to_epoch(row["entered_at"]),
        channel=row["channel"],
        caller_number=row["caller_number"],
        caller_name=row["caller_name"],
        dialled=row["dialled"],
        answered_at=_opt_epoch(row["answered_at"]),
        ended_at=_opt_epoch(row["ended_at"]),
        wait_s=row["wait_s"],
        talk_s=row["talk_s"],
        agent=row["agent"],
        agent_interface=row["agent_interface"],
        outcome=_outcome(row["outcome"], row["call_id"]),
        ended_by=row["ended_by"],
        queue_status=row["queue_status"],
        callback_requested=bool(row["callback_requested"]),
        transferred_to=row["transferred_to"],
        position=row["position"],
        ring_attempts=[
            RingAttempt(
                interface=a["interface"],
                member_name=a["member_name"],
                started_at=a["started_at"],
                ended_at=a.get("ended_at"),
                result=a.get("result"),
                dest_channel=a.get("dest_channel", ""),
            )
            for a in row["ring_attempts"] or []
        ],
        variables=dict(row["variables"] or {}),
        resynced=bool(row["resynced"]),
        backfilled=bool(row["backfilled"]),
    )


def coalesce(records: Iterable[CallRecord]) -> dict[str, CallRecord]:
    """One record per call_id, the one that supersedes the others when they come in this order."""
    latest: dict[str, CallRecord] = {}
    for record in records:
        old = latest.get(record.call_id)
        if old is None or supersedes(record, old):
            latest[record.call_id] = record
    return latest


def _upsert_statement(dialect: str) -> Insert:
    if dialect == "postgresql":
        pg = postgresql.insert(calls)
        return pg.on_conflict_do_update(
            index_elements=[calls.c.call_id],
            set_={name: pg.excluded[name] for name in _UPDATABLE},
            where=_supersedes_sql(pg.excluded),
        ).returning(calls.c.id)
    if dialect == "sqlite":
        lite = sqlite.insert(calls)
        return lite.on_conflict_do_update(
            index_elements=[calls.c.call_id],
            set_={name: lite.excluded[name] for name in _UPDATABLE},
            where=_supersedes_sql(lite.excluded),
        )
    raise StoreError(f"no upsert for database dialect {dialect!r}")


def sqlite_time(value: datetime) -> str:
    """An aware datetime as ``UtcDateTime`` stores it on SQLite: naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_TIMES = ("entered_at", "answered_at", "ended_at")
_JSON = ("ring_attempts", "variables")


class _SqliteUpsert:
    """The upsert on SQLite as one ``executemany`` of plain values: the same SQL, each value already as SQLAlchemy's
    column types store it there (times by ``sqlite_time``, JSON as ``json.dumps`` text; flags are ints to sqlite3).

    SQLAlchemy's per-value type processing of 28 columns cost more than tracking the call itself (issue 17 item
    5); ``tests/calls/test_repository.py`` checks that both store the same values. SQLite counts the rows an
    ``executemany`` inserted or updated (``rowcount``): what RETURNING counts on PostgreSQL.
    """

    def __init__(self, statement: Insert, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.positiontup is None:  # pragma: no cover - SQLite's drivers all take positional parameters
            raise StoreError(f"no positional parameters in SQLite's {dialect.paramstyle!r} style")
        self.sql = str(compiled)
        # the supersede rule's own literals ('unknown') are parameters too
        self._fixed = {name: value for name, value in compiled.params.items() if name not in keys}
        self._values = itemgetter(*compiled.positiontup)

    def rows(self, rows: list[dict[str, Any]], now: datetime) -> list[tuple[Any, ...]]:
        stamp = sqlite_time(now)
        fixed = self._fixed
        for row in rows:
            for key in _TIMES:
                if row[key] is not None:
                    row[key] = sqlite_time(row[key])
            row["created_at"] = row["updated_at"] = stamp
            for key in _JSON:
                row[key] = json.dumps(row[key])
            row.update(fixed)
        return list(map(self._values, rows))


class CallRepository:
    """Reads and writes call records; each method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._upsert = _upsert_statement(db.dialect)
        self._sqlite: _SqliteUpsert | None = None

    async def upsert_many(self, records: Sequence[CallRecord]) -> int:
        """Insert or update the records (keyed on call_id); returns how many rows were inserted or changed.

        Records a stored version supersedes are skipped (see the module docstring), so the count of a replay is 0.
        """
        if not records:
            return 0
        now = datetime.now(UTC)
        # one row per call: PostgreSQL refuses to touch a row twice in one statement. Sorted, so two writers
        # (two service instances) lock rows in the same order and cannot deadlock.
        latest = coalesce(records)
        rows = [to_row(latest[call_id], now) for call_id in sorted(latest)]
        async with self.db.engine.begin() as conn:
            if self.db.dialect == "sqlite":
                if self._sqlite is None:
                    self._sqlite = _SqliteUpsert(self._upsert, conn.dialect, list(rows[0]))
                result = await conn.exec_driver_sql(self._sqlite.sql, self._sqlite.rows(rows, now))
                return int(result.rowcount)
            # executemany of one INSERT .. ON CONFLICT .. RETURNING: SQLAlchemy sends it as multi-row
            # statements ("insertmanyvalues"), a round trip per ~1000 rows; RETURNING counts what changed
            result = await conn.execute(self._upsert, rows)
            return len(result.all())

    async def get(self, call_id: str) -> CallRecord | None:
        """The stored record of one call, or None."""
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(calls).where(calls.c.call_id == call_id))).mappings().first()
        return None if row is None else from_row(row)

    async def open_calls(self, tenant: str | None = None) -> list[CallRecord]:
        """Calls not finished yet (outcome NULL), oldest first: what the tracker restores after a restart."""
        stmt = select(calls).where(calls.c.outcome.is_(None))
        if tenant is not None:
            stmt = stmt.where(calls.c.tenant == tenant)
        return await self._records(stmt.order_by(calls.c.entered_at, calls.c.id))

    async def list_calls(
        self,
        tenant: str | None = None,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
        outcome: Outcome | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CallRecord]:
        """Calls that entered the queue in ``[since, until)``, oldest first, a page at a time."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative (got {limit}, {offset})")
        stmt = select(calls)
        if tenant is not None:
            stmt = stmt.where(calls.c.tenant == tenant)
        if since is not None:
            stmt = stmt.where(calls.c.entered_at >= _as_datetime(since))
        if until is not None:
            stmt = stmt.where(calls.c.entered_at < _as_datetime(until))
        if outcome is not None:
            stmt = stmt.where(calls.c.outcome == str(outcome))
        stmt = stmt.order_by(calls.c.entered_at, calls.c.id).limit(limit).offset(offset)
        return await self._records(stmt)

    async def count(self, tenant: str | None = None) -> int:
        """Number of stored calls, of one tenant or of all."""
        stmt = select(func.count()).select_from(calls)
        if tenant is not None:
            stmt = stmt.where(calls.c.tenant == tenant)
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def _records(self, stmt: Any) -> list[CallRecord]:
        async with self.db.engine.connect() as conn:
            return await _fetch(conn, stmt)


async def _fetch(conn: AsyncConnection, stmt: Any) -> list[CallRecord]:
    return [from_row(row) for row in (await conn.execute(stmt)).mappings()]


def _as_datetime(value: float | datetime) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime or epoch seconds")
        return value
    return to_datetime(value)
