"""PostgreSQL briefly gone: the writer keeps every record, retries, and each arrives exactly once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from tests.support.proxy import TcpProxy
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.writer import CallWriter
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

from .conftest import MakeCall

pytestmark = pytest.mark.postgres


async def test_records_submitted_while_postgresql_is_gone_arrive_exactly_once(
    pg_url: str, pg_proxy: TcpProxy, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    await migrate(pg_url)
    via_proxy = make_url(pg_url).set(port=pg_proxy.port)
    caplog.set_level(logging.WARNING, logger="uhd_telephony.calls.writer")
    async with Database(via_proxy, pg_connect_timeout_s=1.0) as db:
        insert_sent = asyncio.Event()
        armed = False

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if armed and statement.startswith("INSERT INTO calls"):
                insert_sent.set()

        repo = CallRepository(db)
        writer = CallWriter(repo, batch_size=100, flush_interval_s=0.05, retry_min_s=0.05, retry_max_s=0.5)
        await writer.start()
        seen_unhealthy = False
        try:
            # a steady stream: every call is offered (in progress) and, 40 submissions later, finished
            total = 600
            for n in range(total + 40):
                if n < total:
                    writer.submit(make_call(n, finished=False))
                if n >= 40:
                    writer.submit(make_call(n - 40))
                if n == 150:
                    # cut while an INSERT is on the wire, not between writes
                    insert_sent.clear()
                    armed = True
                    async with asyncio.timeout(5):
                        await insert_sent.wait()
                    await pg_proxy.cut()
                    cut_at = asyncio.get_running_loop().time()
                if n == 450:
                    # down ~2.5 s in all: let the backoff run its course, then bring the server back
                    await asyncio.sleep(max(0.0, cut_at + 2.5 - asyncio.get_running_loop().time()))
                    seen_unhealthy = not writer.stats.healthy
                    assert writer.stats.pending > 0
                    await pg_proxy.restore()
                await asyncio.sleep(0.005)
            assert await writer.flush(timeout_s=15)
        finally:
            unwritten = await writer.close(timeout_s=5)
        stats = writer.stats

    assert unwritten == 0
    assert seen_unhealthy
    assert stats.retries >= 2
    assert stats.healthy
    assert stats.last_error is not None
    assert pg_proxy.connections >= 2  # the pool reconnected through the restored proxy
    assert "call store write failed (attempt 1" in caplog.text
    assert "connection was closed" in caplog.text  # the INSERT that was on the wire failed, and was retried
    assert "call store write failed (attempt 2" in caplog.text

    # straight to the server, not through the proxy
    async with Database(pg_url) as direct:
        async with direct.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT call_id, count(*) FROM calls GROUP BY call_id"))).all()
        assert len(rows) == total
        assert all(count == 1 for _, count in rows)
        assert {call_id for call_id, _ in rows} == {make_call(n).call_id for n in range(total)}
        repo = CallRepository(direct)
        assert await repo.open_calls() == []
        for n in (0, 149, 151, 300, 449, 599):
            assert await repo.get(make_call(n).call_id) == make_call(n)
