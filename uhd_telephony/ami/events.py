"""Typed AMI events: the few event types the call tracker reads, built from a frame's headers.

Times come from the frame's ``Timestamp`` header (manager.conf ``timestampevents=yes``), else the receive time.
Numbers that do not parse become 0 rather than an exception: a malformed field must not drop the frame.

Text a caller controls (the caller ID name and number, a member's name, the ``UHD_*`` variables the AGI lookup
sets from them) is cleaned here, where it enters: no NUL (PostgreSQL refuses it), no control character or line
break (one in an Originate's CallerID header would end the header), and Asterisk's placeholder ``<unknown>``
(or ``unknown``) for a caller ID it does not have is empty. Nothing downstream sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from uhd_telephony.ami import names
from uhd_telephony.ami.frames import EventFilter, Fields

# C0 and C1 control characters (NUL, CR, LF, TAB, ESC, ...) and the Unicode line and paragraph separators
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# what Asterisk shows for a caller ID part it does not have (``<unknown>``); never a caller's name or number
_NO_CALLER_ID = frozenset({"<unknown>", "unknown"})


def clean_text(value: str) -> str:
    """``value`` without NUL, control characters or line breaks: each run of them becomes one space; stripped."""
    if value.isprintable():  # nearly always: one C-level scan
        return value
    return _CONTROL.sub(" ", value).strip()


def caller_id(value: str) -> str:
    """A caller ID name or number as stored and shown: cleaned, and ``""`` for Asterisk's ``<unknown>``."""
    value = clean_text(value)
    return "" if value.lower() in _NO_CALLER_ID else value


def _int(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except (ValueError, OverflowError):  # "1e999" is inf; 5,000 digits are over the int parsing limit
            return 0


def _ts(fields: Fields, received: float) -> float:
    value = fields.get("Timestamp")
    if value:
        try:
            return float(value)
        except ValueError:
            pass
    return received


def chan_vars(fields: Mapping[str, str], key: str = "ChanVariable") -> dict[str, str]:
    """The ``ChanVariable: NAME=value`` headers of a frame (manager.conf ``channelvars=``) as a dict."""
    raw = fields.get(key)
    if not raw:
        return {}
    result: dict[str, str] = {}
    for item in raw.split("\n"):
        name, _, value = item.partition("=")
        if name:
            result[name] = clean_text(value) if name.startswith(names.UHD_VAR_PREFIX) else value
    return result


@dataclass(slots=True)
class AmiEvent:
    ts: float


@dataclass(slots=True)
class ChannelEvent(AmiEvent):
    channel: str
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str
    # manager.conf ``channelvars=`` (UHD_TENANT, UHD_HOTLINE, ...) ride along on every channel event: a call first
    # seen mid-way (an orphan after a gap) still learns its tenant from the event itself
    variables: dict[str, str] = field(default_factory=dict, kw_only=True)


@dataclass(slots=True)
class Newchannel(ChannelEvent):
    context: str
    exten: str


@dataclass(slots=True)
class NewCallerid(ChannelEvent):
    pass


@dataclass(slots=True)
class Newexten(ChannelEvent):
    """Only kept for ``Application: Queue``: a refused join (JOINEMPTY) shows nothing else of the queue."""

    application: str
    app_data: str

    @property
    def queue(self) -> str:
        return self.app_data.split(",", 1)[0].strip()


@dataclass(slots=True)
class VarSet(ChannelEvent):
    variable: str
    value: str


@dataclass(slots=True)
class Hangup(ChannelEvent):
    cause: int


@dataclass(slots=True)
class QueueCallerJoin(ChannelEvent):
    queue: str
    position: int
    exten: str


@dataclass(slots=True)
class QueueCallerLeave(ChannelEvent):
    queue: str


@dataclass(slots=True)
class QueueCallerAbandon(ChannelEvent):
    """Sent for a caller hang-up and, confusingly, for a timeout or empty-queue exit too (app_queue.c)."""

    queue: str
    hold_time: int
    position: int
    original_position: int


@dataclass(slots=True)
class AgentEvent(ChannelEvent):
    queue: str
    interface: str
    member_name: str
    dest_channel: str
    dest_uniqueid: str


@dataclass(slots=True)
class AgentCalled(AgentEvent):
    pass


@dataclass(slots=True)
class AgentRingNoAnswer(AgentEvent):
    ring_ms: int  # milliseconds, unlike AgentConnect's RingTime


@dataclass(slots=True)
class AgentConnect(AgentEvent):
    hold_time: int  # seconds
    ring_time: int  # seconds
    dest_linkedid: str


@dataclass(slots=True)
class AgentComplete(AgentEvent):
    hold_time: int
    talk_time: int
    reason: str  # agent, caller, transfer


@dataclass(slots=True)
class AgentDump(AgentEvent):
    pass


@dataclass(slots=True)
class UserEvent(AmiEvent):
    user_event: str
    channel: str
    uniqueid: str
    linkedid: str
    headers: dict[str, str]


@dataclass(slots=True)
class BlindTransfer(AmiEvent):
    result: str
    transferee_channel: str
    transferee_uniqueid: str
    transferee_linkedid: str
    transferer_channel: str
    context: str
    extension: str


@dataclass(slots=True)
class AttendedTransfer(AmiEvent):
    result: str
    transferee_channel: str
    transferee_uniqueid: str
    transferee_linkedid: str
    transferer_channel: str
    dest_type: str
    transfer_target_uniqueid: str


@dataclass(slots=True)
class QueueMemberEvent(AmiEvent):
    """QueueMemberStatus / Pause / Added / Removed: the member's state after the change."""

    kind: str
    queue: str
    interface: str
    member_name: str
    status: int
    paused: bool
    paused_reason: str
    in_call: bool
    membership: str


@dataclass(slots=True)
class FullyBooted(AmiEvent):
    pass


@dataclass(slots=True)
class Shutdown(AmiEvent):
    restart: bool


def _channel_kwargs(f: Fields, *, variables: bool = False) -> dict[str, Any]:
    """The channel block; ``variables``: its ChanVariable headers too — only for the events that may start a call
    record (the tracker reads them nowhere else, and splitting them on every event is the hot path's cost)."""
    kw: dict[str, Any] = {
        "channel": f.get("Channel", ""),
        "uniqueid": f.get("Uniqueid", ""),
        "linkedid": f.get("Linkedid", "") or f.get("Uniqueid", ""),
        "caller_number": caller_id(f.get("CallerIDNum", "")),
        "caller_name": caller_id(f.get("CallerIDName", "")),
    }
    if variables:
        kw["variables"] = chan_vars(f)
    return kw


def _agent_kwargs(f: Fields, *, variables: bool = False) -> dict[str, Any]:
    kw = _channel_kwargs(f, variables=variables)
    kw["queue"] = f.get("Queue", "")
    kw["interface"] = f.get("Interface", "")
    kw["member_name"] = clean_text(f.get("MemberName", ""))
    kw["dest_channel"] = f.get("DestChannel", "")
    kw["dest_uniqueid"] = f.get("DestUniqueid", "")
    return kw


def _var_value(f: Fields) -> str:
    value = f.get("Value", "")
    return clean_text(value) if f.get("Variable", "").startswith(names.UHD_VAR_PREFIX) else value


def _member(kind: str) -> Callable[[Fields, float], AmiEvent]:
    def build(f: Fields, ts: float) -> AmiEvent:
        return QueueMemberEvent(
            ts,
            kind,
            f.get("Queue", ""),
            f.get("Interface", "") or f.get("Location", ""),
            clean_text(f.get("MemberName", "") or f.get("Name", "")),
            _int(f.get("Status")),
            f.get("Paused", "0") == "1",
            f.get("PausedReason", ""),
            f.get("InCall", "0") == "1",
            f.get("Membership", ""),
        )

    return build


_USEREVENT_SKIP = frozenset({"Event", "Privilege", "Timestamp", "UserEvent", *names.CHANNEL_HEADERS})

_BUILDERS: dict[str, Callable[[Fields, float], AmiEvent]] = {
    "Newchannel": lambda f, ts: Newchannel(
        ts, **_channel_kwargs(f), context=f.get("Context", ""), exten=f.get("Exten", "")
    ),
    "NewCallerid": lambda f, ts: NewCallerid(ts, **_channel_kwargs(f)),
    "Newexten": lambda f, ts: Newexten(
        ts, **_channel_kwargs(f), application=f.get("Application", ""), app_data=f.get("AppData", "")
    ),
    "VarSet": lambda f, ts: VarSet(
        ts, **_channel_kwargs(f, variables=True), variable=f.get("Variable", ""), value=_var_value(f)
    ),
    "Hangup": lambda f, ts: Hangup(ts, **_channel_kwargs(f), cause=_int(f.get("Cause"))),
    "QueueCallerJoin": lambda f, ts: QueueCallerJoin(
        ts,
        **_channel_kwargs(f, variables=True),
        queue=f.get("Queue", ""),
        position=_int(f.get("Position")),
        exten=f.get("Exten", ""),
    ),
    "QueueCallerLeave": lambda f, ts: QueueCallerLeave(ts, **_channel_kwargs(f), queue=f.get("Queue", "")),
    "QueueCallerAbandon": lambda f, ts: QueueCallerAbandon(
        ts,
        **_channel_kwargs(f, variables=True),
        queue=f.get("Queue", ""),
        hold_time=_int(f.get("HoldTime")),
        position=_int(f.get("Position")),
        original_position=_int(f.get("OriginalPosition")),
    ),
    "AgentCalled": lambda f, ts: AgentCalled(ts, **_agent_kwargs(f)),
    "AgentRingNoAnswer": lambda f, ts: AgentRingNoAnswer(ts, **_agent_kwargs(f), ring_ms=_int(f.get("RingTime"))),
    "AgentConnect": lambda f, ts: AgentConnect(
        ts,
        **_agent_kwargs(f, variables=True),
        hold_time=_int(f.get("HoldTime")),
        ring_time=_int(f.get("RingTime")),
        dest_linkedid=f.get("DestLinkedid", ""),
    ),
    "AgentComplete": lambda f, ts: AgentComplete(
        ts,
        **_agent_kwargs(f, variables=True),
        hold_time=_int(f.get("HoldTime")),
        talk_time=_int(f.get("TalkTime")),
        reason=f.get("Reason", ""),
    ),
    "AgentDump": lambda f, ts: AgentDump(ts, **_agent_kwargs(f)),
    "UserEvent": lambda f, ts: UserEvent(
        ts,
        f.get("UserEvent", ""),
        f.get("Channel", ""),
        f.get("Uniqueid", ""),
        f.get("Linkedid", "") or f.get("Uniqueid", ""),
        {k: v for k, v in f.items() if k not in _USEREVENT_SKIP},
    ),
    "BlindTransfer": lambda f, ts: BlindTransfer(
        ts,
        f.get("Result", ""),
        f.get("TransfereeChannel", ""),
        f.get("TransfereeUniqueid", ""),
        f.get("TransfereeLinkedid", ""),
        f.get("TransfererChannel", ""),
        f.get("Context", ""),
        f.get("Extension", ""),
    ),
    "AttendedTransfer": lambda f, ts: AttendedTransfer(
        ts,
        f.get("Result", ""),
        f.get("TransfereeChannel", ""),
        f.get("TransfereeUniqueid", ""),
        f.get("TransfereeLinkedid", ""),
        f.get("OrigTransfererChannel", ""),
        f.get("DestType", ""),
        f.get("TransferTargetUniqueid", ""),
    ),
    "QueueMemberStatus": _member("status"),
    "QueueMemberPause": _member("pause"),
    "QueueMemberAdded": _member("added"),
    "QueueMemberRemoved": _member("removed"),
    "FullyBooted": lambda f, ts: FullyBooted(ts),
    "Shutdown": lambda f, ts: Shutdown(ts, f.get("Restart", "").lower() in ("true", "1", "yes")),
}

TRACKED_EVENTS = frozenset(_BUILDERS)


def tracker_filter() -> EventFilter:
    """The frames the call tracker reads: its event names; VarSet and Newexten only where they matter."""
    keep = TRACKED_EVENTS - {"VarSet", "Newexten"}
    return EventFilter(
        keep,
        needles={
            "VarSet": (
                b"\r\nVariable: " + names.VAR_QUEUESTATUS.encode() + b"\r\n",
                b"\r\nVariable: " + names.UHD_VAR_PREFIX.encode(),
            ),
            "Newexten": (b"\r\nApplication: Queue\r\n",),
        },
    )


def build_event(fields: Fields, received: float) -> AmiEvent | None:
    """The typed event for a frame's headers, or None for an event type the tracker does not read."""
    builder = _BUILDERS.get(fields.get("Event", ""))
    if builder is None:
        return None
    return builder(fields, _ts(fields, received))
