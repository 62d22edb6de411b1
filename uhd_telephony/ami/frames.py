"""AMI wire framing: split the byte stream on CRLF CRLF, decode each whole frame, skip what nobody reads.

panoramisk decodes every TCP chunk with ``errors="ignore"`` before framing, which turns a Latin-1 "Müller"
into "Mller" and drops a UTF-8 character split across two reads. Here bytes are framed first, then each
complete frame is decoded as UTF-8; only when that fails is it decoded line by line, each header line as UTF-8
and only a line that is not UTF-8 as cp1252 (a superset of Latin-1 for printable text). One Latin-1 caller name
from a trunk must not turn the UTF-8 member name of the same frame into "Ben SchÃ¤fer".

Most of an Asterisk event stream is ``VarSet`` and ``Newexten`` (about 170 frames for one simple queue call,
of which the tracker needs some twenty). Frames whose event name, or whose variable/application, nobody
reads are dropped by a byte comparison before any decoding, which is what makes this path faster than a
plain ``readuntil`` + ``dict`` split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

SEP = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"
MAX_FRAME = 64 * 1024
# headers that Asterisk repeats within one frame (manager.conf channelvars=...)
REPEATED = frozenset({"ChanVariable", "DestChanVariable"})

Fields = dict[str, str]


@dataclass(slots=True)
class FrameStats:
    """Counters of the decoder, exported as metrics and shown by ``replay --summary``."""

    frames: int = 0
    events: int = 0
    responses: int = 0
    skipped: int = 0
    malformed: int = 0
    oversized: int = 0
    fallback_decoded: int = 0
    bytes: int = 0


def decode_frame(raw: bytes) -> tuple[str, bool]:
    """Decode one frame: UTF-8 as a whole (nearly always), else each line on its own, UTF-8 or else cp1252.

    Returns the text and whether the fallback was used for any line.
    """
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    lines: list[str] = []
    for line in raw.split(b"\r\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("cp1252", "replace"))
    return "\r\n".join(lines), True


def parse_fields(text: str) -> Fields:
    """Split a decoded frame into its headers; repeated headers are joined with newlines."""
    fields: Fields = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")  # one call instead of find and two slices: replays are hot here
        if not sep or not key:
            if len(line) > 1 and line.endswith(":"):
                # an empty value whose trailing space was trimmed by some middle box
                key, value = line[:-1], ""
            else:
                continue
        if key in fields and key in REPEATED:
            fields[key] = fields[key] + "\n" + value
        else:
            fields[key] = value
    return fields


class EventFilter:
    """Which event frames are worth decoding: by name, and for some names by a needle in the frame's bytes."""

    __slots__ = ("_rules",)

    def __init__(self, keep: Iterable[str], needles: Mapping[str, Iterable[bytes]] | None = None) -> None:
        rules: dict[bytes, tuple[bytes, ...] | None] = {name.encode(): None for name in keep}
        for name, items in (needles or {}).items():
            rules[name.encode()] = tuple(items)
        self._rules = rules

    def names(self) -> set[str]:
        return {name.decode() for name in self._rules}

    def wants(self, raw: bytes) -> bool:
        """Whether an ``Event:`` frame (raw bytes) passes. Never decodes."""
        end = raw.find(b"\r\n", 7)
        name = raw[7:end] if end > 0 else raw[7:]
        rule = self._rules.get(name, False)
        if rule is None:
            return True
        if rule is False:
            return False
        for needle in rule:  # type: ignore[union-attr]
            if needle in raw:
                return True
        return False


class FrameDecoder:
    """Feed it bytes as they arrive; it calls back with each complete, wanted frame.

    ``on_event(fields)`` receives event frames (``Event:`` first, no ``ActionID``), already split into headers.
    ``on_response(text)`` receives every other frame (action responses and the list events that answer an
    action, which carry its ``ActionID``) as decoded text, for panoramisk's action bookkeeping.
    """

    __slots__ = (
        "_buf",
        "_discarding",
        "_filter",
        "_max",
        "_on_event",
        "_on_response",
        "banner",
        "banner_checked",
        "stats",
    )

    def __init__(
        self,
        on_event: Callable[[Fields], None],
        on_response: Callable[[str], None] | None = None,
        event_filter: EventFilter | None = None,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self._buf = b""
        self._discarding = False
        self._filter = event_filter
        self._max = max_frame
        self._on_event = on_event
        self._on_response = on_response
        self.banner: str | None = None
        self.banner_checked = False
        self.stats = FrameStats()

    def reset(self) -> None:
        """Forget a partial frame and the banner: a new connection starts a new stream."""
        self._buf = b""
        self._discarding = False
        self.banner = None
        self.banner_checked = False

    def feed(self, data: bytes) -> None:
        stats = self.stats
        stats.bytes += len(data)
        buf = self._buf + data if self._buf else data
        if not self.banner_checked:
            buf = self._take_banner(buf)
            if not self.banner_checked:
                self._buf = buf
                return
        if self._discarding:
            # inside an oversized frame: drop everything up to the next frame end
            end = buf.find(SEP)
            if end < 0:
                self._buf = buf[-3:]
                return
            buf = buf[end + 4 :]
            self._discarding = False
        parts = buf.split(SEP)
        rest = parts.pop()
        if len(rest) > self._max:
            stats.oversized += 1
            self._discarding = True
            rest = rest[-3:]
        self._buf = rest
        wanted = self._filter
        on_event = self._on_event
        for raw in parts:
            stats.frames += 1
            if len(raw) > self._max:
                stats.oversized += 1
                continue
            if raw[:7] == b"Event: " and b"\r\nActionID: " not in raw:
                if wanted is not None and not wanted.wants(raw):
                    stats.skipped += 1
                    continue
                text, fallback = decode_frame(raw)
                if fallback:
                    stats.fallback_decoded += 1
                fields = parse_fields(text)
                if not fields.get("Event"):
                    stats.malformed += 1
                    continue
                stats.events += 1
                on_event(fields)
            else:
                self._other(raw)

    def _other(self, raw: bytes) -> None:
        stats = self.stats
        stripped = raw.strip(b"\r\n")
        if not stripped:
            return
        text, fallback = decode_frame(stripped)
        if fallback:
            stats.fallback_decoded += 1
        head = text[:9]
        if head.startswith("Response:") or head.startswith("Event: "):
            stats.responses += 1
            if self._on_response is not None:
                self._on_response(text)
        else:
            stats.malformed += 1

    def _take_banner(self, buf: bytes) -> bytes:
        """The greeting line ``Asterisk Call Manager/x.y.z`` ends in a single CRLF, not a blank line."""
        if len(buf) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(buf):
            return buf  # too early to tell
        if buf.startswith(BANNER_PREFIX):
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 256:  # no line end in sight: not a banner after all
                    self.banner_checked = True
                return buf
            self.banner = buf[:end].decode("ascii", "replace")
            self.banner_checked = True
            return buf[end + 2 :]
        self.banner_checked = True  # a stream without greeting (a capture cut from the middle)
        return buf
