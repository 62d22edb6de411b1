"""A console WebSocket whose browser goes away right after the handshake (issue 13 item 9): no ERROR, no traceback.

Run the way ``server.py`` runs the app (``web.AppRunner``: a lost connection does not cancel the handler, unlike the
test server), with the screen-pop fan-out's ``current`` taking a moment as Redis does: the client is gone when the
handler writes to it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.webapp import PASSWORD, TENANT_A, Seeded, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.web import keys


@pytest.mark.parametrize("abort", [True, False], ids=["reset", "fin"])
async def test_a_console_socket_closed_right_after_the_handshake_logs_no_error(
    seeded: Seeded, caplog: pytest.LogCaptureFixture, abort: bool
) -> None:
    app = init_app(web_settings(seeded.url))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)  # as server.py
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gone = asyncio.Event()
    asked = asyncio.Event()

    async def current(agent_id: int) -> dict[str, Any]:
        asked.set()
        await gone.wait()  # the browser closes while Redis answers
        return {"type": "pop", "tenant": TENANT_A, "call": {"linkedid": "x"}}

    app[keys.FANOUT].current = current
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            response = await browser.post(
                f"http://127.0.0.1:{port}/api/login", json={"username": "anna", "password": PASSWORD}
            )
            assert response.status == 200
            cookie = "; ".join(f"{c.key}={c.value}" for c in browser.cookie_jar)
        with caplog.at_level(logging.INFO):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                (
                    f"GET /ws/console HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            await asyncio.wait_for(asked.wait(), 5)
            if abort:  # RST instead of FIN: a browser killed, a network dropped
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            await asyncio.sleep(0.2)  # the server sees the connection end
            gone.set()
            hub = app[keys.HUB]
            async with asyncio.timeout(5):
                while hub.consoles_of(seeded.anna.id):  # noqa: ASYNC110 - the handler's finally: no event to wait on
                    await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [(r.name, r.getMessage()) for r in errors]
