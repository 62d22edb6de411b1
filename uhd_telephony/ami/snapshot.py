"""What Asterisk says is going on right now: the answers to ``QueueStatus`` and ``CoreShowChannels``.

Taken on every (re)connect so the tracker can rebuild calls that are waiting or talking across a gap in
the event stream. ``QueueStatus`` replies use ``Name``/``Location`` (not ``MemberName``/``Interface``) and
carry no ``Timestamp``: their times are relative (``Wait``, ``Duration``) to when the snapshot was taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from uhd_telephony.ami.events import caller_id, chan_vars


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:  # not a number, or more digits than Python parses
        return 0


def _duration(value: str | None) -> int:
    """``CoreShowChannel`` Duration is ``HH:MM:SS``; older versions send seconds."""
    if not value:
        return 0
    if ":" not in value:
        return _int(value)
    total = 0
    for part in value.split(":"):
        total = total * 60 + _int(part)
    return total


@dataclass(slots=True, frozen=True)
class QueueEntry:
    """A caller waiting in a queue (``Event: QueueEntry``)."""

    queue: str
    channel: str
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str
    position: int
    wait_s: int


@dataclass(slots=True, frozen=True)
class QueueMember:
    """A member of a queue (``Event: QueueMember``)."""

    queue: str
    interface: str
    member_name: str
    status: int
    paused: bool
    paused_reason: str
    in_call: bool
    membership: str


@dataclass(slots=True, frozen=True)
class ChannelInfo:
    """A live channel (``Event: CoreShowChannel``)."""

    channel: str
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str
    context: str
    exten: str
    application: str
    app_data: str
    bridge_id: str
    duration_s: int
    # manager.conf channelvars (ChanVariable: UHD_TENANT=...): a call rebuilt from this snapshot gets its tenant,
    # hotline and lookup answer as a live one does. ``Exten`` is only a dialplan label here (``s``), no number.
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def queue(self) -> str | None:
        """The queue this channel sits in, when its application is ``Queue``."""
        if self.application != "Queue":
            return None
        return self.app_data.split(",", 1)[0].strip() or None


@dataclass(slots=True)
class Snapshot:
    """Everything one resync learned, with the time it was taken (epoch seconds)."""

    taken_at: float
    entries: list[QueueEntry] = field(default_factory=list)
    members: list[QueueMember] = field(default_factory=list)
    channels: list[ChannelInfo] = field(default_factory=list)
    # Asterisk's clock when the snapshot was taken (a Pong's Timestamp); None: only this machine's ``taken_at``
    asterisk_time: float | None = None

    @property
    def now(self) -> float:
        """The snapshot's time on Asterisk's time line, as far as it is known."""
        return self.asterisk_time if self.asterisk_time is not None else self.taken_at

    def add(self, fields: Mapping[str, str]) -> None:
        """Take one list event of a QueueStatus or CoreShowChannels reply; others are ignored."""
        event = fields.get("Event", "")
        if event == "QueueEntry":
            self.entries.append(
                QueueEntry(
                    queue=fields.get("Queue", ""),
                    channel=fields.get("Channel", ""),
                    uniqueid=fields.get("Uniqueid", ""),
                    linkedid=fields.get("Linkedid", "") or fields.get("Uniqueid", ""),
                    caller_number=caller_id(fields.get("CallerIDNum", "")),
                    caller_name=caller_id(fields.get("CallerIDName", "")),
                    position=_int(fields.get("Position")),
                    wait_s=_int(fields.get("Wait")),
                )
            )
        elif event == "QueueMember":
            self.members.append(
                QueueMember(
                    queue=fields.get("Queue", ""),
                    interface=fields.get("Location", "") or fields.get("Interface", ""),
                    member_name=fields.get("Name", "") or fields.get("MemberName", ""),
                    status=_int(fields.get("Status")),
                    paused=fields.get("Paused", "0") == "1",
                    paused_reason=fields.get("PausedReason", ""),
                    in_call=fields.get("InCall", "0") == "1",
                    membership=fields.get("Membership", ""),
                )
            )
        elif event == "CoreShowChannel":
            self.channels.append(
                ChannelInfo(
                    channel=fields.get("Channel", ""),
                    uniqueid=fields.get("Uniqueid", ""),
                    linkedid=fields.get("Linkedid", "") or fields.get("Uniqueid", ""),
                    caller_number=caller_id(fields.get("CallerIDNum", "")),
                    caller_name=caller_id(fields.get("CallerIDName", "")),
                    context=fields.get("Context", ""),
                    exten=fields.get("Exten", ""),
                    application=fields.get("Application", ""),
                    app_data=fields.get("ApplicationData", ""),
                    bridge_id=fields.get("BridgeId", ""),
                    duration_s=_duration(fields.get("Duration")),
                    variables={k: v for k, v in chan_vars(fields).items() if v},
                )
            )

    def add_all(self, items: Iterable[Mapping[str, str]]) -> None:
        for item in items:
            self.add(item)
