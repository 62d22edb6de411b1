"""The requester of a ticket: who it is for, from the directory lookup or, for an unknown caller, the caller ID."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from uhd_telephony.ami.events import caller_id, clean_text
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.errors import TicketError

_TRUE = {"1", "true", "yes", "y", "on"}


@dataclass(frozen=True, slots=True)
class Requester:
    """Who a ticket is for, as the directory lookup (or the caller ID alone) told us."""

    user_id: int | None = None
    place_id: int | None = None
    number: str = ""
    name: str = ""
    vip: bool = False
    email: str | None = None  # given with a web or mail ticket; a directory user's stays in the directory


def _optional_id(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TicketError(f"requester {key} must be an integer id, got {value!r}", {"field": key})
    return value


class DirectoryMatch(Protocol):
    """What the directory found for a caller ID (``directory.lookup.LookupResult``), as its JSON."""

    def to_dict(self) -> dict[str, Any]: ...


def requester_of(call: CallRecord, lookup: Mapping[str, Any] | DirectoryMatch | None) -> Requester:
    """The requester of a phone ticket: the directory's user/place/name/VIP when known, else the caller ID.

    ``lookup``: the AGI lookup's channel variables (a mapping of user_id, place_id, name, number, vip), or the
    directory's answer for the caller (a user or a shared phone's place; the caller ID when it is unknown or
    ambiguous). An unknown caller's name stays empty (never Asterisk's ``<unknown>``): the mail greets without a
    name and the pages show the number instead, or "Unbekannter Anrufer" (console.js, tickets.js).
    """
    if lookup is not None and not isinstance(lookup, Mapping):
        lookup = _matched(lookup)
    lookup = lookup or {}
    name = _clean(lookup.get("name")) or caller_id(call.caller_name or "")
    number = _clean(lookup.get("number")) or caller_id(call.caller_number or "")
    return Requester(
        user_id=_optional_id(lookup, "user_id"),
        place_id=_optional_id(lookup, "place_id"),
        number=number[:64],
        name=name[:200],
        vip=_flag(lookup.get("vip")),
    )


def _matched(caller: DirectoryMatch) -> dict[str, Any] | None:
    """The matched user or shared phone's place; None when the caller is unknown or ambiguous."""
    found = caller.to_dict()
    if found.get("kind") == "user" and found.get("user"):
        user = found["user"]
        return {"user_id": user["id"], "name": user["name"], "vip": bool(user.get("vip"))}
    if found.get("kind") == "place" and found.get("place"):
        place = found["place"]
        return {"place_id": place["id"], "name": place["name"], "vip": False}
    return None


def _clean(value: Any) -> str:
    # PostgreSQL text cannot hold NUL; a mangled AMI CallerIDName must not make the ticket unstorable (the AMI
    # events are cleaned already: this is for a record from elsewhere, a replay or a row restored from before)
    return clean_text(str(value)) if value else ""


def _flag(value: Any) -> bool:
    # the AGI lookup hands VIP over as a channel variable ("1"/"0"): bool("0") would make everyone a VIP
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)
