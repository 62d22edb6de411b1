"""Real receivers for the outbox tests: an SMTP server (aiosmtpd) and a webhook endpoint (aiohttp), on loopback.

Both record exactly what arrived, so a test counts deliveries and reads ids and signatures as a receiver would.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import re
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.fernet import Fernet

from tests.support.helpers import free_port
from uhd_telephony.outbox.webhook import WebhookSender
from uhd_telephony.settings import Settings

LINK_RE = re.compile(r"(https?://\S+/status/([A-Za-z0-9_-]+))")
# 2026-03-02 08:00 UTC (09:00 in Berlin)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.sink.lock:
            self.sink.messages.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on a fixed loopback port that can be started late (a relay that is down, then up)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=5)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mails(self) -> list[EmailMessage]:
        with self.lock:
            return [msg for _, msg in self.messages]

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [msg for rcpts, msg in self.messages if address in rcpts]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def status_link(msg: EmailMessage) -> tuple[str, str]:
    """(the status link, its token) from a caller mail."""
    found = LINK_RE.search(text_of(msg))
    assert found is not None, text_of(msg)
    return found.group(1), found.group(2)


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookSink:
    """Records every POST to /hook; answers with the queued statuses first, then 204."""

    url: str = ""
    received: list[Hook] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay_s: float = 0.0  # a receiver that takes its time: senders overlap

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Hook(dict(request.headers), await request.read()))
        await asyncio.sleep(self.delay_s)
        status = self.answers.pop(0) if self.answers else 204
        return web.Response(status=status)

    def ids(self) -> list[str]:
        return [hook.headers["webhook-id"] for hook in self.received]


def outbox_settings(url: str, smtp: SmtpSink, **extra: Any) -> Settings:
    """Settings for fast tests: the sink as relay, short polls, retries and leases."""
    values: dict[str, Any] = {
        "database_url": url,
        "session_key": Fernet.generate_key().decode(),
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_timeout_s": 3.0,
        "mail_from": "UHD Helpdesk <helpdesk@uhd.example>",
        "public_url": "https://helpdesk.example.org/",
        "outbox_poll_s": 0.05,
        "outbox_retry_min_s": 0.1,
        "outbox_retry_max_s": 0.4,
        "outbox_lease_s": 30.0,
        "webhook_timeout_s": 3.0,
    }
    values.update(extra)
    return Settings(**values)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A running SMTP server on loopback, stopped afterwards."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def hooks(aiohttp_server: Any) -> AsyncIterator[WebhookSink]:
    """A webhook receiver on loopback."""
    sink = WebhookSink()
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    sink.url = str(server.make_url("/hook"))
    yield sink


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    """A started webhook sender, closed afterwards."""
    webhooks = WebhookSender(timeout_s=3.0)
    await webhooks.start()
    try:
        yield webhooks
    finally:
        await webhooks.close()
