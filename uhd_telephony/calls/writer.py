"""The call-record writer: takes records without ever waiting, writes them in batches, keeps them until stored.

``submit()`` only puts the record into a dict keyed on ``call_id`` (so ten snapshots of one call cost one row
write); one background task owned by the writer empties that dict in batches every ``flush_interval_s``, or at
once when ``batch_size`` records are waiting. A batch that fails for a reason a retry can fix (the database is
down, locked, restarting, the schema not migrated yet) stays in memory and is retried with capped exponential
backoff and jitter, every attempt logged; submissions go on meanwhile. A batch the database rejects because of
its data (a constraint, a value it cannot store) is split until the offending records are found: those are
logged in full at ERROR and counted as ``rejected``, and the rest are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.exc import DataError, IntegrityError

from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.repository import CallRepository, supersedes
from uhd_telephony.errors import StoreError

log = logging.getLogger(__name__)

# errors about the records themselves: retrying the same batch would fail the same way forever
_RECORD_ERRORS = (StoreError, IntegrityError, DataError)
_RETRY_MIN_S = 0.1


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters for /metrics and the health endpoint."""

    submitted: int  # submit() calls
    coalesced: int  # submissions folded into a record already waiting (same call_id)
    written: int  # records in batches the database accepted
    batches: int  # batches the database accepted
    retries: int  # failed write attempts that will be retried
    rejected: int  # records the database refused for their content (logged in full)
    pending: int  # records not written yet (waiting plus in flight)
    last_error: str | None  # the last write error, kept after recovery for the health page
    last_error_at: float | None  # wall clock of last_error
    healthy: bool  # False from a failed write until the next successful one


class CallWriter:
    """Batched, idempotent, retrying writer of call records; ``start()`` it, ``close()`` it on shutdown."""

    def __init__(
        self,
        repository: CallRepository,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        retry_max_s: float = 10.0,
        *,
        retry_min_s: float = _RETRY_MIN_S,
    ) -> None:
        if batch_size < 1 or flush_interval_s <= 0 or retry_max_s <= 0 or retry_min_s <= 0:
            raise ValueError("batch_size must be >= 1 and the intervals > 0")
        self.repository = repository
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_max_s = retry_max_s
        self.retry_min_s = min(retry_min_s, retry_max_s)
        self._pending: dict[str, CallRecord] = {}
        self._inflight: dict[str, CallRecord] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        # set by submit() when there is something to write; the task sleeps on it when idle
        self._has_data = asyncio.Event()
        # set when waiting for the interval is pointless: a full batch, or flush()/close() waiting
        self._kick = asyncio.Event()
        # set by flush()/close() to cut a retry backoff short, once
        self._retry_now = asyncio.Event()
        # set while nothing is pending or in flight; flush() waits on it
        self._idle = asyncio.Event()
        self._idle.set()
        self._flushers = 0
        self._failures = 0  # consecutive failed attempts, drives the backoff
        self._submitted = 0
        self._coalesced = 0
        self._written = 0
        self._batches = 0
        self._retries = 0
        self._rejected = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._healthy = True

    # -- the hot path -------------------------------------------------------------------------------------

    def submit(self, record: CallRecord) -> None:
        """Queue a record for writing; never blocks. Pass a snapshot: the writer keeps the object as it is."""
        if self._closing:
            raise RuntimeError("call writer is closed: records submitted now would be lost")
        self._submitted += 1
        pending = self._pending
        call_id = record.call_id
        old = pending.get(call_id)
        if old is not None:
            self._coalesced += 1
            if supersedes(record, old):
                pending[call_id] = record
            return
        pending[call_id] = record
        if len(pending) == 1:
            self._has_data.set()
            self._idle.clear()
        if len(pending) >= self.batch_size:
            self._kick.set()

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background task (records submitted before are kept and written then)."""
        if self._closed:
            raise RuntimeError("call writer is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store:call-writer")

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Write everything submitted so far; True when it is all stored, False when ``timeout_s`` ran out."""
        if self._task is None:
            raise RuntimeError("call writer is not started")
        if self._task.done():
            return not self._pending and not self._inflight
        if self._idle.is_set():
            return True
        self._flushers += 1
        self._kick.set()
        self._retry_now.set()
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        finally:
            self._flushers -= 1
        return True

    async def close(self, timeout_s: float = 10.0) -> int:
        """Flush (retrying up to ``timeout_s``), stop the task; returns how many records stay unwritten."""
        if self._closing:
            return len(self._pending) + len(self._inflight)
        self._closing = True
        if self._task is None and self._pending:
            await self.start()
        if self._task is not None:
            await self.flush(timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._closed = True
        self._restore(self._inflight)
        unwritten = len(self._pending)
        if unwritten:
            log.error(
                "call writer closed with %d records UNWRITTEN (database %s, last error: %s); their data follows",
                unwritten,
                self.repository.db.url,
                self._last_error,
            )
            for record in self._pending.values():
                log.error("unwritten call record: %s", json.dumps(dataclasses.asdict(record), default=str))
        log.info(
            "call writer closed: %d submitted, %d written in %d batches, %d retries, %d rejected, %d unwritten",
            self._submitted,
            self._written,
            self._batches,
            self._retries,
            self._rejected,
            unwritten,
        )
        return unwritten

    async def __aenter__(self) -> CallWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            submitted=self._submitted,
            coalesced=self._coalesced,
            written=self._written,
            batches=self._batches,
            retries=self._retries,
            rejected=self._rejected,
            pending=len(self._pending) + len(self._inflight),
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            healthy=self._healthy,
        )

    def unwritten(self) -> list[CallRecord]:
        """The records not stored yet (after a close that timed out: for the caller to save elsewhere)."""
        return [*self._inflight.values(), *self._pending.values()]

    # -- the background task ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._has_data.wait()
            if not self._kick.is_set():
                # let a burst gather into one batch
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval_s):
                        await self._kick.wait()
            self._kick.clear()
            try:
                await self._drain()
            except Exception as exc:  # task boundary: a bug in here must not stop call records being written
                log.exception("call writer: unexpected error, records kept")
                self._restore(self._inflight)
                await self._failed(exc)

    async def _drain(self) -> None:
        """Write batches until the backlog is below a batch (or gone, when someone flushes)."""
        while self._pending:
            batch = self._take()
            try:
                written = await self._write(batch)
            except Exception as exc:  # connection lost, refused, timed out, locked, schema missing: retry
                self._restore(self._inflight)
                await self._failed(exc)
                continue
            self._inflight = {}
            self._written += written
            self._succeeded()
            if len(self._pending) < self.batch_size and not self._flushers:
                break
        if not self._pending:
            self._has_data.clear()
            self._idle.set()

    def _take(self) -> list[CallRecord]:
        """Move up to batch_size of the oldest waiting records to in-flight."""
        pending = self._pending
        if len(pending) <= self.batch_size:
            self._inflight, self._pending = pending, {}
        else:
            # dicts keep insertion order: the front is the oldest
            self._inflight = {call_id: pending.pop(call_id) for call_id in list(islice(pending, self.batch_size))}
        return list(self._inflight.values())

    async def _write(self, batch: list[CallRecord]) -> int:
        """Upsert a batch, splitting it to isolate records refused for their content; returns records stored."""
        try:
            await self.repository.upsert_many(batch)
        except _RECORD_ERRORS as exc:
            if len(batch) == 1:
                self._reject(batch[0], exc)
                return 0
            half = len(batch) // 2
            return await self._write(batch[:half]) + await self._write(batch[half:])
        return len(batch)

    def _reject(self, record: CallRecord, exc: BaseException) -> None:
        # out of the in-flight set, so a retry of the rest of its batch does not bring it back
        self._inflight.pop(record.call_id, None)
        self._rejected += 1
        self._last_error = f"record {record.call_id} rejected: {_describe(exc)}"
        self._last_error_at = time.time()
        log.error(
            "call record %s rejected by the database, not retried (%s): %s",
            record.call_id,
            _describe(exc),
            json.dumps(dataclasses.asdict(record), default=str),
        )

    def _restore(self, inflight: dict[str, CallRecord]) -> None:
        """Put in-flight records back in front of the queue; a newer snapshot submitted meanwhile may win."""
        if not inflight:
            return
        merged: dict[str, CallRecord] = {}
        pending = self._pending
        for call_id, old in inflight.items():
            newer = pending.pop(call_id, None)
            merged[call_id] = newer if newer is not None and supersedes(newer, old) else old
        merged.update(pending)
        self._pending = merged
        self._inflight = {}
        self._has_data.set()
        self._idle.clear()

    def _succeeded(self) -> None:
        self._batches += 1
        if not self._healthy:
            log.warning("call store writes work again after %d failed attempts", self._failures)
        self._failures = 0
        self._healthy = True

    async def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self._retries += 1
        self._healthy = False
        self._last_error = _describe(exc)
        self._last_error_at = time.time()
        ceiling = min(self.retry_max_s, self.retry_min_s * 2 ** min(self._failures - 1, 30))
        delay = random.uniform(ceiling / 2, ceiling)  # jitter: instances that lost the database together spread
        log.warning(
            "call store write failed (attempt %d, %d records kept, retry in %.2fs): %s",
            self._failures,
            len(self._pending),
            delay,
            self._last_error,
        )
        self._retry_now.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._retry_now.wait()


def _describe(exc: BaseException) -> str:
    """One line: the exception type and the first line of its message (SQLAlchemy appends the statement)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
