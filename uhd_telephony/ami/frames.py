"""AMI wire framing: split the byte stream on CRLF CRLF, decode each whole frame, skip what nobody reads.

panoramisk decodes every TCP chunk with ``errors="ignore"`` before framing, which turns a Latin-1 "Müller"
into "Mller" and drops a UTF-8 character split across two reads. Here bytes are framed first, then each
complete frame is decoded as UTF-8; only when that fails is it decoded line by line, each header line as UTF-8
and only a line that is not UTF-8 as cp1252 (a superset of Latin-1 for printable text). One Latin-1 caller name
from a trunk must not turn the UTF-8 member name of the same frame into "Ben SchÃ¤fer".

Most of an Asterisk event stream is ``VarSet`` and ``Newexten`` (about 130 frames for one simple queue call,
of which the tracker needs some twenty). Frames whose event name, or whose variable/application, nobody
reads are dropped by a byte comparison before any decoding (``EventFilter``). A kept frame is not split into
all of its headers either: it is handed on as a ``headers.Frame``, which finds the few lines its reader asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass

# reading a decoded frame's headers: what the decoder hands on, and what its callers split frames with
from uhd_telephony.ami.headers import REPEATED, Fields, Frame, parse_fields

__all__ = [
    "BANNER_PREFIX",
    "MAX_FRAME",
    "REPEATED",
    "SEP",
    "EventFilter",
    "Fields",
    "Frame",
    "FrameDecoder",
    "FrameStats",
    "decode_frame",
    "parse_fields",
]

SEP = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"
MAX_FRAME = 64 * 1024
_EVENT = b"Event: "
_ACTION_ID = b"\r\nActionID: "


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


def _header_rules(needles: Iterable[bytes]) -> tuple[HeaderRule, ...]:
    """Needles ``b"\\r\\n<Header>: <value start>"`` grouped by header: (header needle, its length, value starts).

    A needle of that form is looked for in the frame's last ``<Header>`` line, found from the frame's end (where
    Asterisk puts the Variable of a VarSet and the Application of a Newexten), instead of in the whole frame;
    any other needle anywhere in the frame.
    """
    groups: dict[bytes, list[bytes]] = {}
    for needle in needles:
        colon = needle.find(b": ")
        if needle.startswith(b"\r\n") and colon > 2 and b"\r\n" not in needle[2:colon]:
            header, rest = needle[: colon + 2], needle[colon + 2 :]
        else:
            header, rest = needle, b""
        groups.setdefault(header, []).append(rest)
    return tuple((header, len(header), tuple(rests)) for header, rests in groups.items())


# a filter rule: None keeps every frame of the event; one (header needle, its length, value starts) or a list of them
# keeps those frames whose last such header starts so
HeaderRule = tuple[bytes, int, tuple[bytes, ...]]
Rule = HeaderRule | list[HeaderRule] | None


class EventFilter:
    """Which event frames are worth decoding: by name, and for some names by a header line in the frame's bytes.

    ``needles`` name, per event, the header lines that make a frame of it worth reading, as bytes from their
    CRLF on: ``{"VarSet": (b"\\r\\nVariable: UHD_",)}`` keeps the VarSets whose Variable starts with ``UHD_``.
    """

    __slots__ = ("_lines", "hot", "names_of")

    def __init__(self, keep: Iterable[str], needles: Mapping[str, Iterable[bytes]] | None = None) -> None:
        lines: dict[bytes, Rule] = {b"Event: " + name.encode(): None for name in keep}
        for name, items in (needles or {}).items():
            rules = _header_rules(items)
            lines[b"Event: " + name.encode()] = rules[0] if len(rules) == 1 else list(rules)
        self._lines = lines
        self.names_of = {line: line[7:].decode() for line in lines}  # a kept frame's first line -> its event name
        # the first event of ``needles`` (VarSet: more than half of all frames) is checked by its prefix before any
        # lookup of the first line
        hot = next(iter(needles or {}), None)
        self.hot = (b"Event: " + hot.encode() + b"\r\n", lines[b"Event: " + hot.encode()]) if hot else None

    def names(self) -> set[str]:
        return {line[7:].decode() for line in self._lines}

    @property
    def lines(self) -> Mapping[bytes, Rule]:
        """A frame's first line (``b"Event: VarSet"``) -> its rule; what ``FrameDecoder`` applies inline."""
        return self._lines

    def wants(self, raw: bytes) -> bool:
        """Whether an ``Event:`` frame (raw bytes) passes. Never decodes."""
        end = raw.find(b"\r\n")
        first = raw[:end] if end >= 0 else raw
        if first not in self._lines:
            return False
        rule = self._lines[first]
        return rule is None or _passes(raw, rule)


def _passes(raw: bytes, rule: HeaderRule | list[HeaderRule]) -> bool:
    """Whether a frame of an event with header rules passes them."""
    for header, length, starts in rule if isinstance(rule, list) else (rule,):
        at = raw.rfind(header)
        if at >= 0 and raw.startswith(starts, at + length):
            return True
    return False


class _Unfiltered(dict[bytes, Rule]):
    """The lines table of no filter: every event frame is read."""

    def get(self, key: bytes, default: object = None) -> Rule:
        return None


_UNFILTERED = _Unfiltered()
_NO_NAMES: dict[bytes, str] = {}
# an ``awaiting`` that is never empty: every frame is looked at for an ActionID
_ALWAYS = (None,)
_UNLISTED: HeaderRule = (b"", 0, ())  # a first line no rule names: not an event frame, or an event nobody reads


class FrameDecoder:
    """Feed it bytes as they arrive; it calls back with each complete, wanted frame.

    ``on_event(frame)`` receives event frames (``Event:`` first, no ``ActionID``) as a ``Frame``.
    ``on_response(text)`` receives every other frame (action responses and the list events that answer an
    action, which carry its ``ActionID``) as decoded text, for panoramisk's action bookkeeping.

    ``awaiting``: the actions waiting for a reply (the protocol's pending actions), when known. While it is
    empty, no list event can answer anything, so an event frame the filter drops is dropped without looking
    for an ``ActionID`` in it; without it every frame is looked at.
    """

    __slots__ = (
        "_awaiting",
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
        on_event: Callable[[Frame], None],
        on_response: Callable[[str], None] | None = None,
        event_filter: EventFilter | None = None,
        max_frame: int = MAX_FRAME,
        awaiting: Sized | None = None,
    ) -> None:
        self._awaiting = awaiting
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
        rest = self._buf
        if rest and self.banner_checked and not self._discarding and SEP not in rest[-3:] + data[:3]:
            # the frame the last read left unfinished goes on in this one: prepend it to its first part only (not
            # a copy of the whole read)
            parts = data.split(SEP)
            parts[0] = rest + parts[0]
        else:
            buf = rest + data if rest else data
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
                stats.frames += 1  # the oversized frame ends here: a frame, as it is when read in one piece
            parts = buf.split(SEP)
        rest = parts.pop()
        if len(rest) > self._max:
            stats.oversized += 1
            self._discarding = True
            rest = rest[-3:]
        self._buf = rest
        stats.frames += len(parts)
        # the loop below runs for every frame of the stream: the filter is applied inline, no call per frame
        lines = self._filter.lines if self._filter is not None else _UNFILTERED
        names = self._filter.names_of if self._filter is not None else _NO_NAMES
        # the hot event (VarSet) with one header rule: checked first, in the fewest steps; without one, SEP, which
        # no frame starts with
        hot, hot_rule = (self._filter.hot if self._filter is not None else None) or (SEP, None)
        if type(hot_rule) is not tuple:
            hot, hot_rule = SEP, (SEP, 0, (SEP,))
        hot_header, hot_length, hot_starts = hot_rule
        hot_first = hot[:-2]
        awaiting = self._awaiting if self._awaiting is not None else _ALWAYS
        on_event = self._on_event
        limit = self._max
        skipped = 0
        try:
            for raw in parts:
                if raw.startswith(hot):
                    at = raw.rfind(hot_header)
                    if (at < 0 or not raw.startswith(hot_starts, at + hot_length)) and len(raw) <= limit:
                        if awaiting and _ACTION_ID in raw:
                            self._other(raw)  # a list event answering an action goes to responses
                        else:
                            skipped += 1
                        continue
                    first, rule = hot_first, None  # wanted, or oversized (counted below)
                else:
                    end = raw.find(b"\r\n")
                    first = raw[:end] if end >= 0 else raw
                    rule = lines.get(first, _UNLISTED)
                if len(raw) > limit:
                    stats.oversized += 1
                    continue
                if rule is not None:
                    if rule is _UNLISTED:
                        if raw[:7] != _EVENT:
                            self._other(raw)  # a response, or no AMI at all
                            continue
                        wanted = False
                    elif type(rule) is tuple:
                        at = raw.rfind(rule[0])
                        wanted = at >= 0 and raw.startswith(rule[2], at + rule[1])
                    else:
                        wanted = _passes(raw, rule)
                    if not wanted:
                        # a list event answering an action goes to responses whatever its name
                        if awaiting and _ACTION_ID in raw:
                            self._other(raw)
                        else:
                            skipped += 1
                        continue
                if _ACTION_ID in raw or raw[:7] != _EVENT:
                    self._other(raw)
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text, _ = decode_frame(raw)
                    stats.fallback_decoded += 1
                name = names.get(first)
                if name is None:  # no filter: any event's name
                    end = text.find("\r\n")
                    name = text[7:end] if end >= 0 else text[7:]
                    if not name:
                        stats.malformed += 1
                        continue
                stats.events += 1
                on_event(Frame(text, name))
        finally:
            stats.skipped += skipped

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
