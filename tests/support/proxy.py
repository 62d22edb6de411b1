"""A TCP proxy a test can cut: a database that is briefly gone, for real."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest


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
    """A cuttable TCP proxy in front of the PostgreSQL server at 127.0.0.1:5432 (import it to use it)."""
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
