"""The database briefly gone, or failing in the middle of a mail: the endpoint answers 451 (the mail server tries
again), nothing of the mail is written, and the redelivery makes exactly one ticket."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3

import pytest
from sqlalchemy.engine import make_url

from tests.mailin.conftest import Desk, make_world, open_desk
from tests.mailin.sessions import HOST, MUELLER, NORD, mail, one
from tests.support.proxy import TcpProxy, pg_proxy  # noqa: F401  (the fixture)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def _written(desk: Desk) -> tuple[int, ...]:
    rows = await desk.sql(
        "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_history), "
        "(SELECT count(*) FROM mail_in_messages), (SELECT count(*) FROM outbox)"
    )
    return tuple(rows[0])


async def test_a_locked_sqlite_database_answers_451_and_the_retry_makes_the_ticket(sqlite_url: str) -> None:
    """SQLite's "database is locked" (another writer past the busy timeout); PostgreSQL is cut below."""
    world = await make_world(sqlite_url)
    async with open_desk(world.url, sqlite_busy_timeout_ms=200) as desk:
        message = mail()
        holder = sqlite3.connect(make_url(world.url).database or "", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
            answer = await one(desk.port, message)
            assert answer.code == 451 and answer.text.startswith("4.3.0")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert await _written(desk) == (0, 0, 0, 0) and desk.counts["failed"] == 1
        again = await one(desk.port, message)
        assert again.code == 250 and "UHD-" in again.text and "opened" in again.text
        assert (await _written(desk))[0] == 1


async def test_a_failure_in_the_middle_of_a_mail_writes_nothing_of_it(desk: Desk) -> None:
    message = mail()
    message.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="a.pdf")
    # the attachments' table gone: the ticket, its history and the caller's mail are written first, in the same
    # transaction, and must go with it
    await desk.sql("ALTER TABLE mail_in_attachments RENAME TO mail_in_attachments_away")
    try:
        answer = await one(desk.port, message)
        assert answer.code == 451
        assert await _written(desk) == (0, 0, 0, 0)
    finally:
        await desk.sql("ALTER TABLE mail_in_attachments_away RENAME TO mail_in_attachments")
    again = await one(desk.port, message)
    assert again.code == 250 and again.text.endswith("-000001 opened")  # the number was given back too
    assert await _written(desk) == (
        1,
        2,
        1,
        1,
    )  # the ticket, its created and attachments rows, the mail, its confirmation


def _open_session(port: int) -> smtplib.LMTP:
    client = smtplib.LMTP(HOST, port, timeout=30)
    client.ehlo("mx.klinikum.example")
    assert client.mail(MUELLER)[0] == 250 and client.rcpt(NORD)[0] == 250
    return client


def _data(client: smtplib.LMTP, data: bytes) -> tuple[int, bytes]:
    try:
        return client.data(data)
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code, exc.smtp_error
    finally:
        client.close()


@pytest.mark.postgres
async def test_postgresql_gone_answers_451_at_rcpt_and_at_data(pg_url: str, pg_proxy: TcpProxy) -> None:  # noqa: F811
    await make_world(pg_url)
    through_proxy = make_url(pg_url).set(host="127.0.0.1", port=pg_proxy.port).render_as_string(hide_password=False)
    async with open_desk(through_proxy) as desk:
        message = mail()
        await pg_proxy.cut()
        refused = await one(desk.port, message)
        assert refused.code == 451  # at RCPT: the address cannot be checked
        await pg_proxy.restore()
        client = await asyncio.to_thread(_open_session, desk.port)  # RCPT checked with the database there
        await pg_proxy.cut()
        code, text = await asyncio.to_thread(_data, client, message.as_bytes())
        assert code == 451 and text.startswith(b"4.3.0")
        await pg_proxy.restore()
        assert await _written(desk) == (0, 0, 0, 0)
        again = await one(desk.port, message)
        assert again.code == 250 and "opened" in again.text
        assert (await _written(desk))[0] == 1
