"""Attachments: stored with their mail within the limits (the ticket says what was not), names made safe, types
recorded, and downloadable through the API like their ticket is readable — never another tenant's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.mailin.conftest import ATTACHMENT_MAX, Desk
from tests.mailin.sessions import mail, one
from tests.support.webapp import TENANT_A, TENANT_B, Seeded, login, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.history import entries
from uhd_telephony.tickets.requester import Requester

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"\x00\xff" * 2000


def _with_attachments() -> Any:
    message = mail(subject="Fehlermeldung im KIS", text="Screenshot und Protokoll anbei.")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="Bildschirmfoto 2026-03-02 um 09.12.png")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="../../etc/Protokoll\u202egnp.pdf")
    message.add_attachment(b"x" * (ATTACHMENT_MAX + 1), maintype="application", subtype="zip", filename="dump.zip")
    message.add_attachment("Zeile 1\nZeile 2\n", subtype="plain", filename="log.txt")
    message.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html", filename="")
    return message


@pytest.fixture
async def client(world: Seeded, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(init_app(web_settings(world.url)))


async def _ticket_of(desk: Desk, answer_text: str, tenant: str = TENANT_A) -> Any:
    number = next(w for w in answer_text.split() if w.startswith("UHD-"))
    return await desk.tickets.by_number(tenant, number)


async def test_attachments_are_stored_with_safe_names_and_the_rest_is_noted(desk: Desk) -> None:
    view = await _ticket_of(desk, (await one(desk.port, _with_attachments())).text)
    rows = await desk.sql(
        "SELECT filename, content_type, size, data FROM mail_in_attachments WHERE ticket_id = :t ORDER BY id",
        t=view.id,
    )
    assert [(r.filename, r.content_type, r.size) for r in rows] == [
        ("Bildschirmfoto 2026-03-02 um 09.12.png", "image/png", len(PNG)),
        ("Protokoll_gnp.pdf", "application/pdf", len(PDF)),  # no path, no right-to-left override
        ("log.txt", "text/plain", len("Zeile 1\nZeile 2\n")),
        ("attachment-5.html", "text/html", 25),  # a part without a name gets one
    ]
    assert bytes(rows[0].data) == PNG and bytes(rows[1].data) == PDF
    async with desk.db.engine.connect() as conn:
        history = await entries(conn, view.id)
    mail_rows = {h["field"]: h for h in history if h["action"] == "mail"}
    stored = json.loads(str(mail_rows["attachments"]["note"]))
    assert [s["filename"] for s in stored] == [r.filename for r in rows] and all(s["id"] for s in stored)
    dropped = json.loads(str(mail_rows["attachments_dropped"]["note"]))
    assert dropped == [{"filename": "dump.zip", "size": ATTACHMENT_MAX + 1, "reason": "attachment",
                        "limit": ATTACHMENT_MAX}]  # fmt: skip
    # the history in words, for the ticket page, in both languages
    for locale, words in (("de", "Anhänge nicht gespeichert: dump.zip (64,0 kB) ist größer als 64,0 kB"),
                          ("en", "Attachments not stored: dump.zip (64.0 kB) is larger than 64.0 kB")):  # fmt: skip
        ctx = history_text.Context(history_text.translator(locale))
        assert history_text.describe(mail_rows["attachments_dropped"], ctx) == words
        assert "Bildschirmfoto 2026-03-02 um 09.12.png (1,0 kB)" in history_text.describe(
            mail_rows["attachments"], history_text.Context(history_text.translator("de"))
        )
        assert history_text.sentence({**history[0]}, ctx).startswith("juergen.mueller@klinikum-nord.example (")


async def test_the_mails_total_limit_keeps_the_first_attachments(desk: Desk) -> None:
    message = mail()
    for n in range(3):  # 40 KiB each: two fit the mail's 100 KiB, the third does not
        message.add_attachment(b"%d" % n * 40 * 1024, maintype="application", subtype="octet-stream",
                               filename=f"teil-{n}.bin")  # fmt: skip
    view = await _ticket_of(desk, (await one(desk.port, message)).text)
    rows = await desk.sql("SELECT filename FROM mail_in_attachments WHERE ticket_id = :t ORDER BY id", t=view.id)
    assert [r.filename for r in rows] == ["teil-0.bin", "teil-1.bin"]
    note = await desk.sql("SELECT note FROM ticket_history WHERE ticket_id = :t AND field = 'attachments_dropped'",
                          t=view.id)  # fmt: skip
    assert json.loads(note[0].note)[0]["reason"] == "mail"


async def test_a_replys_attachments_join_its_ticket(desk: Desk) -> None:
    number = next(w for w in (await one(desk.port, mail())).text.split() if w.startswith("UHD-"))
    reply = mail(subject=f"Re: {number}", text="Hier das Foto.")
    reply.add_attachment(PNG, maintype="image", subtype="png", filename="foto.png")
    assert "added to ticket" in (await one(desk.port, reply)).text
    rows = await desk.sql("SELECT t.number FROM mail_in_attachments a JOIN tickets t ON t.id = a.ticket_id")
    assert [r.number for r in rows] == [number]


async def test_attachments_download_like_their_ticket_reads(desk: Desk, client: TestClient, world: Seeded) -> None:
    view = await _ticket_of(desk, (await one(desk.port, _with_attachments())).text)
    other = await desk.tickets.create(
        TENANT_B, channel="web", subject="x", requester=Requester(name="Zacharias Südlich"), actor="system"
    )
    base = f"/api/tenants/{TENANT_A}/tickets/{view.id}/attachments"
    assert (await client.get(base)).status == 401
    csrf = await login(client, "anna")  # an agent of tenant A
    listed = (await (await client.get(base)).json())["attachments"]
    assert [a["filename"] for a in listed][:2] == ["Bildschirmfoto 2026-03-02 um 09.12.png", "Protokoll_gnp.pdf"]
    assert listed[0]["url"] == f"{base}/{listed[0]['id']}" and listed[0]["content_type"] == "image/png"
    response = await client.get(listed[0]["url"])
    assert response.status == 200 and await response.read() == PNG
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Bildschirmfoto 2026-03-02 um 09.12.png"; '
        "filename*=UTF-8''Bildschirmfoto%202026-03-02%20um%2009.12.png"
    )
    html = next(a for a in listed if a["content_type"] == "text/html")
    script = await client.get(html["url"])  # what a mail brought is saved, never rendered by the browser
    assert (
        script.headers["Content-Type"] == "application/octet-stream"
        and "attachment" in script.headers["Content-Disposition"]
    )
    # another ticket's path, another tenant's path: as missing as a missing attachment
    assert (await client.get(f"/api/tenants/{TENANT_A}/tickets/{view.id}/attachments/999999")).status == 404
    assert (await client.get(f"/api/tenants/{TENANT_B}/tickets/{other.id}/attachments")).status == 404
    assert (await client.get(f"/api/tenants/{TENANT_B}/tickets/{view.id}/attachments/{listed[0]['id']}")).status == 404
    wrong_ticket = f"/api/tenants/{TENANT_A}/tickets/{other.id}/attachments/{listed[0]['id']}"
    assert (await client.get(wrong_ticket)).status == 404
    assert (await client.post("/api/logout", headers={"X-CSRF-Token": csrf})).status == 200
    await login(client, "carl")  # an agent of tenant B only
    assert (await client.get(listed[0]["url"])).status == 404
    assert (await client.get(base)).status == 404
