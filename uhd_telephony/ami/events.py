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
from collections.abc import Callable
from dataclasses import dataclass, field

from uhd_telephony.ami import names
from uhd_telephony.ami.frames import EventFilter
from uhd_telephony.ami.headers import Fields, Frame, Layout, repeated, run_values

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
    if not value.isprintable():  # clean_text, inline: two of these for every event of a channel
        value = _CONTROL.sub(" ", value).strip()
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


def _time(value: str | None, received: float) -> float:
    """A ``Timestamp`` header as epoch seconds, else the receive time."""
    if value:
        try:
            return float(value)
        except ValueError:
            pass
    return received


def chan_vars(fields: Fields, key: str = "ChanVariable") -> dict[str, str]:
    """The ``ChanVariable: NAME=value`` headers of a frame (manager.conf ``channelvars=``) as a dict."""
    return _vars(repeated(fields, key))


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


# The builders run for every frame the filter keeps: each reads the few headers it needs with a ``Layout`` (one
# match over a frame laid out as Asterisk 22 writes it, in every recorded trace and in the simulator: Event,
# Privilege, Timestamp, the channel block of manager_channels.c, the channelvars, the event's own headers; any
# other frame header by header) and constructs its event positionally.
_BLOCK = (
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
    "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
)  # fmt: skip
_READ = frozenset({"Channel", "CallerIDNum", "CallerIDName", "Context", "Exten", "Uniqueid", "Linkedid"})
# time, then the caller's channel block: channel, caller number, caller name, context, exten, uniqueid, linkedid;
# then its channelvars (read or not)
_CHANNEL = ("Privilege", "=Timestamp", *(("=" if key in _READ else "") + key for key in _BLOCK))
_VARS = (*_CHANNEL, "*ChanVariable")
_NO_VARS = (*_CHANNEL, "~ChanVariable")
# the agent's channel block (its channel, uniqueid and linkedid read), its channelvars, then queue, interface and
# member name
_AGENT = (
    *_VARS,
    *(("=" if key in ("Channel", "Uniqueid", "Linkedid") else "") + "Dest" + key for key in _BLOCK),
    "~DestChanVariable",
    "=Queue",
    "=Interface",
    "=MemberName",
)
_NEWCHANNEL = Layout(*_NO_VARS)
_NEWCALLERID = Layout(*_NO_VARS, "CID-CallingPres")
_NEWEXTEN = Layout(*_NO_VARS, "Extension", "=Application", "=AppData")
_VARSET = Layout(*_VARS, "=Variable", "=Value")
_HANGUP = Layout(*_NO_VARS, "=Cause", "Cause-txt")
_JOIN = Layout(*_VARS, "=Queue", "=Position", "Count")
_LEAVE = Layout(*_NO_VARS, "=Queue", "Position", "Count")
_ABANDON = Layout(*_VARS, "=Queue", "=Position", "=OriginalPosition", "=HoldTime")
_AGENT_CALLED = Layout(*_AGENT)
_RING_NO_ANSWER = Layout(*_AGENT, "=RingTime")
_CONNECT = Layout(*_AGENT, "=HoldTime", "=RingTime")
_COMPLETE = Layout(*_AGENT, "=HoldTime", "=TalkTime", "=Reason")
_MEMBER = Layout(
    "Privilege", "=Timestamp", "=Queue", "=MemberName", "=Interface", "StateInterface", "=Membership", "Penalty",
    "CallsTaken", "LastCall", "LastPause", "LoginTime", "=InCall", "=Status", "=Paused", "=PausedReason",
    "Ringinuse", "Wrapuptime", extra=("Location", "Name"),
)  # fmt: skip

# the events read by a layout, by name (the tests check that Asterisk's frames of them match it)
LAYOUTS: dict[str, Layout] = {
    "Newchannel": _NEWCHANNEL,
    "NewCallerid": _NEWCALLERID,
    "Newexten": _NEWEXTEN,
    "VarSet": _VARSET,
    "Hangup": _HANGUP,
    "QueueCallerJoin": _JOIN,
    "QueueCallerLeave": _LEAVE,
    "QueueCallerAbandon": _ABANDON,
    "AgentCalled": _AGENT_CALLED,
    "AgentRingNoAnswer": _RING_NO_ANSWER,
    "AgentConnect": _CONNECT,
    "AgentComplete": _COMPLETE,
    "QueueMemberStatus": _MEMBER,
    "QueueMemberPause": _MEMBER,
    "QueueMemberAdded": _MEMBER,
    "QueueMemberRemoved": _MEMBER,
}

# a channel event's first fields: time, channel, uniqueid, linkedid (else the uniqueid), caller number and name
_Chan = tuple[float, str, str, str, str, str]


def _chan(ts: str, channel: str, number: str, name: str, uniqueid: str, linkedid: str, received: float) -> _Chan:
    # _time and caller_id, inline: this runs for nearly every event the filter keeps
    try:
        at = float(ts) if ts else received
    except ValueError:
        at = received
    if not (number.isprintable() and number.lower() not in _NO_CALLER_ID):
        number = caller_id(number)
    if not (name.isprintable() and name.lower() not in _NO_CALLER_ID):
        name = caller_id(name)
    return (at, channel, uniqueid, linkedid or uniqueid, number, name)


def _vars(items: list[str]) -> dict[str, str]:
    """``ChanVariable`` values (``NAME=value``) as a dict; the lookup's own (``UHD_*``) cleaned."""
    result: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name:
            if not value.isprintable() and name.startswith(names.UHD_VAR_PREFIX):  # clean_text, where it acts
                value = _CONTROL.sub(" ", value).strip()
            result[name] = value
    return result


# ``variables`` (ChanVariable) only for the events that may start a call record: the tracker reads them nowhere else


def _newchannel(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, context, exten, uniqueid, linkedid = _NEWCHANNEL.read(fields)
    return Newchannel(*_chan(ts, channel, number, name, uniqueid, linkedid, received), context, exten)


def _newcallerid(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid = _NEWCALLERID.read(fields)
    return NewCallerid(*_chan(ts, channel, number, name, uniqueid, linkedid, received))


def _newexten(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid, application, app_data = _NEWEXTEN.read(fields)
    return Newexten(*_chan(ts, channel, number, name, uniqueid, linkedid, received), application, app_data)


def _varset(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid, run, variable, value = _VARSET.read(fields)
    if variable.startswith(names.UHD_VAR_PREFIX):
        value = clean_text(value)
    # of the VarSets the filter keeps only QUEUESTATUS may start a call record (a refused join)
    variables = _vars(run_values(run, "ChanVariable")) if variable == names.VAR_QUEUESTATUS else {}
    return VarSet(*_chan(ts, channel, number, name, uniqueid, linkedid, received), variable, value, variables=variables)


def _hangup(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid, cause = _HANGUP.read(fields)
    return Hangup(*_chan(ts, channel, number, name, uniqueid, linkedid, received), _int(cause))


def _join(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, exten, uniqueid, linkedid, items, queue, position = _JOIN.read(fields)
    return QueueCallerJoin(
        *_chan(ts, channel, number, name, uniqueid, linkedid, received),
        queue,
        _int(position),
        exten,
        variables=_vars(run_values(items, "ChanVariable")),
    )


def _leave(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid, queue = _LEAVE.read(fields)
    return QueueCallerLeave(*_chan(ts, channel, number, name, uniqueid, linkedid, received), queue)


def _abandon(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid, items, queue, position, original, hold = _ABANDON.read(fields)
    return QueueCallerAbandon(
        *_chan(ts, channel, number, name, uniqueid, linkedid, received),
        queue,
        _int(hold),
        _int(position),
        _int(original),
        variables=_vars(run_values(items, "ChanVariable")),
    )


def _agent_called(fields: Fields, received: float) -> AmiEvent:
    ts, channel, number, name, _, _, uniqueid, linkedid, _, dest, dest_uniqueid, _, queue, interface, member = (
        _AGENT_CALLED.read(fields)
    )
    return AgentCalled(
        *_chan(ts, channel, number, name, uniqueid, linkedid, received),
        queue,
        interface,
        clean_text(member),
        dest,
        dest_uniqueid,
    )


def _ring_no_answer(fields: Fields, received: float) -> AmiEvent:
    (ts, channel, number, name, _, _, uniqueid, linkedid, _, dest, dest_uniqueid, _, queue, interface, member,
     ring) = _RING_NO_ANSWER.read(fields)  # fmt: skip
    return AgentRingNoAnswer(
        *_chan(ts, channel, number, name, uniqueid, linkedid, received),
        queue,
        interface,
        clean_text(member),
        dest,
        dest_uniqueid,
        _int(ring),
    )


def _agent_connect(fields: Fields, received: float) -> AmiEvent:
    (ts, channel, number, name, _, _, uniqueid, linkedid, items, dest, dest_uniqueid, dest_linkedid, queue, interface,
     member, hold, ring) = _CONNECT.read(fields)  # fmt: skip
    return AgentConnect(
        *_chan(ts, channel, number, name, uniqueid, linkedid, received),
        queue,
        interface,
        clean_text(member),
        dest,
        dest_uniqueid,
        _int(hold),
        _int(ring),
        dest_linkedid,
        variables=_vars(run_values(items, "ChanVariable")),
    )


def _agent_complete(fields: Fields, received: float) -> AmiEvent:
    (ts, channel, number, name, _, _, uniqueid, linkedid, items, dest, dest_uniqueid, _, queue, interface, member,
     hold, talk, reason) = _COMPLETE.read(fields)  # fmt: skip
    return AgentComplete(
        *_chan(ts, channel, number, name, uniqueid, linkedid, received),
        queue,
        interface,
        clean_text(member),
        dest,
        dest_uniqueid,
        _int(hold),
        _int(talk),
        reason,
        variables=_vars(run_values(items, "ChanVariable")),
    )


def _agent_dump(fields: Fields, received: float) -> AmiEvent:
    # rare (a caller hung up while an agent's phone rang): read header by header
    f = fields
    uniqueid = f.get("Uniqueid", "")
    return AgentDump(
        *_chan(
            f.get("Timestamp", ""),
            f.get("Channel", ""),
            f.get("CallerIDNum", ""),
            f.get("CallerIDName", ""),
            uniqueid,
            f.get("Linkedid", ""),
            received,
        ),
        f.get("Queue", ""),
        f.get("Interface", ""),
        clean_text(f.get("MemberName", "")),
        f.get("DestChannel", ""),
        f.get("DestUniqueid", ""),
    )


def _member(kind: str) -> Callable[[Fields, float], AmiEvent]:
    def build(fields: Fields, received: float) -> AmiEvent:
        ts, queue, member, interface, membership, in_call, status, paused, reason, location, name = _MEMBER.read(fields)
        return QueueMemberEvent(
            _time(ts, received),
            kind,
            queue,
            interface or location,
            clean_text(member or name),
            _int(status),
            paused == "1",
            reason,
            in_call == "1",
            membership,
        )

    return build


_USEREVENT_SKIP = frozenset({"Event", "Privilege", "Timestamp", "UserEvent", *names.CHANNEL_HEADERS})

# the rare ones read their frame as it is (a Frame finds each header)
_BUILDERS: dict[str, Callable[[Fields, float], AmiEvent]] = {
    "Newchannel": _newchannel,
    "NewCallerid": _newcallerid,
    "Newexten": _newexten,
    "VarSet": _varset,
    "Hangup": _hangup,
    "QueueCallerJoin": _join,
    "QueueCallerLeave": _leave,
    "QueueCallerAbandon": _abandon,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _ring_no_answer,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "AgentDump": _agent_dump,
    "UserEvent": lambda f, received: UserEvent(
        _time(f.get("Timestamp"), received),
        f.get("UserEvent", ""),
        f.get("Channel", ""),
        f.get("Uniqueid", ""),
        f.get("Linkedid", "") or f.get("Uniqueid", ""),
        {k: v for k, v in f.items() if k not in _USEREVENT_SKIP},
    ),
    "BlindTransfer": lambda f, received: BlindTransfer(
        _time(f.get("Timestamp"), received),
        f.get("Result", ""),
        f.get("TransfereeChannel", ""),
        f.get("TransfereeUniqueid", ""),
        f.get("TransfereeLinkedid", ""),
        f.get("TransfererChannel", ""),
        f.get("Context", ""),
        f.get("Extension", ""),
    ),
    "AttendedTransfer": lambda f, received: AttendedTransfer(
        _time(f.get("Timestamp"), received),
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
    "FullyBooted": lambda f, received: FullyBooted(_time(f.get("Timestamp"), received)),
    "Shutdown": lambda f, received: Shutdown(
        _time(f.get("Timestamp"), received), f.get("Restart", "").lower() in ("true", "1", "yes")
    ),
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
    builder = _BUILDERS.get(fields.name if type(fields) is Frame else fields.get("Event", ""))
    if builder is None:
        return None
    return builder(fields, received)
