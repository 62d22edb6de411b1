"""The demo's mail goes to a directory: one .eml per message, as the SMTP relay would have received it."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from uhd_telephony.demo.mailbox import MailSink
from uhd_telephony.outbox.mail import message_id
from uhd_telephony.outbox.transport import SendError
from uhd_telephony.settings import Settings


async def test_each_mail_is_a_numbered_eml_file_with_its_stable_message_id(tmp_path: Path) -> None:
    settings = Settings()
    sink = MailSink(settings, tmp_path / "demo-mail")
    await sink.send(to=["it-leitung@klinikum-nord.example"], subject="[UHD-2026-000007] SLA verletzt / breached",
                    text="Ticket: UHD-2026-000007\n", html=None, dedupe_key="escalation:1:2:mail")  # fmt: skip
    await sink.send(to=["a@b.example"], subject="Ärger: Drucker/Scanner", text="x", html="<p>x</p>", dedupe_key="k2")
    first, second = sorted((tmp_path / "demo-mail").glob("*.eml"))
    assert first.name == "00001-UHD-2026-000007-SLA-verletzt-breached.eml"
    assert second.name.startswith("00002-") and "/" not in second.name
    msg = email.message_from_bytes(first.read_bytes(), policy=policy.default)
    assert msg["To"] == "it-leitung@klinikum-nord.example" and msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == message_id("escalation:1:2:mail", settings.mail_from)
    assert "UHD-2026-000007" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    again = MailSink(settings, tmp_path / "demo-mail")  # a restarted demo goes on numbering
    await again.send(to=["a@b.example"], subject="third", text="x", html=None, dedupe_key="k3")
    assert sorted(p.name for p in (tmp_path / "demo-mail").glob("*.eml"))[-1] == "00003-third.eml"


async def test_a_recipient_no_relay_would_take_fails_for_good(tmp_path: Path) -> None:
    sink = MailSink(Settings(), tmp_path)
    with pytest.raises(SendError) as failed:
        await sink.send(to=["not an address"], subject="s", text="t", html=None, dedupe_key="k")
    assert failed.value.permanent and sink.sent == 0
