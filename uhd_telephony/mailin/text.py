"""A mail's words as a ticket keeps them: bytes in any charset to text, HTML to plain text, one-line fields, the
quoted thread cut from a reply.

Everything here is pure and bounded: what comes out is plain text (never HTML: the pages show it as text), without
NUL or control characters (PostgreSQL refuses a NUL, a line break in a subject would be a header in a mail we
send), within the ticket's limits.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

ELLIPSIS = "[\u2026]"  # where a text was cut: the same in every language
HTML_LIMIT = 2 * 1024 * 1024  # characters of HTML read: the text kept is far shorter anyway

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_SURROGATES = re.compile(r"[\udc80-\udcff]")
# a status link's token (tickets.notify): quoted in a reply it must not become a comment anyone can read
_STATUS_TOKEN = re.compile(r"(/status/)[A-Za-z0-9_-]{16,}")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text: in its declared charset when that decodes cleanly, else UTF-8, else Windows-1252 (what an
    8-bit mail without a charset usually is: Latin-1 with the euro sign), never failing."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(codecs.lookup(candidate).name)
        except (LookupError, UnicodeError, ValueError):
            continue
    return data.decode("cp1252", errors="replace")


def unmangle(text: str) -> str:
    """Text the email package left with surrogate escapes (8-bit bytes where ASCII was due: a raw ``Müller`` in a
    header) as the characters they were."""
    if not _SURROGATES.search(text):
        return text
    return decode_bytes(text.encode("utf-8", errors="surrogateescape"), None)


def cut(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters at a blank where there is one (an encoded word is not cut in half)."""
    if len(value) <= limit:
        return value
    blank = value.rfind(" ", limit // 2, limit + 1)
    return value[: blank if blank > 0 else limit]


def one_line(text: str, limit: int) -> str:
    """A header's text as one line: no control characters or line breaks, blanks collapsed, at most ``limit``."""
    return " ".join(_CONTROL.sub(" ", unmangle(text)).split())[:limit]


def clean(text: str, limit: int) -> str:
    """A body's text as stored: LF line ends, no control characters, blanks at line ends and runs of empty lines
    gone, status-link tokens blanked, at most ``limit`` characters (cut ones end in ``[…]``)."""
    text = unmangle(text).replace("\r\n", "\n").replace("\r", "\n")
    text = _STATUS_TOKEN.sub(r"\1" + ELLIPSIS, _CONTROL.sub("", text))
    lines = [line.replace("\u00a0", " ").rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    text = "\n".join(out).strip()
    if len(text) > limit:
        text = text[: limit - len(ELLIPSIS) - 1].rstrip() + "\n" + ELLIPSIS
    return text


class _HtmlText(HTMLParser):
    """HTML to the text a reader sees: blocks on lines of their own, scripts, styles and head left out, a link's
    address after its text (when that is not the address already)."""

    SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "object", "iframe"})
    BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "table", "blockquote", "pre", "hr", "section", "article", "header",
         "footer", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "address", "form"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.pre = 0
        self.links: list[tuple[str | None, int]] = []  # open <a>: its address, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n- " if tag == "li" else "\n")
            self.pre += tag == "pre"
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href if _LINK.match(href) else None, len(self.parts)))
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK and tag != "li":  # the next item starts its own line
            self.parts.append("\n")
            self.pre = max(0, self.pre - (tag == "pre"))
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.parts[start:]).strip()
            if href and not self.skipping and shown not in (href, href.removeprefix("mailto:")):
                self.parts.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data if self.pre else _WHITESPACE.sub(" ", data))


_LINK = re.compile(r"^(https?|mailto):", re.I)
_WHITESPACE = re.compile(r"\s+")


def html_to_text(html: str) -> str:
    """The visible text of an HTML mail (scripts and styles dropped), for ``clean`` to finish."""
    parser = _HtmlText()
    parser.feed(html[:HTML_LIMIT])
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))


# where the quoted thread starts in a reply: the separators of the usual mail programs (German and English)
_QUOTE_HEADS = (
    re.compile(r"^-{2,}\s*(original message|urspr\u00fcngliche nachricht|forwarded message"
               r"|weitergeleitete nachricht)\s*-{2,}$", re.I),
    re.compile(r"^_{8,}$"),
)  # fmt: skip
_ATTRIBUTION = re.compile(r"^(am|on)\s.{4,300}(schrieb|wrote)[^:\n]{0,200}:$", re.I)
_ATTRIBUTION_START = re.compile(r"^(am|on)\s", re.I)
_ATTRIBUTION_END = re.compile(r"(schrieb|wrote)[^:\n]{0,200}:$", re.I)
_OUTLOOK_FROM = re.compile(r"^\*?(von|from):\*?\s", re.I)
_OUTLOOK_NEXT = re.compile(r"^\*?(gesendet|sent|an|to|datum|date|betreff|subject):\*?\s", re.I)


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if any(head.match(stripped) for head in _QUOTE_HEADS) or _ATTRIBUTION.match(stripped):
            return i
        if _ATTRIBUTION_START.match(stripped) and i + 1 < len(lines):
            if _ATTRIBUTION_END.search(lines[i + 1].strip()) and len(stripped) < 300:
                return i
        if _OUTLOOK_FROM.match(stripped) and any(_OUTLOOK_NEXT.match(n.strip()) for n in lines[i + 1 : i + 4]):
            return i
    return None


def reply_text(text: str) -> str:
    """A reply without the thread it quotes (the separator of the mail program, then ``>`` lines at its end): what
    the sender wrote now. The whole text when that would leave nothing."""
    lines = text.split("\n")
    start = _quote_start(lines)
    if start is not None:
        lines = lines[:start]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    kept = "\n".join(lines).strip()
    return kept or text
