"""Store fixtures: a migrated database on SQLite and PostgreSQL, a call-record factory, a TCP proxy to cut."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests import dbfixtures
from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.store.db import Database

# 2024-11-27 08:00:00.123456 UTC: microseconds on purpose, they must survive the round trip
T0 = 1732694400.123456

MakeCall = Callable[..., CallRecord]

# the shared database fixtures, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db


@pytest.fixture
def repo(db: Database) -> CallRepository:
    return CallRepository(db)


def _make_call(
    n: int = 1,
    *,
    finished: bool = True,
    tenant: str = "klinikum-nord",
    queue: str = "hotline",
    entered_at: float | None = None,
    **overrides: Any,
) -> CallRecord:
    """Call number ``n``: answered after 12.5 s wait, 90.25 s talk; in progress when not ``finished``."""
    entered = T0 + n * 60 if entered_at is None else entered_at
    values: dict[str, Any] = {
        "call_id": f"1732694400.{n}@{queue}",
        "linkedid": f"1732694400.{n}",
        "uniqueid": f"1732694400.{n}",
        "queue": queue,
        "tenant": tenant,
        "entered_at": entered,
        "channel": f"PJSIP/trunk-{n:08x}",
        "caller_number": f"+49301234{n:04d}",
        "caller_name": "Jürgen Müller",
        "dialled": "+49301234000",
        "position": 1,
        "variables": {"UHD_USER": f"user-{n}", "UHD_TENANT": tenant},
    }
    if finished:
        values.update(
            answered_at=entered + 12.5,
            ended_at=entered + 102.75,
            wait_s=12.5,
            talk_s=90.25,
            agent="Agent Anna",
            agent_interface="PJSIP/agent-anna",
            outcome=Outcome.ANSWERED,
            ended_by="caller",
            ring_attempts=[
                RingAttempt("PJSIP/agent-bob", "Agent Bob", entered + 1.0, entered + 11.0, "noanswer"),
                RingAttempt(
                    "PJSIP/agent-anna", "Agent Anna", entered + 11.000001, entered + 12.5, "answered", "PJSIP/a-01"
                ),
            ],
        )
    values.update(overrides)
    return CallRecord(**values)


@pytest.fixture
def make_call() -> MakeCall:
    """A factory of realistic call records (see ``_make_call``)."""
    return _make_call


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 that a test can cut (listener and every connection) and bring back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and reset every open connection: the database is gone."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        # the handlers (the server's tasks) end on their own once their sockets are gone; wait for them
        handlers = list(self._handlers)
        if handlers:
            await asyncio.wait(handlers, timeout=5)

    async def restore(self) -> None:
        """Listen again on the same port: the database is back."""
        await self.start()

    async def close(self) -> None:
        await self.cut()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(client_w)
        self.connections += 1
        try:
            async with asyncio.timeout(5):
                server_r, server_w = await asyncio.open_connection(*self.target)
            self._writers.add(server_w)
            try:
                await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))
            finally:
                self._writers.discard(server_w)
                server_w.transport.abort()
        except (OSError, TimeoutError):
            pass
        finally:
            self._handlers.discard(task)
            self._writers.discard(client_w)
            client_w.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@pytest.fixture
async def pg_proxy() -> AsyncIterator[TcpProxy]:
    """A cuttable TCP proxy in front of the PostgreSQL server at 127.0.0.1:5432."""
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
