"""The demo's mail goes to a directory: one .eml per message, as the SMTP relay would have received it."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from uhd_telephony.app.demo.mailbox import MailSink
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


def names(directory: Path) -> list[str]:
    """Every file in ``directory``, hidden ones (a partial write) included."""
    return sorted(p.name for p in directory.iterdir())


async def test_a_restarted_demo_numbers_after_the_highest_file_and_overwrites_none(tmp_path: Path) -> None:
    kept = tmp_path / "00002-Ticket-angelegt.eml"  # 00001 was deleted by hand
    kept.write_bytes(b"the mail of the previous run")
    sink = MailSink(Settings(), tmp_path)
    await sink.send(to=["a@b.example"], subject="Ticket angelegt", text="x", html=None, dedupe_key="k1")
    assert kept.read_bytes() == b"the mail of the previous run"
    assert names(tmp_path) == ["00002-Ticket-angelegt.eml", "00003-Ticket-angelegt.eml"]


async def test_a_mail_not_written_is_not_counted_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = MailSink(Settings(), tmp_path)

    def disk_full(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(Path, "replace", disk_full)
        with pytest.raises(SendError, match="No space left"):
            await sink.send(to=["a@b.example"], subject="s", text="t", html=None, dedupe_key="k")
    assert sink.sent == 0 and names(tmp_path) == []
    await sink.send(to=["a@b.example"], subject="s", text="t", html=None, dedupe_key="k")  # the outbox retries
    assert sink.sent == 1 and names(tmp_path) == ["00001-s.eml"]
