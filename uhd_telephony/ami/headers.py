"""A decoded AMI frame's headers, read where they are needed instead of all split into a dict.

An AgentConnect has 45 header lines, a VarSet some 25; the call tracker reads about ten of a frame. Splitting
every line of every frame the filter keeps cost more than everything the call path does with it (issue 17 item
5). ``Frame`` is a read-only mapping that finds the line asked for; ``Headers`` finds several in one pass;
``Layout`` reads a frame laid out exactly as Asterisk writes that event's frames in one regex match, and any
other frame header by header. All three answer as ``parse_fields`` does: a header given twice has its last
value, ``ChanVariable`` & co. are joined by newlines, ``Key:`` without its space is ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# headers that Asterisk repeats within one frame (manager.conf channelvars=...)
REPEATED = frozenset({"ChanVariable", "DestChanVariable"})

# one frame's headers: a ``Frame`` from the decoder, a plain dict in tests and from responses
Fields = Mapping[str, str]


def parse_fields(text: str) -> dict[str, str]:
    """Split a decoded frame into its headers; repeated headers are joined with newlines."""
    fields: dict[str, str] = {}
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


# "\r\n<key>: " for each key asked of a Frame; "" for a key no header line can have (parse_fields decides those)
_NEEDLES: dict[Any, str] = {}
_NEEDLES_MAX = 4096


def _needle(key: Any) -> str:
    if not isinstance(key, str) or not key or ": " in key or "\r\n" in key:
        needle = ""
    else:
        needle = "\r\n" + key + ": "
    if len(_NEEDLES) < _NEEDLES_MAX:
        _NEEDLES[key] = needle
    return needle


class Frame(Mapping[str, str]):
    """One decoded event frame as a read-only mapping of its headers, each found in the text when asked for.

    Answers as ``parse_fields(text)`` does: a header given twice has its last value, repeated headers
    (``ChanVariable``) are joined by newlines, ``Key:`` without its space is ``""``. Iterating, ``len`` and ``==``
    split the whole frame once (tests, logs); ``get`` and ``[]`` only look for the one line, ``Headers`` for
    the few a reader needs, in one pass. ``name`` is the event's name, from the frame's first line; ``text``
    the decoded frame with a CRLF before its first line and after its last.
    """

    __slots__ = ("_fields", "name", "text")

    def __init__(self, text: str, name: str | None = None) -> None:
        # every header line between two CRLFs, the first and the last too: "\r\n<key>: " finds any of them
        self.text = f"\r\n{text}\r\n"
        self._fields: dict[str, str] | None = None
        if name is None:
            first = text.partition("\r\n")[0]
            name = first[7:] if first.startswith("Event: ") else ""
        self.name = name

    def get(self, key: Any, default: Any = None) -> Any:
        needle = _NEEDLES.get(key)
        if needle is None:
            needle = _needle(key)
        text = self.text
        if not needle or key in REPEATED:
            return self._joined(needle, default) if needle else self.fields().get(key, default)
        at = text.rfind(needle)
        if at < 0:
            return "" if text.rfind(needle[:-1] + "\r\n") >= 0 else default
        at += len(needle)
        return text[at : text.find("\r\n", at)]

    def _joined(self, needle: str, default: Any) -> Any:
        """A repeated header's values joined by newlines, in the frame's order."""
        text = self.text
        if needle[:-1] + "\r\n" in text:  # one of them without its space: parse_fields knows the order
            return self.fields().get(needle[2:-2], default)
        values = []
        at = text.find(needle)
        while at >= 0:
            at += len(needle)
            end = text.find("\r\n", at)
            values.append(text[at:end])
            at = text.find(needle, end)
        return "\n".join(values) if values else default

    def __getitem__(self, key: str) -> str:
        value: str | None = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def fields(self) -> dict[str, str]:
        """Every header (``parse_fields``), split once."""
        if self._fields is None:
            self._fields = parse_fields(self.text)
        return self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields())

    def __len__(self) -> int:
        return len(self.fields())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            return self.fields() == other.fields()
        if isinstance(other, Mapping):
            return self.fields() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping: equal to a dict, so unhashable like one

    def __repr__(self) -> str:
        return f"Frame({self.fields()!r})"


# a value in a frame laid out as expected: up to the CRLF that ends its line (a bare LF is part of it; a frame with a
# bare CR is read header by header). A single excluded character: sre scans it several times faster than a class.
_LINE = "[^\r]*"
# a header's value: everything up to the CRLF that ends its line (a bare CR or LF inside is part of it)
_VALUE = r"([^\r]*(?:\r(?!\n)[^\r]*)*)"


class Headers:
    """Some headers of a frame, found in one pass over its text: what a typed event reads of a kept frame.

    ``of(frame)`` gives a ``dict`` of those of ``keys`` the frame has (as ``parse_fields`` would: the last of a
    header given twice, ``Key:`` without its space as ``""``); a plain mapping is given back as it is.
    """

    __slots__ = ("_pattern",)

    def __init__(self, *keys: str) -> None:
        if not keys or any(not key or ": " in key or "\r" in key or "\n" in key or key in REPEATED for key in keys):
            raise ValueError(f"not a set of single header names: {keys!r}")
        names = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
        self._pattern = re.compile(f"\r\n({names})(?:: {_VALUE}|:(?=\r\n))")

    def of(self, fields: Fields) -> Mapping[str, str]:
        if type(fields) is Frame:
            return dict(self._pattern.findall(fields.text))
        return fields


class Layout:
    """Some headers of a frame, read in one match where the frame is laid out exactly so (these lines in this order,
    nothing else): how Asterisk writes the frames of an event every time. ``read(fields)`` gives the values of
    the headers read, in order; a frame laid out otherwise, or a plain mapping, gives the same values header by
    header (``""`` for a missing header). ``extra`` headers are not in the layout: ``""`` from the match, looked
    for otherwise.

    ``lines`` after the Event line: ``"Key"`` a header, ``"=Key"`` one whose value is read, ``"*Key"`` a run of a
    repeated header, read as its lines (``run_values`` splits them), ``"~Key"`` a run not read. A match needs
    every line in its place, so what it reads is what ``parse_fields`` reads (each header once; a value with a
    bare CR, a ``Key:`` without its space, a line more or less: header by header).
    """

    __slots__ = ("_extra", "_headers", "_keys", "_pattern")

    def __init__(self, *lines: str, extra: tuple[str, ...] = ()) -> None:
        parts = [f"\r\nEvent: {_LINE}"]
        keys: list[str] = []
        for line in lines:
            kind, key = (line[0], line[1:]) if line[0] in ("=", "*", "~") else ("", line)
            needle = re.escape(f"\r\n{key}: ")
            if (kind in ("*", "~")) != (key in REPEATED):
                raise ValueError(f"{line!r}: a run is of a repeated header, a repeated header is a run")
            if kind == "=":
                parts.append(f"{needle}({_LINE})")
            elif kind == "*":
                parts.append(f"((?:{needle}{_LINE})*)")
            elif kind == "~":
                parts.append(f"(?:{needle}{_LINE})*")
            else:
                parts.append(f"{needle}{_LINE}")
            if kind in ("=", "*"):
                keys.append(key)
        if set(extra) & {line.lstrip("=*~") for line in lines}:
            raise ValueError(f"extra headers {extra!r} are in the layout: read them there")
        self._pattern = re.compile("".join(parts) + "\r\n\\Z")
        self._extra = ("",) * len(extra)
        self._keys = (*keys, *extra)
        self._headers = Headers(*(key for key in self._keys if key not in REPEATED))

    def read(self, fields: Fields) -> Sequence[str]:
        if type(fields) is Frame:
            match = self._pattern.match(fields.text)
            if match is not None:
                return match.groups() + self._extra if self._extra else match.groups()
        found = self._headers.of(fields)
        return [_run(fields, key) if key in REPEATED else found.get(key, "") for key in self._keys]

    def matches(self, fields: Fields) -> bool:
        """Whether ``fields`` is a frame laid out so (read in one match)."""
        return type(fields) is Frame and self._pattern.match(fields.text) is not None


def _run(fields: Fields, key: str) -> str:
    """A repeated header's values as the run of lines a frame has them in: what ``Layout`` reads of a run."""
    return "".join(f"\r\n{key}: {value}" for value in repeated(fields, key))


def run_values(run: str, key: str) -> list[str]:
    """The values of a run of ``key`` header lines (``Layout.read``'s value of ``"*Key"``)."""
    return run.split(f"\r\n{key}: ")[1:]


_REPEATED_PATTERNS = {key: re.compile(f"\r\n{key}(?:: {_VALUE}|:(?=\r\n))") for key in REPEATED}


def repeated(fields: Fields, key: str) -> list[str]:
    """Every value of a header Asterisk repeats (``ChanVariable``), in order; joined by newlines in a plain
    mapping (``parse_fields``, ``protocol.to_message``)."""
    if type(fields) is Frame:
        return _REPEATED_PATTERNS[key].findall(fields.text)
    value = fields.get(key)
    return value.split("\n") if value else []
