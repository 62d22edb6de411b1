"""Reading a mail, without a socket: text and HTML, the quoted thread of a reply, file names, ticket numbers."""

from __future__ import annotations

import pytest

from uhd_telephony.i18n import actor_label, label
from uhd_telephony.mailin.history import size_text
from uhd_telephony.mailin.message import automatic, parse
from uhd_telephony.mailin.parts import Limits, safe_filename
from uhd_telephony.mailin.text import ELLIPSIS, clean, decode_bytes, html_to_text, reply_text
from uhd_telephony.mailin.threads import Sender, numbers_in

LIMITS = Limits(attachment=1000, total=2000)


@pytest.mark.parametrize(
    ("name", "kind", "safe"),
    [
        ("Befund.pdf", "application/pdf", "Befund.pdf"),
        ("../../etc/passwd", "text/plain", "passwd"),
        ("C:\\Users\\x\\Desktop\\Foto.jpg", "image/jpeg", "Foto.jpg"),
        ("  .bashrc", "text/plain", "bashrc"),
        ('a\x00b\r\nc<d>:"e|f?*.txt', "text/plain", "a b c_d___e_f__.txt"),
        ("Rechnung\u202efdp.exe", "application/octet-stream", "Rechnung_fdp.exe"),
        ("", "image/png", "attachment-3.png"),
        (None, "application/x-unknown-thing", "attachment-3.bin"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 196 + ".pdf"),
        ("Übersicht Störungen.xlsx", "application/vnd.ms-excel", "Übersicht Störungen.xlsx"),
    ],
)
def test_file_names_are_made_safe(name: str | None, kind: str, safe: str) -> None:
    assert safe_filename(name, kind, 3) == safe


def test_html_becomes_the_text_a_reader_sees() -> None:
    html = (
        "<div>Hallo&nbsp;Team,</div><div><br></div><table><tr><td>Gerät</td><td>PC-17</td></tr></table>"
        "<ol><li>eins</li><li>zwei</li></ol><a href='mailto:x@y.de'>x@y.de</a> <a href='ftp://x'>ftp</a>"
        "<noscript>aktivieren</noscript><template><p>nie</p></template>"
    )
    assert clean(html_to_text(html), 1000) == "Hallo Team,\n\nGerät PC-17\n\n- eins\n- zwei\nx@y.de ftp"


def test_a_reply_is_cut_where_the_quoted_thread_starts() -> None:
    outlook = "Geht wieder.\n\nVon: IT-Helpdesk <helpdesk@x.de>\nGesendet: Montag, 2. März 2026 09:00\nAn: mich"
    assert reply_text(outlook) == "Geht wieder."
    gmail = "Danke!\n\nOn Mon, Mar 2, 2026 at 9:00 AM IT-Helpdesk <\nhelpdesk@x.de> wrote:\n> alt"
    assert reply_text(gmail) == "Danke!"
    thunderbird = "Immer noch kaputt.\n\nAm 02.03.26 um 09:00 schrieb IT-Helpdesk:\n> Ihre Anfrage"
    assert reply_text(thunderbird) == "Immer noch kaputt."
    inline = "> Frage 1\nAntwort 1\n> Frage 2\nAntwort 2"
    assert reply_text(inline) == inline  # answers between the quotes stay
    assert reply_text("Von: jemandem\nnur Text") == "Von: jemandem\nnur Text"  # no header block follows


def test_text_is_cleaned_and_cut() -> None:
    assert clean("a\r\nb\rc\x00d\x07\n\n\n\n  e  \t", 100) == "a\nb\ncd\n\n  e"  # indentation kept
    long = clean("x" * 50, 20)
    assert len(long) <= 20 and long.endswith(ELLIPSIS)
    assert clean("see https://h.example/status/AbCdEfGhIjKlMnOpQrStUv-_123 now", 200) == (
        f"see https://h.example/status/{ELLIPSIS} now"
    )


def test_bytes_decode_in_every_charset_that_comes() -> None:
    assert decode_bytes("Grüße".encode("cp1252"), "windows-1252") == "Grüße"
    assert decode_bytes("Grüße".encode(), None) == "Grüße"
    assert decode_bytes("Grüße".encode("latin-1"), None) == "Grüße"
    assert decode_bytes(b"\x81\x8d", None) == "\ufffd\ufffd"  # not even cp1252: replaced, not failed
    assert decode_bytes(b"abc", "base64") == "abc"  # a codec that is no text encoding: ignored
    assert decode_bytes("Grüße".encode("utf-7"), "utf-7") == "Grüße"


def test_ticket_numbers_are_found_in_subjects() -> None:
    assert numbers_in("AW: WG: [UHD-2026-000123] Ihre Anfrage (uhd-2026-000124)") == [
        "UHD-2026-000123", "UHD-2026-000124",
    ]  # fmt: skip
    assert numbers_in("XUHD-2026-000123 UHD-2026-12345 UHD-2026-0001234") == ["UHD-2026-001234"]
    assert numbers_in("Drucker") == []


def test_auto_detection_and_the_sender() -> None:
    raw = b"From: a@b.example\r\nSubject: x\r\nAuto-Submitted: No\r\nPrecedence: first-class\r\n\r\nhi"
    mail = parse(raw, "a@b.example", LIMITS)
    assert mail.automatic is None and mail.sender == "a@b.example" and mail.references == ()
    assert parse(raw, None, LIMITS).automatic == "null-sender"
    replied = b"From: a@b.example\r\nIn-Reply-To: <1@x>\r\nReferences: <0@x>\r\n\t<1@x> junk <2@x>\r\n\r\nhi"
    assert parse(replied, "a@b.example", LIMITS).references == ("<0@x>", "<1@x>", "<2@x>")
    assert automatic is not None


def test_people_and_sizes_in_words() -> None:
    assert actor_label("mail:anna@x.de", "de") == "anna@x.de (per E-Mail)"
    assert actor_label("mail:anna@x.de", "en") == "anna@x.de (by mail)"
    assert label("action", "mail", "de") == "E-Mail"
    assert [size_text(n, "de") for n in (512, 1536, 5 * 1024 * 1024)] == ["512 B", "1,5 kB", "5,0 MB"]
    sender = Sender("x" * 200 + "@y.de", "")
    assert len(sender.actor) == 128 and sender.requester().name == sender.address[:200]
