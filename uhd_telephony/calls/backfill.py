"""The queue_log backfill: calls that started and ended while the service could not see Asterisk, recorded from
Asterisk's own queue_log (calls/queue_log.py turns its lines into call records).

One run reads the file from its stored high-water mark (``queue_log_marks``: byte offset, inode and a fingerprint of
the file's first bytes; a rotated or truncated file is read again from byte 0), streams it in a worker thread, and
writes the calls it finds in batches, each batch in one transaction with the new mark. A call is written only when
the store does not have it finished already (same ``call_id`` as live: ``<uniqueid>@<queue>``):

- no row: inserted, ``backfilled`` true;
- a row still in progress (``outcome`` NULL: seen entering, its end missed), ended ``unknown`` (the resync could
  not tell how it ended) or ``incident_left`` by a resync (the caller's channel went while at a major incident's
  announcement: had it queued, this is that stay): completed from the queue_log, ``backfilled`` true; what only
  the live record knows
  (tenant from UHD_TENANT, Linkedid, caller name, channel variables, the exact entry time) is kept;
- a finished row with a real outcome: left alone. The live version of a call always wins: the store's own rule
  (``store.calls.supersedes``) lets a later live write replace a backfilled one, never the other way round here.

The mark stops at the first line of the oldest call still open at the end of the file, so the next run reads that
call whole (a call open longer than ``queue_log.MAX_OPEN_S`` is given up: its end line will never come). Running
twice adds nothing; ``since`` reads the whole file and records only calls that entered at or after it.

For the ticket catch-up: an answered call recorded here has ``CallRecord.backfilled`` set; ``opened_after_the_call``
says whether its ticket is to be labelled "opened after the call", ``answered_backfilled`` lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sqlalchemy import Insert, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.calls.models import QueueLogMark
from uhd_telephony.calls.queue_log import HEAD_BYTES, CallAssembler, TenantOf, parse_line, read_lines
from uhd_telephony.calls.records import ANSWERED_OUTCOMES, CallRecord, Outcome
from uhd_telephony.calls.repository import calls, from_row, to_datetime, to_row
from uhd_telephony.errors import CaptureError, StoreError
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of

if TYPE_CHECKING:
    from uhd_telephony.calls.tracker import CallTracker
    from uhd_telephony.calls.writer import CallWriter
    from uhd_telephony.settings import Settings

log = logging.getLogger(__name__)

marks = table_of(QueueLogMark)
_UNKNOWN = Outcome.UNKNOWN.value
_LEFT_AT_ANNOUNCEMENT = Outcome.INCIDENT_LEFT.value
# lines read per trip to the worker thread: a batch of calls is written at most every this many lines
LINES_PER_READ = 20_000
# the service's first run (no mark yet) reads back this far before the newest call the store holds
FIRST_RUN_MARGIN_S = 3600.0
# what a backfill completes of a row the store has in progress or ended unknown; the rest stays as live wrote it
_COMPLETED = (
    "outcome",
    "answered_at",
    "ended_at",
    "wait_s",
    "talk_s",
    "agent",
    "ended_by",
    "queue_status",
    "transferred_to",
    "ring_attempts",
    "backfilled",
    "updated_at",
)


@dataclass(slots=True)
class BackfillResult:
    """What one run did (the CLI prints it, the service logs it)."""

    path: str
    start: int = 0  # byte offset the read started at
    offset: int = 0  # the new high-water mark
    restarted: bool = False  # the file was rotated or truncated since the last run: read from byte 0
    lines: int = 0
    malformed: int = 0
    found: int = 0  # finished calls read
    skipped: int = 0  # entered before ``since`` or ended after ``until``
    recorded: int = 0  # inserted or completed now
    known: int = 0  # already recorded finished (live, or by an earlier run)
    in_progress: int = 0  # still open at the end of the file
    orphans: int = 0
    batches: int = 0
    answered: list[str] = field(default_factory=list)  # call_ids of answered calls recorded now: tickets to open
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "start": self.start,
            "offset": self.offset,
            "restarted": self.restarted,
            "lines": self.lines,
            "malformed": self.malformed,
            "found": self.found,
            "skipped": self.skipped,
            "recorded": self.recorded,
            "known": self.known,
            "in_progress": self.in_progress,
            "orphans": self.orphans,
            "batches": self.batches,
            "answered": len(self.answered),
            "seconds": round(self.seconds, 3),
        }


def opened_after_the_call(record: CallRecord) -> bool:
    """True when this call's ticket is "opened after the call": answered, and recorded from the queue_log."""
    return record.backfilled and record.outcome in ANSWERED_OUTCOMES


async def answered_backfilled(
    db: Database, since: float | datetime | None = None, limit: int = 1000
) -> list[CallRecord]:
    """Answered calls recorded by the backfill (entered at or after ``since``), oldest first: the ticket catch-up's
    "opened after the call" candidates."""
    stmt = select(calls).where(calls.c.backfilled.is_(True), calls.c.outcome.in_([str(o) for o in ANSWERED_OUTCOMES]))
    if since is not None:
        stmt = stmt.where(calls.c.entered_at >= (since if isinstance(since, datetime) else to_datetime(since)))
    stmt = stmt.order_by(calls.c.entered_at, calls.c.id).limit(limit)
    async with db.engine.connect() as conn:
        return [from_row(row) for row in (await conn.execute(stmt)).mappings()]


def tracker_tenant_of(tracker: CallTracker) -> TenantOf:
    """The tenant of a backfilled call exactly as ``tracker`` attributes a call whose channel variables it does not
    know: its resolver (the tenants table), then UHD_TENANT_NUMBERS, then UHD_TENANT_QUEUES, then the default."""
    return lambda dialled, queue: tracker._tenant(dialled, queue, {})


# ---------------------------------------------------------------------------------------------------- the file
class _Reader:
    """The file side of one run, driven from a worker thread: opens, checks, reads and parses; no database."""

    def __init__(self, path: str, assembler: CallAssembler) -> None:
        self.path = path
        self.assembler = assembler
        self.file: BinaryIO | None = None
        self.inode = 0
        self.size = 0
        self.position = 0
        self.lines = 0
        self.malformed = 0
        self._lines: Any = None

    def open(self) -> None:
        try:
            self.file = open(self.path, "rb")  # closed by close()
            st = os.fstat(self.file.fileno())
        except OSError as exc:
            raise CaptureError(
                f"cannot read the queue_log {self.path}: {exc.strerror or exc}", {"path": self.path}
            ) from exc
        self.inode, self.size = st.st_ino, st.st_size

    def head(self, length: int = HEAD_BYTES) -> tuple[int, str]:
        """(length, sha256) of the file's first bytes; pread: the read position of the lines stays where it is."""
        assert self.file is not None
        data = os.pread(self.file.fileno(), length, 0)
        return len(data), hashlib.sha256(data).hexdigest()

    def start(self, offset: int) -> None:
        assert self.file is not None
        self.position = offset
        self._lines = read_lines(self.file, offset)

    def read(self, max_lines: int) -> tuple[list[CallRecord], bool]:
        """The calls that ended in the next ``max_lines`` lines; True when the end of the file was reached."""
        finished: list[CallRecord] = []
        feed = self.assembler.feed
        for _ in range(max_lines):
            item = next(self._lines, None)
            if item is None:
                return finished, True
            offset, raw = item
            self.position = offset + len(raw)
            self.lines += 1
            line = parse_line(raw, offset)
            if line is None:
                if raw.strip():
                    self.malformed += 1
                continue
            record = feed(line)
            if record is not None:
                finished.append(record)
        return finished, False

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


# ---------------------------------------------------------------------------------------------------- the store
def _insert_statement(dialect: str) -> Insert:
    """INSERT the call, or complete a stored one that is in progress, ended unknown or guessed left at an
    announcement; RETURNING what was written."""
    if dialect == "postgresql":
        ins: Any = postgresql.insert(calls)
    elif dialect == "sqlite":
        ins = sqlite.insert(calls)
    else:
        raise StoreError(f"no upsert for database dialect {dialect!r}")
    old, new = calls.c, ins.excluded
    set_: dict[str, Any] = {name: new[name] for name in _COMPLETED}
    # the live record's caller ID and agent interface when the queue_log has none (it never has a channel's)
    set_["caller_number"] = case((old.caller_number == "", new.caller_number), else_=old.caller_number)
    set_["agent_interface"] = case(
        (and_(new.agent_interface.is_(None), old.agent == new.agent), old.agent_interface),
        else_=new.agent_interface,
    )
    return cast(
        Insert,
        ins.on_conflict_do_update(
            index_elements=[calls.c.call_id],
            set_=set_,
            where=or_(
                old.outcome.is_(None),
                old.outcome == _UNKNOWN,
                and_(old.outcome == _LEFT_AT_ANNOUNCEMENT, old.resynced),  # a resync's guess (tracker)
            ),
        ).returning(calls.c.call_id),
    )


def _mark_statement(dialect: str, values: dict[str, Any]) -> Any:
    ins: Any = postgresql.insert(marks) if dialect == "postgresql" else sqlite.insert(marks)
    stmt = ins.values(**values)
    return stmt.on_conflict_do_update(
        index_elements=[marks.c.path], set_={k: stmt.excluded[k] for k in values if k != "path"}
    )


async def _load_mark(db: Database, path: str) -> dict[str, Any] | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(marks).where(marks.c.path == path))).mappings().first()
    return None if row is None else dict(row)


async def _newest_entered(db: Database) -> float | None:
    async with db.engine.connect() as conn:
        newest = (await conn.execute(select(func.max(calls.c.entered_at)))).scalar()
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite hands an aggregate back as text, past the column's type
        newest = datetime.fromisoformat(newest).replace(tzinfo=UTC)
    return cast(datetime, newest).timestamp()


async def _write(conn: AsyncConnection, statement: Insert, records: Sequence[CallRecord], now: datetime) -> set[str]:
    if not records:
        return set()
    rows = [to_row(r, now) for r in sorted(records, key=lambda r: r.call_id)]
    result = await conn.execute(statement, rows)
    return {row[0] for row in result.all()}


# ---------------------------------------------------------------------------------------------------- a run
def _key(path: str | os.PathLike[str]) -> str:
    """The mark's key: the file's absolute path, whatever the working directory (no I/O but getcwd)."""
    return os.path.abspath(path)


async def backfill(
    db: Database,
    path: str | os.PathLike[str],
    *,
    tenant_of: TenantOf,
    short_abandon_s: float = 5.0,
    since: float | None = None,
    until: float | None = None,
    first_run_since: float | None = None,
    batch_size: int = 500,
    lines_per_read: int = LINES_PER_READ,
) -> BackfillResult:
    """Read the queue_log at ``path`` from its mark and record the calls the store does not have (module docstring).

    ``since``: read the whole file, record calls that entered at or after it. ``until``: record only calls that
    ended before it (the service passes its resync's time on Asterisk's clock: what ended after that was seen live).
    ``first_run_since``: when the file has no mark yet and ``since`` is not given, this is ``since``.
    ``lines_per_read``: lines parsed per trip to the worker thread; the mark is stored after each.
    """
    started = time.perf_counter()
    key = _key(path)
    result = BackfillResult(path=key)
    assembler = CallAssembler(tenant_of=tenant_of, short_abandon_s=short_abandon_s)
    reader = _Reader(key, assembler)
    statement = _insert_statement(db.dialect)
    mark = await _load_mark(db, key)
    try:
        await asyncio.to_thread(reader.open)
        start = 0
        if since is None and mark is not None:
            same = reader.inode == mark["inode"] and reader.size >= mark["offset"]
            if same and mark["head_len"]:
                same = (await asyncio.to_thread(reader.head, mark["head_len"]))[1] == mark["head_sha256"]
            if same:
                start = mark["offset"]
            else:
                result.restarted = True
                log.info("queue_log %s was rotated or truncated since the last run: reading it from the start", key)
        elif since is None and mark is None:
            since = first_run_since
        result.start = start
        await asyncio.to_thread(reader.start, start)
        done = False
        while not done:
            finished, done = await asyncio.to_thread(reader.read, lines_per_read)
            result.found += len(finished)
            wanted = [
                r
                for r in finished
                if (since is None or r.entered_at >= since) and (until is None or (r.ended_at or 0) < until)
            ]
            result.skipped += len(finished) - len(wanted)
            for first in range(0, max(len(wanted), 1), batch_size):
                batch = wanted[first : first + batch_size]
                last = first + batch_size >= len(wanted)
                offset = assembler.resume_offset(reader.position) if done or last else None
                await _store(db, statement, batch, reader, offset, result)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(reader.close)
    result.lines, result.malformed = reader.lines, reader.malformed
    result.in_progress = len(assembler.open)
    result.orphans = assembler.stats.orphans
    result.offset = assembler.resume_offset(reader.position)
    result.seconds = time.perf_counter() - started
    return result


async def _store(
    db: Database,
    statement: Insert,
    batch: list[CallRecord],
    reader: _Reader,
    offset: int | None,
    result: BackfillResult,
) -> None:
    """One transaction: a batch of calls and, after the last batch of a read, the new mark."""
    if not batch and offset is None:
        return
    now = datetime.now(UTC)
    mark: dict[str, Any] | None = None
    if offset is not None:
        head_len, head_sha = await asyncio.to_thread(reader.head)
        last = reader.assembler.last_time
        mark = {
            "path": reader.path,
            "inode": reader.inode,
            "offset": offset,
            "head_len": head_len,
            "head_sha256": head_sha,
            "last_line_at": to_datetime(last) if last else None,
            "updated_at": now,
        }
    async with db.engine.begin() as conn:
        written = await _write(conn, statement, batch, now)
        if mark is not None:
            await conn.execute(_mark_statement(db.dialect, mark))
    if batch:
        result.batches += 1
    result.recorded += len(written)
    result.known += len(batch) - len(written)
    result.answered.extend(r.call_id for r in batch if r.call_id in written and r.outcome in ANSWERED_OUTCOMES)


# ---------------------------------------------------------------------------------------------------- the service
async def backfill_after_connect(
    settings: Settings,
    db: Database,
    tracker: CallTracker,
    writer: CallWriter | None = None,
    seen_from: float | None = None,
    clock: Callable[[], float] = time.time,
) -> BackfillResult | None:
    """The service's run at start and after every reconnect (CallService._on_connect, after the resync).

    What the resync just finished is flushed to the store first, so the backfill sees it; calls that ended at or
    after ``seen_from`` (the resync snapshot's time on Asterisk's clock, the queue_log's clock: events flow from
    the login on, just before it) were seen live and are left to the tracker. The first run on a file (no mark)
    reads back to an hour before the newest stored call, or records nothing when the store has none (a new
    installation: ``uhd-telephony backfill --since`` imports history). Never raises: a failed backfill is logged
    and retried at the next reconnect (the mark has not moved past what was not written).
    """
    path = settings.queue_log
    if not path:
        return None
    until = seen_from if seen_from is not None else clock()
    try:
        if writer is not None:
            await writer.flush(timeout_s=10.0)
        newest = await _newest_entered(db)
        first_run_since = newest - FIRST_RUN_MARGIN_S if newest is not None else until
        result = await backfill(
            db,
            path,
            tenant_of=tracker_tenant_of(tracker),
            short_abandon_s=settings.short_abandon_s,
            until=until,
            first_run_since=first_run_since,
            batch_size=settings.store_batch_size,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("queue_log backfill from %s failed (tried again at the next reconnect): %s", path, exc)
        return None
    level = logging.INFO if result.recorded else logging.DEBUG
    log.log(
        level,
        "queue_log backfill from %s: %d lines, %d calls recorded (%d answered), %d known, %d in progress",
        result.path,
        result.lines,
        result.recorded,
        len(result.answered),
        result.known,
        result.in_progress,
    )
    return result
