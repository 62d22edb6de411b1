"""LDAP entries to directory users, by a source's attribute map: pure, so it runs in the fetching thread.

Each value is read as the import reads a file (UTF-8, else Windows-1252), cleaned of control characters and
line breaks, and cut to the column's length; a number goes through the import's own validation and
normalisation (``rows.PhoneIn``), the other fields through ``rows.RecordIn``. What a directory of thousands of
accounts always has is no reason to stop: an entry is skipped with its reason, a single bad value is dropped with
its reason, and the sync reports both.

- skipped: ``no_key`` (the key attribute is missing), ``invalid_key`` (longer than 128 characters),
  ``duplicate_key`` (a second entry with the same key), ``no_name``, ``no_number`` (no number at all, with
  ``require_number``), ``bad_number`` (numbers, none of which parses), ``invalid`` (what RecordIn refuses);
- dropped from a user kept: ``number`` (one that does not parse), ``email``, ``department``, ``location``;
- a disabled account (the source's ``disabled`` rule) is no user: the sync deactivates it like one gone.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from uhd_telephony.ami.events import clean_text
from uhd_telephony.ami.frames import decode_frame
from uhd_telephony.directory.ldap_client import LdapEntry
from uhd_telephony.directory.ldap_config import LdapSource
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, User
from uhd_telephony.directory.rows import PhoneIn, RecordIn

MAX_ISSUES = 50  # the issues a result lists (every one is counted)
MAX_KEY = 128  # directory_users.external_id
MAX_TEXT = 200  # name, department, location
MAX_EMAIL = 254
MAX_SHOWN = 80  # of a value quoted in an issue
# binary GUIDs (16 bytes, the first three fields little-endian), written as AD's tools write them
_BINARY_GUIDS = frozenset({"objectguid", "ms-ds-consistencyguid"})


@dataclass(frozen=True, slots=True)
class Issue:
    """An entry skipped or a value dropped: whose (DN), why, and the value concerned."""

    dn: str
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"dn": self.dn, "reason": self.reason, "detail": self.detail}


@dataclass(slots=True)
class Reading:
    """What a search's entries come to: the users to store, and what was left out and why."""

    entries: int = 0
    users: list[User] = field(default_factory=list)
    disabled: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)

    def note(self, counts: Counter[str], dn: str, reason: str, detail: str = "") -> None:
        counts[reason] += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(shown(dn, 300), reason, detail))


def text_of(raw: bytes, limit: int = MAX_TEXT) -> str:
    """A value as text: UTF-8, else Windows-1252; without control characters; at most ``limit`` characters."""
    text, _ = decode_frame(raw)
    return clean_text(text)[:limit].strip()


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """A value quoted in an issue: cleaned and cut."""
    value = clean_text(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def key_of(name: str, raw: bytes) -> str:
    """The directory key from the key attribute's value: a binary GUID as a GUID, other binary as hex."""
    if name.lower() in _BINARY_GUIDS and len(raw) == 16:
        return str(uuid.UUID(bytes_le=raw))
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.hex()
    return text if text.isprintable() else raw.hex()


def _first(entry: LdapEntry, names: Iterable[str], limit: int) -> str | None:
    """The first non-empty value of the first of ``names`` the entry has."""
    for name in names:
        for raw in entry.values(name):
            text = text_of(raw, limit)
            if text:
                return text
    return None


def _phones(entry: LdapEntry, source: LdapSource, plan: NumberingPlan) -> tuple[list[Phone], list[str]]:
    """The entry's numbers, normalised as an import does; and those that do not parse."""
    good: list[Phone] = []
    bad: list[str] = []
    for kind, names in source.attributes.phones.items():
        for name in names:
            for raw in entry.values(name):
                number = text_of(raw, MAX_TEXT)
                if not number:
                    continue
                try:
                    good.append(
                        PhoneIn.model_validate({"kind": kind, "number": number}, context={"plan": plan}).to_phone()
                    )
                except ValidationError:
                    bad.append(f"{name}: {shown(number)}")
    return good, bad


def _record(data: dict[str, Any], reading: Reading, dn: str) -> RecordIn | None:
    """RecordIn of the fields; an optional field it refuses is dropped (and noted), anything else skips the entry."""
    while True:
        try:
            return RecordIn.model_validate(data)
        except ValidationError as exc:
            failed = {str(e["loc"][0]) if e["loc"] else "" for e in exc.errors()}
            if not failed <= set(data) - {"external_id", "name"}:
                message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
                reading.note(reading.skipped, dn, "invalid", shown(message, 200))
                return None
            for name in sorted(failed):
                reading.note(reading.dropped, dn, name, shown(str(data.pop(name))))


def read_entry(entry: LdapEntry, source: LdapSource, tenant: str, plan: NumberingPlan, reading: Reading) -> None:
    """Add the entry's user to ``reading``, or count it as disabled or skipped."""
    reading.entries += 1
    dn = entry.dn
    keys = entry.values(source.key)
    if not keys:
        reading.note(reading.skipped, dn, "no_key", source.key)
        return
    key = key_of(source.key, keys[0])
    if not key or len(key) > MAX_KEY:
        reading.note(reading.skipped, dn, "invalid_key", shown(key))
        return
    rule = source.disabled
    if rule is not None and rule.matches([text_of(raw) for raw in entry.values(rule.attribute)]):
        reading.disabled += 1
        return
    name = _first(entry, source.attributes.name, MAX_TEXT)
    if name is None:
        reading.note(reading.skipped, dn, "no_name", ", ".join(source.attributes.name))
        return
    phones, bad = _phones(entry, source, plan)
    if not phones and source.require_number:
        if bad:
            reading.note(reading.skipped, dn, "bad_number", "; ".join(bad))
        else:
            reading.note(reading.skipped, dn, "no_number")
        return
    for number in bad:
        reading.note(reading.dropped, dn, "number", number)
    data: dict[str, Any] = {"external_id": key, "name": name}
    for name_of_field, attrs in (
        ("department", source.attributes.department),
        ("location", source.attributes.location),
        ("email", source.attributes.email),
    ):
        value = _first(entry, attrs, MAX_EMAIL if name_of_field == "email" else MAX_TEXT)
        if value is not None:
            data[name_of_field] = value
    row = _record(data, reading, dn)
    if row is not None:
        record = row.to_record(tenant)
        assert isinstance(record, User)  # a record without type is a user
        reading.users.append(replace(record, phones=tuple(phones)))


def read_entries(entries: Iterable[LdapEntry], source: LdapSource, tenant: str, plan: NumberingPlan) -> Reading:
    """Every entry read; a key seen before skips the later entry (the directory keys users by it)."""
    reading = Reading()
    seen: set[str] = set()
    for entry in entries:
        before = len(reading.users)
        read_entry(entry, source, tenant, plan, reading)
        if len(reading.users) > before:
            key = reading.users[-1].external_id
            if key in seen:
                reading.users.pop()
                reading.note(reading.skipped, entry.dn, "duplicate_key", shown(key))
            seen.add(key)
    return reading
