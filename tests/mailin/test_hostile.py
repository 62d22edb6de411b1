"""Hostile and broken mail over real sessions: header injection, huge headers, broken MIME, charsets that are not
UTF-8, 8-bit text without a charset, HTML with scripts, oversize mail. Each gets a ticket that is safe to show, or
a clear refusal that writes nothing — never a crash, never a header in a mail we send."""

from __future__ import annotations

import time

from tests.mailin.conftest import MESSAGE_MAX, Desk
from tests.mailin.sessions import MUELLER, NORD, deliver, mail, one
from tests.support.webapp import TENANT_A

EMPTY = {"tickets": 0, "history": 0, "mails": 0, "attachments": 0}
HEAD = f"From: Dr. J\u00fcrgen M\u00fcller <{MUELLER}>\r\nTo: {NORD}\r\nMessage-ID: <{{mid}}@klinikum-nord.example>\r\n"


def raw(mid: str, headers: str, body: bytes) -> bytes:
    """A mail written byte by byte (what no library would write)."""
    return HEAD.format(mid=mid).encode() + headers.encode("latin-1") + b"\r\n" + body


async def _view(desk: Desk, answer_text: str) -> object:
    number = next(w for w in answer_text.split() if w.startswith("UHD-"))
    return await desk.tickets.by_number(TENANT_A, number)


async def test_header_injection_stays_text_and_reaches_no_mail_we_send(desk: Desk) -> None:
    message = (
        b"From: =?utf-8?q?Eve=0D=0ABcc:_victim@x.example?= <eve@evil.example>\r\nTo: helpdesk@klinikum-nord.example\r\n"
        b"Subject: =?utf-8?q?Hilfe=0D=0ABcc:_victim@x.example=0D=0A=0D=0Abody?=\r\nMessage-ID: <inj@x>\r\n\r\nHi\r\n"
    )
    answer = await one(desk.port, message, mail_from="eve@evil.example")
    view = await _view(desk, answer.text)
    assert "\r" not in view.subject and "\n" not in view.subject and view.subject.startswith("Hilfe Bcc:")
    # the default policy refuses the whole From (a CR/LF in a name): the compat parser's mailbox, without a name
    assert view.requester_email == "eve@evil.example" and view.requester_name == "eve@evil.example"
    rows = await desk.sql("SELECT target, subject FROM outbox WHERE ticket_id = :t", t=view.id)
    assert [r.target for r in rows] == ["eve@evil.example"]  # the confirmation goes to the sender alone
    assert "\n" not in rows[0].subject and "victim" not in rows[0].subject
    # a display name that looks like an address: the address is the mailbox's, not the name's
    spoof = mail(sender='"juergen.mueller@klinikum-nord.example" <eve@evil.example>')
    view = await _view(desk, (await one(desk.port, spoof, mail_from="eve@evil.example")).text)
    assert view.requester_email == "eve@evil.example" and view.requester_user_id is None


async def test_huge_headers_are_refused_or_cut_in_time(desk: Desk) -> None:
    block = "".join(f"X-Filler-{i}: {'x' * 990}\r\n" for i in range(140))  # 140 KiB of header lines
    answer = await one(desk.port, raw("huge", block + "Subject: hi\r\n", b"body\r\n"))
    assert answer.code == 552 and answer.text.startswith("5.3.4") and "header" in answer.text
    assert await desk.rows() == EMPTY
    started = time.monotonic()
    # one subject of 100 KiB on one line, words the parser is slowest on; a From of thousands of mailboxes
    subject = "Subject: " + "=?utf-8?q?x?= " * 7000 + "\r\n"
    answer = await one(desk.port, raw("long-subject", subject, b"body\r\n"))
    view = await _view(desk, answer.text)
    assert view.subject.startswith("x" * 100) and len(view.subject) <= 200 and set(view.subject) == {"x"}
    crowd = raw("crowd", "Subject: hi\r\n", b"body\r\n").replace(
        b"From: ", b"From: " + b"<a@b.example> " * 8000 + b", "
    )
    assert (await one(desk.port, crowd)).code in (250, 550)
    nested = raw("parens", "Subject: hi\r\n", b"body\r\n").replace(b"From: ", b"From: " + b"(" * 1900)
    assert (await one(desk.port, nested)).code == 550  # the parser's RecursionError: no usable sender
    assert time.monotonic() - started < 20


async def test_broken_mime_still_makes_a_readable_ticket(desk: Desk) -> None:
    unterminated = raw(
        "unterminated",
        'Subject: kaputt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n',
        b"--b\r\nContent-Type: text/plain\r\n\r\nDer Text.\r\n--b\r\nContent-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n"
        b"!!!not base64 at all%%%\r\nJVBERi0=\r\n",
    )
    view = await _view(desk, (await one(desk.port, unterminated)).text)
    assert view.description == "Der Text."
    no_boundary = raw("no-boundary", "Subject: x\r\nContent-Type: multipart/mixed\r\n", b"just text\r\n")
    assert (await one(desk.port, no_boundary)).code == 250
    garbage_type = raw("type", "Subject: x\r\nContent-Type: ;;;///\r\n", b"plain enough\r\n")
    view = await _view(desk, (await one(desk.port, garbage_type)).text)
    assert view.description == "plain enough"

    def nested(levels: int, mid: str) -> bytes:
        top = 'Subject: tief\r\nContent-Type: multipart/mixed; boundary="n0"\r\n'
        inner = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
                         for i in range(1, levels))  # fmt: skip
        return raw(mid, top, b"--n0\r\n" + inner + b"Content-Type: text/plain\r\n\r\nganz unten\r\n")

    view = await _view(desk, (await one(desk.port, nested(30, "deep"))).text)
    # read down to MAX_DEPTH; what lies deeper is noted, not read
    history = await desk.sql("SELECT note FROM ticket_history WHERE ticket_id = :t AND field = :f", t=view.id,
                             f="attachments_dropped")  # fmt: skip
    assert len(history) == 1 and '"reason": "parts"' in history[0].note
    assert view.description == ""
    answer = await one(desk.port, nested(3000, "abyss"))
    assert answer.code == 554 and answer.text.startswith("5.6.0")


async def test_charsets_other_than_utf8_and_8bit_text_without_one(desk: Desk) -> None:
    cases = {
        "latin1": ("text/plain; charset=iso-8859-1", "8bit", "Käse für Frau Müller".encode("latin-1")),
        "cp1252": ("text/plain; charset=windows-1252", "8bit", "Kosten: 5 €".encode("cp1252")),
        "koi8": ("text/plain; charset=koi8-r", "8bit", "Принтер".encode("koi8-r")),
        "qp": ("text/plain; charset=iso-8859-15", "quoted-printable", b"Gr=FC=DFe =A4"),
        "unknown": ("text/plain; charset=x-klingon", "8bit", "Grüße".encode()),
        "bare-latin1": ("text/plain", "8bit", "Käse".encode("latin-1")),
        "bare-utf8": ("text/plain", "8bit", "Käse".encode()),
        "lying-utf8": ("text/plain; charset=utf-8", "8bit", "Käse".encode("latin-1")),
    }
    expected = {
        "latin1": "Käse für Frau Müller", "cp1252": "Kosten: 5 €", "koi8": "Принтер", "qp": "Grüße €",
        "unknown": "Grüße", "bare-latin1": "Käse", "bare-utf8": "Käse", "lying-utf8": "Käse",
    }  # fmt: skip
    for key, (kind, encoding, body) in cases.items():
        headers = f"Subject: {key}\r\nContent-Type: {kind}\r\nContent-Transfer-Encoding: {encoding}\r\n"
        view = await _view(desk, (await one(desk.port, raw(key, headers, body + b"\r\n"))).text)
        assert view.description == expected[key], key
    # raw 8-bit bytes in headers (no RFC 2047), and encoded words in charsets Python does not know
    headers = "Subject: Drucker in Geb\xe4ude C =?x-unknown?q?kaputt?=\r\n"
    view = await _view(desk, (await one(desk.port, raw("8bit-header", headers, b"x\r\n"))).text)
    assert view.subject == "Drucker in Gebäude C kaputt"


async def test_html_only_mail_becomes_safe_text(desk: Desk) -> None:
    html = (
        "<html><head><title>t</title><style>body{color:red}</style><script>alert('head')</script></head>"
        "<body onload=\"alert('x')\"><p>Der <b>KIS</b>-Client startet nicht.</p><script>document.cookie</script>"
        '<p>Fehler: &lt;ORA-12541&gt; &amp; Co.</p><a href="javascript:alert(1)">hier</a> '
        '<a href="https://kb.example/42">Anleitung</a><img src=x onerror=alert(2)><iframe src=//evil></iframe>'
        "</body></html>"
    )
    message = mail(text="", subject="KIS")
    message.set_content(html, subtype="html")
    view = await _view(desk, (await one(desk.port, message)).text)
    assert view.description == (
        "Der KIS-Client startet nicht.\n\nFehler: <ORA-12541> & Co.\nhier Anleitung <https://kb.example/42>"
    )
    for bad in ("alert", "script", "javascript", "cookie", "onerror", "color:red"):
        assert bad not in view.description
    # both versions: the plain text is the one kept
    both = mail(text="Der Plaintext.", html="<p>Die HTML-Fassung.</p>")
    view = await _view(desk, (await one(desk.port, both)).text)
    assert view.description == "Der Plaintext."


async def test_nul_and_control_characters_are_dropped(desk: Desk) -> None:
    headers = "Subject: a\x01b\x7fc\r\nContent-Type: text/plain; charset=utf-8\r\n"
    answer = await one(desk.port, raw("nul", headers, b"Zeile\x00eins\x1b[31m\r\nZeile zwei\r\n"))
    view = await _view(desk, answer.text)
    assert view.subject == "a b c" and view.description == "Zeileeins[31m\nZeile zwei"


async def test_oversize_mail_is_refused_and_writes_nothing(desk: Desk) -> None:
    big = mail(text="x" * (MESSAGE_MAX + 1024))
    by_size = await deliver(desk.port, big, options=(f"SIZE={len(big.as_bytes())}",))
    assert by_size[NORD].code == 552  # announced: refused at MAIL
    by_data = await deliver(desk.port, big)
    assert by_data[NORD].code == 552  # not announced: refused after DATA
    assert await desk.rows() == EMPTY
    # lines far longer than SMTP's 1,000 (an HTML mail without line breaks) are taken
    long_line = mail(text="", subject="lang")
    long_line.set_content("<p>" + "Wort " * 20_000 + "</p>", subtype="html", cte="8bit")
    assert (await one(desk.port, long_line)).code == 250
