"""A mail's MIME parts: the text a ticket keeps (text/plain preferred, else HTML as text) and the attachments.

Bounded against hostile structure: at most ``MAX_PARTS`` parts read and ``MAX_DEPTH`` levels of nesting, every
header of a part cut to ``HEADER_LIMIT`` characters before the email package parses it (its parser takes seconds
for some long ones, or raises). An attachment larger than the limit, or beyond the mail's total, is not kept: it
comes back as ``Dropped`` for the ticket to say so.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from uhd_telephony.mailin.models import CONTENT_TYPE_LENGTH, FILENAME_LENGTH
from uhd_telephony.mailin.text import cut, decode_bytes, html_to_text, one_line, unmangle

MAX_PARTS = 200
MAX_DEPTH = 20
HEADER_LIMIT = 2000
DEFAULT_TYPE = "application/octet-stream"
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*\u202a-\u202e\u2066-\u2069]')

Reason = Literal["attachment", "mail", "parts"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment to store: a safe file name, its declared content type, its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Dropped:
    """An attachment not stored: larger than ``limit`` per attachment, over ``limit`` for the mail, or one of the
    parts beyond ``MAX_PARTS``/``MAX_DEPTH`` (``size`` 0: not read)."""

    filename: str
    size: int
    reason: Reason
    limit: int

    def to_dict(self) -> dict[str, object]:
        return {"filename": self.filename, "size": self.size, "reason": self.reason, "limit": self.limit}


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest attachment kept, and the most all of one mail's attachments may have together."""

    attachment: int
    total: int


@dataclass
class Contents:
    """What the parts hold: the text (plain parts, else HTML ones), attachments kept and dropped."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    parts: int = 0

    @property
    def text(self) -> str:
        if self.plain:
            return "\n\n".join(self.plain)
        return "\n\n".join(html_to_text(h) for h in self.html)


def clamp_headers(part: Message) -> None:
    """Make ``part``'s headers safe to parse: every value cut to ``HEADER_LIMIT`` characters (unfolded), raw 8-bit
    bytes in it (a ``Müller`` sent without RFC 2047) read as UTF-8 or Windows-1252 instead of left as escapes."""
    items = list(part.raw_items())
    if all(len(value) <= HEADER_LIMIT and value == unmangle(value) for _, value in items):
        return
    for name in {name for name, _ in items}:
        del part[name]
    for name, value in items:
        short = cut(unmangle(str(value)).replace("\r", "").replace("\n", ""), HEADER_LIMIT)
        try:
            part[name] = short
        except Exception:  # the email package's header parser fails on some hostile values: drop the header
            continue


def safe_filename(name: str | None, content_type: str, number: int) -> str:
    """A file name that is safe on every system and in a Content-Disposition: no path, no control or reserved
    characters, no leading dots, at most ``FILENAME_LENGTH`` characters (the extension kept); a part without a
    name gets ``attachment-<n>`` with the extension of its type."""
    text = unicodedata.normalize("NFC", one_line(name or "", 1000))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_NAME.sub("_", text).strip().lstrip(".").strip()
    if not text:
        text = f"attachment-{number}{mimetypes.guess_extension(content_type) or '.bin'}"
    if len(text) > FILENAME_LENGTH:
        stem, dot, ext = text.rpartition(".")
        ext = ext if dot and 0 < len(ext) <= 10 else ""
        text = (stem if ext else text)[: FILENAME_LENGTH - len(ext) - 1].rstrip() + (f".{ext}" if ext else "")
    return text


def content_type_of(part: Message) -> str:
    """The part's declared type when it is a well-formed ``type/subtype``, else ``application/octet-stream``."""
    try:
        declared = part.get_content_type().lower()
    except Exception:
        return DEFAULT_TYPE
    return declared if _TYPE.match(declared) and len(declared) <= CONTENT_TYPE_LENGTH else DEFAULT_TYPE


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:
        return None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: what the email package could not decode at all
        return b""
    return data if isinstance(data, bytes) else b""


class Walker:
    """One pass over a mail's parts, collecting its text and its attachments within ``limits``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.found = Contents()
        self._stored = 0

    def walk(self, part: Message, *, depth: int = 0, text: bool = True) -> Contents:
        """Read ``part`` and what it holds; ``text``: its text parts are the mail's text (not an alternative
        left aside, whose attachments, e.g. the pictures of the HTML version, are still kept)."""
        self.found.parts += 1
        if self.found.parts > MAX_PARTS or depth > MAX_DEPTH:
            self._drop(_filename(part), 0, "parts", MAX_PARTS)
            return self.found
        clamp_headers(part)
        kind = content_type_of(part)
        if part.is_multipart() and not kind.startswith("message/"):
            self._container(part, kind, depth, text)
        elif part.is_multipart():
            self._forwarded(part)
        else:
            self._leaf(part, kind, text)
        return self.found

    def _container(self, part: Message, kind: str, depth: int, text: bool) -> None:
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        chosen = _alternative(children) if kind == "multipart/alternative" else None
        for child in children:
            self.walk(child, depth=depth + 1, text=text and (chosen is None or child is chosen))

    def _forwarded(self, part: Message) -> None:
        inner = part.get_payload(0) if part.is_multipart() else None
        try:
            data = inner.as_bytes() if isinstance(inner, Message) else _payload(part)
        except Exception:
            data = b""
        self._keep(_filename(part) or "forwarded.eml", "message/rfc822", data)

    def _leaf(self, part: Message, kind: str, text: bool) -> None:
        name = _filename(part)
        if text and not name and _disposition(part) != "attachment" and kind in ("text/plain", "text/html"):
            decoded = decode_bytes(_payload(part), _charset(part))
            (self.found.plain if kind == "text/plain" else self.found.html).append(decoded)
            return
        if not name and _disposition(part) != "attachment" and kind in ("text/plain", "text/html"):
            return  # the other version of an alternative: the same words again
        data = _payload(part)
        if data:
            self._keep(name, kind, data)

    def _keep(self, name: str | None, content_type: str, data: bytes) -> None:
        number = len(self.found.attachments) + len(self.found.dropped) + 1
        filename = safe_filename(name, content_type, number)
        if len(data) > self.limits.attachment:
            self._drop(filename, len(data), "attachment", self.limits.attachment)
        elif self._stored + len(data) > self.limits.total:
            self._drop(filename, len(data), "mail", self.limits.total)
        else:
            self._stored += len(data)
            self.found.attachments.append(Attachment(filename, content_type, data))

    def _drop(self, name: str | None, size: int, reason: Reason, limit: int) -> None:
        number = len(self.found.attachments) + len(self.found.dropped) + 1
        filename = safe_filename(name, DEFAULT_TYPE, number) if name else ""
        if reason == "parts" and self.found.dropped and self.found.dropped[-1].reason == "parts":
            return  # one note for everything beyond the limit
        self.found.dropped.append(Dropped(filename, size, reason, limit))


def _alternative(children: list[Message]) -> Message | None:
    """The version of a multipart/alternative whose text the ticket keeps: plain text, else the richest other."""
    for child in children:
        if content_type_of(child) == "text/plain" and not _filename(child):
            return child
    return children[-1] if children else None
