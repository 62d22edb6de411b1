"""The outbox against a real SMTP server and a real webhook receiver: what arrives, how often, with which ids."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.outbox.sinks import T0, Clock, SmtpSink, WebhookSink, new_secret, outbox_settings, text_of
from tests.support.helpers import eventually
from uhd_telephony.errors import InvalidInput
from uhd_telephony.outbox import OutboxWorker, enqueue
from uhd_telephony.outbox.mail import message_id
from uhd_telephony.outbox.models import outbox
from uhd_telephony.outbox.service import backoff_s
from uhd_telephony.outbox.webhook import WebhookSender
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

TENANT = "klinikum-nord"
MAIL_FROM = "UHD Helpdesk <helpdesk@uhd.example>"


def secret_of(secret: str | None) -> Callable[[AsyncConnection, str, str], Awaitable[str | None]]:
    async def lookup(conn: AsyncConnection, tenant: str, url: str) -> str | None:
        return secret

    return lookup


async def put(db: Database, **message: Any) -> None:
    """Enqueue one message in a transaction of its own (as a business change would)."""
    values: dict[str, Any] = {"tenant": TENANT, "subject": None, "now": T0, **message}
    async with db.engine.begin() as conn:
        await enqueue(conn, **values)


async def rows(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(outbox).order_by(outbox.c.id))).mappings()]


async def test_a_message_commits_with_the_change_and_only_once(db: Database) -> None:
    async with db.engine.begin() as conn:
        for _ in range(2):  # the same notification twice: one row
            await enqueue(conn, tenant=TENANT, channel="mail", target="a@klinikum.example", subject="s",
                          body="hello", dedupe_key="k1")  # fmt: skip
    with pytest.raises(RuntimeError):
        async with db.engine.begin() as conn:
            await enqueue(conn, tenant=TENANT, channel="mail", target="a@klinikum.example", subject="s",
                          body="hello", dedupe_key="k2")  # fmt: skip
            raise RuntimeError("the business change failed")
    assert [r["dedupe_key"] for r in await rows(db)] == ["k1"]


async def test_enqueue_refuses_what_it_could_never_send(db: Database) -> None:
    async with db.engine.begin() as conn:
        bad: list[dict[str, Any]] = [
            {"channel": "fax", "target": "a@b.example", "body": "x"},
            {"channel": "webhook", "target": "ftp://partner.example/x", "body": {}},
            {"channel": "mail", "target": "a@b.example", "body": {"html": "<p>no text</p>"}},
            {"channel": "mail", "target": "a@b.example\nBcc: x@evil.example", "body": "x"},
            {"channel": "webhook", "target": "https://p.example/", "body": {"n": float("nan")}},
        ]
        for values in bad:
            with pytest.raises(InvalidInput):
                await enqueue(conn, tenant=TENANT, subject=None, dedupe_key="bad", **values)
    assert await rows(db) == []


async def test_a_mail_goes_out_once_with_a_message_id_from_its_dedupe_key(
    db: Database, db_url: str, smtp: SmtpSink
) -> None:
    token = "S3cr3t-t0ken-of-the-caller-xxxxxxxxxxxxxx"
    await put(db, channel="mail", target="erika@klinikum.example, station3@klinikum.example",
              subject="[UHD-2026-000001]\nEingang", body={"text": f"Status: {{public_url}}/status/{token}",
              "redact": [token]}, dedupe_key="caller:1:created", ticket_id=1)  # fmt: skip
    worker = OutboxWorker(db, outbox_settings(db_url, smtp), clock=Clock())
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # sent is sent
    (msg,) = smtp.mails()
    assert msg["Message-ID"] == message_id("caller:1:created", MAIL_FROM)
    assert msg["Subject"] == "[UHD-2026-000001] Eingang"  # a line break in a subject never reaches a header
    assert msg["Auto-Submitted"] == "auto-generated"
    assert f"https://helpdesk.example.org/status/{token}" in text_of(msg)
    assert sorted(smtp.messages[0][0]) == ["erika@klinikum.example", "station3@klinikum.example"]
    (row,) = await rows(db)
    assert (row["status"], row["attempts"], row["sent_at"], row["claimed_by"]) == ("sent", 1, T0, None)
    # the status link's token is only ever in the mail: the stored row keeps the text without it
    assert token not in json.dumps(row["body"]) and "[redacted]" in row["body"]["text"]


async def test_a_relay_that_is_down_for_a_while_loses_nothing(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    relay = SmtpSink()  # its port is known, nothing listens there yet
    for n in range(3):
        await put(db, channel="mail", target=f"user{n}@klinikum.example", subject=f"mail {n}", body=f"text {n}",
                  dedupe_key=f"down-{n}")  # fmt: skip
    worker = OutboxWorker(db, outbox_settings(db_url, relay))
    with caplog.at_level(logging.WARNING, logger="uhd_telephony.outbox"):
        await worker.start()
        try:
            await eventually(lambda: worker.stats.retried >= 6, 10)  # every mail has failed twice or more
            assert relay.mails() == []
            relay.start()  # the relay is back
            try:
                await eventually(lambda: worker.stats.sent == 3, 10)
            finally:
                relay.stop()
        finally:
            await worker.close()
    assert sorted(m["Subject"] for m in relay.mails()) == ["mail 0", "mail 1", "mail 2"]
    assert all(r["status"] == "sent" and r["attempts"] >= 3 for r in await rows(db))
    assert "attempt 1 of 12 failed" in caplog.text and "unreachable" in caplog.text


async def test_a_claim_left_by_a_crashed_worker_is_sent_again_with_the_same_ids(
    db: Database, db_url: str, smtp: SmtpSink, hooks: WebhookSink, sender: WebhookSender
) -> None:
    secret = new_secret()
    await put(db, channel="mail", target="erika@klinikum.example", subject="Arbeitsauftrag", body="text",
              dedupe_key="workorder:7:1:mail", ticket_id=7)  # fmt: skip
    await put(db, channel="webhook", target=hooks.url, body={"type": "ticket.routed", "data": {"id": 7}},
              dedupe_key="workorder:7:1:webhook", ticket_id=7)  # fmt: skip
    clock = Clock()
    settings = outbox_settings(db_url, smtp, outbox_lease_s=30)
    crashed = OutboxWorker(db, settings, webhooks=sender, secrets=secret_of(secret), clock=clock, worker_id="a")
    # the first worker claims both and hands them to SMTP and the receiver, then dies before recording it
    for row in await crashed._claim():
        await crashed._send(row)
    assert len(smtp.mails()) == 1 and len(hooks.received) == 1
    successor = OutboxWorker(db, settings, webhooks=sender, secrets=secret_of(secret), clock=clock, worker_id="b")
    assert await successor.run_once() == 0  # the claim holds until its lease ends
    clock.advance(31)
    assert await successor.run_once() == 2
    assert await successor.run_once() == 0
    # at-least-once at the transport, with ids the receivers dedupe on
    first, second = smtp.mails()
    assert first["Message-ID"] == second["Message-ID"] == message_id("workorder:7:1:mail", MAIL_FROM)
    assert hooks.ids() == ["workorder:7:1:webhook", "workorder:7:1:webhook"]
    for hook in hooks.received:
        assert Webhook(secret).verify(hook.body, hook.headers) == {"type": "ticket.routed", "data": {"id": 7}}
    assert [(r["status"], r["attempts"], r["claimed_by"]) for r in await rows(db)] == [("sent", 2, None)] * 2


async def test_two_workers_never_send_one_message_twice(db_url: str, smtp: SmtpSink, hooks: WebhookSink) -> None:
    await migrate(db_url)
    secret = new_secret()
    # two service instances: each its own engine, connection pool and worker
    async with Database(db_url) as one, Database(db_url) as two:
        for n in range(30):
            await put(one, channel="webhook", target=hooks.url, body={"n": n}, dedupe_key=f"hook-{n}")
        for n in range(10):
            await put(one, channel="mail", target="it@klinikum.example", subject=f"m{n}", body="x",
                      dedupe_key=f"mail-{n}")  # fmt: skip
        hooks.delay_s = 0.02
        assert await one.ping() and await two.ping()  # both instances are connected before either starts
        settings = outbox_settings(db_url, smtp, outbox_batch_size=3, outbox_poll_s=0.01)
        workers = [
            OutboxWorker(db, settings, secrets=secret_of(secret), worker_id=name)
            for db, name in ((one, "one"), (two, "two"))
        ]
        for worker in workers:
            await worker.start()
        try:
            await eventually(lambda: sum(w.stats.sent for w in workers) >= 40, 20)
        finally:
            for worker in workers:
                await worker.close()
        assert all(r["status"] == "sent" for r in await rows(one))
    assert sorted(hooks.ids()) == sorted(f"hook-{n}" for n in range(30))
    assert sorted(m["Subject"] for m in smtp.mails()) == sorted(f"m{n}" for n in range(10))
    assert sum(w.stats.sent for w in workers) == 40
    assert all(w.stats.sent > 0 for w in workers)  # they really did compete for the rows


async def test_after_the_last_attempt_a_message_fails_loudly(
    db: Database, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    relay = SmtpSink()  # down for good
    await put(db, channel="mail", target="a@klinikum.example", subject="s", body="x", dedupe_key="doomed")
    clock = Clock()
    worker = OutboxWorker(db, outbox_settings(db_url, relay, outbox_max_attempts=3), clock=clock)
    with caplog.at_level(logging.WARNING, logger="uhd_telephony.outbox"):
        for _ in range(3):
            assert await worker.run_once() == 1
            assert await worker.run_once() == 0  # not due again before its backoff
            clock.advance(1)
        assert await worker.run_once() == 0
    (row,) = await rows(db)
    assert (row["status"], row["attempts"]) == ("failed", 3) and "unreachable" in row["last_error"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "FAILED after 3 attempts" in errors[0].getMessage()
    assert "attempt 2 of 3 failed" in caplog.text
    await worker.count()
    assert worker.health()["failed"] == 1 and worker.health()["pending"] == 0


async def test_a_webhook_is_signed_retried_on_5xx_and_given_up_on_4xx(
    db: Database,
    db_url: str,
    smtp: SmtpSink,
    hooks: WebhookSink,
    sender: WebhookSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = new_secret()
    clock = Clock()
    worker = OutboxWorker(db, outbox_settings(db_url, smtp), webhooks=sender, secrets=secret_of(secret), clock=clock)
    body = {"type": "ticket.routed", "data": {"ticket": {"number": "UHD-2026-000007", "subject": "Drucker ä"}}}
    await put(db, channel="webhook", target=hooks.url, body=body, dedupe_key="wh-1")
    hooks.answers = [503]
    with caplog.at_level(logging.DEBUG):
        assert await worker.run_once() == 1  # 503: try again later
        clock.advance(1)
        assert await worker.run_once() == 1
    first, second = hooks.received
    for hook in (first, second):
        assert hook.headers["webhook-id"] == "wh-1"
        assert Webhook(secret).verify(hook.body, hook.headers) == body
    with pytest.raises(WebhookVerificationError):  # a tampered body fails the receiver's check
        Webhook(secret).verify(second.body.replace(b"000007", b"000008"), second.headers)
    with pytest.raises(WebhookVerificationError):  # and so does another group's key
        Webhook(new_secret()).verify(second.body, second.headers)
    assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text

    await put(db, channel="webhook", target=hooks.url, body={"n": 2}, dedupe_key="wh-2")
    hooks.answers = [410]
    assert await worker.run_once() == 1
    await put(db, channel="webhook", target="http://127.0.0.1:9/nobody", body={"n": 3}, dedupe_key="wh-3")
    unsigned = OutboxWorker(db, outbox_settings(db_url, smtp), webhooks=sender, secrets=secret_of(None), clock=clock)
    assert await unsigned.run_once() == 1
    states = {r["dedupe_key"]: (r["status"], r["attempts"]) for r in await rows(db)}
    assert states == {"wh-1": ("sent", 2), "wh-2": ("failed", 1), "wh-3": ("failed", 1)}
    assert "no signing secret" in (await rows(db))[2]["last_error"]


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    rng = random.Random(7)
    for attempt, cap in ((1, 5), (2, 10), (3, 20), (6, 160), (9, 600), (60, 600)):
        for _ in range(20):
            assert cap / 2 <= backoff_s(attempt, min_s=5, max_s=600, rng=rng) <= cap


def test_the_mail_and_routing_settings_have_their_documented_defaults_and_checks() -> None:
    from pydantic import ValidationError

    from uhd_telephony.settings import Settings

    defaults = Settings()
    assert (defaults.smtp_host, defaults.smtp_port, defaults.smtp_starttls) == ("localhost", 25, False)
    assert (defaults.first_level_limit_s, defaults.outbox_poll_s) == (600.0, 2.0)
    assert Settings(public_url="https://helpdesk.example.org/").public_url == "https://helpdesk.example.org"
    for bad in ("helpdesk.example.org", "ftp://helpdesk.example.org", "https://", "https://x.example/?a=1"):
        with pytest.raises(ValidationError):
            Settings(public_url=bad)
