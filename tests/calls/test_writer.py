"""The batched call-record writer: coalescing, batching, retries while the database is away, flushing on close."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.writer import CallWriter
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

from .conftest import MakeCall


@pytest.fixture
async def writer(repo: CallRepository) -> AsyncIterator[CallWriter]:
    w = CallWriter(repo, batch_size=500, flush_interval_s=0.05, retry_max_s=0.5)
    await w.start()
    try:
        yield w
    finally:
        await w.close(timeout_s=5)


async def test_snapshots_coalesce_per_call_and_are_written_in_batches(
    writer: CallWriter, repo: CallRepository, make_call: MakeCall
) -> None:
    finals = [make_call(n) for n in range(1200)]
    for n, final in enumerate(finals):
        writer.submit(make_call(n, finished=False))
        writer.submit(final)
        writer.submit(make_call(n, finished=False, resynced=True))  # a late snapshot: must not undo the end
    assert await writer.flush(timeout_s=20)
    stats = writer.stats
    assert (stats.submitted, stats.coalesced, stats.written, stats.batches) == (3600, 2400, 1200, 3)
    assert (stats.pending, stats.retries, stats.healthy) == (0, 0, True)
    assert await repo.count() == 1200
    assert [await repo.get(f.call_id) for f in finals[::97]] == finals[::97]


async def test_a_lone_record_is_written_within_the_flush_interval(
    writer: CallWriter, repo: CallRepository, make_call: MakeCall
) -> None:
    writer.submit(make_call(1))
    started = time.monotonic()
    for _ in range(250):  # poll the database itself, not the writer: nobody calls flush() here
        if await repo.count():
            break
        await asyncio.sleep(0.02)
    assert await repo.count() == 1
    assert time.monotonic() - started < 2
    assert writer.stats.written == 1


async def test_a_finished_call_written_earlier_is_not_undone_by_a_late_snapshot(
    writer: CallWriter, repo: CallRepository, make_call: MakeCall
) -> None:
    writer.submit(make_call(1))
    assert await writer.flush(timeout_s=5)
    writer.submit(make_call(1, finished=False))
    assert await writer.flush(timeout_s=5)
    assert await repo.get(make_call(1).call_id) == make_call(1)


@pytest.mark.slow
async def test_submitting_never_waits_on_the_database(repo: CallRepository, make_call: MakeCall) -> None:
    records = [make_call(n) for n in range(20_000)]
    writer = CallWriter(repo, batch_size=500, flush_interval_s=0.2)
    await writer.start()
    try:
        started = time.perf_counter()
        for record in records:
            writer.submit(record)
        rate = len(records) / (time.perf_counter() - started)
        assert rate >= 20_000, f"submit() sustained only {rate:.0f} records/s"
        assert await writer.flush(timeout_s=30)
    finally:
        await writer.close()
    assert writer.stats.written == 20_000
    assert writer.stats.batches == 40
    assert await repo.count() == 20_000


async def test_close_flushes_what_is_pending(repo: CallRepository, make_call: MakeCall) -> None:
    writer = CallWriter(repo, flush_interval_s=60)  # only close() will write
    await writer.start()
    for n in range(300):
        writer.submit(make_call(n))
    assert await writer.close(timeout_s=10) == 0
    assert await repo.count() == 300
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(make_call(999))


async def test_close_writes_records_submitted_before_start(repo: CallRepository, make_call: MakeCall) -> None:
    writer = CallWriter(repo)
    writer.submit(make_call(1))
    assert await writer.close() == 0
    assert await repo.count() == 1


async def test_a_record_the_database_refuses_is_set_aside_and_the_rest_written(
    writer: CallWriter, repo: CallRepository, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    poison = make_call(50, entered_at=float("inf"))
    for n in range(100):
        writer.submit(poison if n == 50 else make_call(n))
    assert await writer.flush(timeout_s=10)
    assert (writer.stats.written, writer.stats.rejected, writer.stats.retries) == (99, 1, 0)
    assert await repo.count() == 99
    assert f"call record {poison.call_id} rejected" in caplog.text
    assert '"caller_name": "J\\u00fcrgen M\\u00fcller"' in caplog.text  # the whole record is in the log


@pytest.mark.empty_database
async def test_records_wait_for_a_schema_that_is_not_there_yet(db_url: str, make_call: MakeCall) -> None:
    # a service started before `uhd-telephony migrate`: records are kept until the table exists
    async with Database(db_url) as db:
        writer = CallWriter(CallRepository(db), flush_interval_s=0.02, retry_min_s=0.05, retry_max_s=0.2)
        await writer.start()
        try:
            for n in range(10):
                writer.submit(make_call(n))
            assert not await writer.flush(timeout_s=0.5)
            assert writer.stats.retries >= 1
            assert not writer.stats.healthy
            await migrate(db_url)
            assert await writer.flush(timeout_s=10)
            assert writer.stats.healthy
            assert await CallRepository(db).count() == 10
        finally:
            await writer.close()


async def test_close_reports_what_it_could_not_write(
    tmp_path: Path, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    # a database that never comes: close() gives up at its timeout and says so, loudly
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'x.db'}") as db:
        writer = CallWriter(CallRepository(db), flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.1)
        await writer.start()
        records = [make_call(n) for n in range(3)]
        for record in records:
            writer.submit(record)
        with caplog.at_level(logging.ERROR, logger="uhd_telephony.calls.writer"):
            assert await writer.close(timeout_s=0.5) == 3
    assert sorted(r.call_id for r in writer.unwritten()) == sorted(r.call_id for r in records)
    assert "closed with 3 records UNWRITTEN" in caplog.text
    assert caplog.text.count("unwritten call record:") == 3


@pytest.mark.slow
async def test_sqlite_locked_by_another_process_is_waited_out(sqlite_url: str, make_call: MakeCall) -> None:
    # SQLite's "briefly gone": another process (a backup, the sqlite3 shell) holds the write lock for ~2 s
    await migrate(sqlite_url)
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    async with Database(sqlite_url, sqlite_busy_timeout_ms=50) as db:
        repo = CallRepository(db)
        writer = CallWriter(repo, batch_size=50, flush_interval_s=0.02, retry_min_s=0.05, retry_max_s=0.3)
        await writer.start()
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            for n in range(100):
                writer.submit(make_call(n, finished=False))
            assert await writer.flush(timeout_s=5)
            blocker.execute("BEGIN EXCLUSIVE")
            for n in range(200):
                writer.submit(make_call(n))  # finishes the first 100, adds 100 more
                if n % 20 == 0:
                    await asyncio.sleep(0.2)
            assert not writer.stats.healthy
            assert writer.stats.pending > 0
            blocker.execute("COMMIT")
            assert await writer.flush(timeout_s=10)
        finally:
            blocker.close()
            await writer.close()
        assert writer.stats.retries >= 1
        assert "locked" in (writer.stats.last_error or "")
        assert writer.stats.healthy
        assert await repo.count() == 200
        assert await repo.open_calls() == []
        assert [await repo.get(make_call(n).call_id) for n in (0, 99, 199)] == [make_call(n) for n in (0, 99, 199)]
