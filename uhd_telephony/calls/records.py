"""The call record: what one caller's stay in one queue produced. Values only, no I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any


class Outcome(StrEnum):
    """How a queue call ended. ``None`` on a record means it is still in progress."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"  # caller hung up while waiting, after the short-abandon threshold
    SHORT_ABANDON = "short_abandon"  # caller hung up before the threshold (misdial, changed mind)
    TIMEOUT = "timeout"  # Queue() hit its maximum wait (QUEUESTATUS=TIMEOUT): overflow
    OVERFLOW = "overflow"  # left a queue that became empty or unavailable (LEAVEEMPTY / LEAVEUNAVAIL)
    REFUSED = "refused"  # offered but never entered: JOINEMPTY, JOINUNAVAIL, FULL
    EXIT_KEY = "exit_key"  # caller left the queue with a key press (queue context=)
    CALLBACK = "callback"  # caller left the queue by key press and asked for a callback
    TRANSFERRED = "transferred"  # answered, then transferred on by the agent
    CLOSED = "closed"  # called outside business hours: never offered to a queue (dialplan UserEvent)
    # a major incident's announcement before the queue (UserEvent UhdIncident): the caller never entered a queue
    INCIDENT_SUBSCRIBED = "incident_subscribed"  # pressed the key, is told when it is over, hung up
    INCIDENT_LEFT = "incident_left"  # hung up during the announcement
    UNKNOWN = "unknown"  # ended while the service could not see it (AMI down): the record says so


ANSWERED_OUTCOMES = frozenset({Outcome.ANSWERED, Outcome.TRANSFERRED})
# left at a major incident's announcement: never offered to a queue, in no service-level figure
ANNOUNCEMENT_OUTCOMES = frozenset({Outcome.INCIDENT_SUBSCRIBED, Outcome.INCIDENT_LEFT})
NOT_REACHED_OUTCOMES = frozenset(
    {
        Outcome.ABANDONED,
        Outcome.SHORT_ABANDON,
        Outcome.TIMEOUT,
        Outcome.OVERFLOW,
        Outcome.REFUSED,
        Outcome.EXIT_KEY,
        Outcome.CALLBACK,
    }
)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC with milliseconds, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class RingAttempt:
    """One agent's phone ringing for this call (AgentCalled ... AgentConnect / AgentRingNoAnswer / cancel)."""

    interface: str
    member_name: str
    started_at: float
    ended_at: float | None = None
    result: str | None = None  # answered, noanswer, busy, cancelled
    dest_channel: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "member_name": self.member_name,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "ring_s": None if self.ended_at is None else round(self.ended_at - self.started_at, 3),
            "result": self.result,
        }


@dataclass(slots=True)
class CallRecord:
    """One caller channel's stay in one queue. ``call_id`` is stable across replays and resyncs."""

    call_id: str
    linkedid: str
    uniqueid: str
    queue: str
    tenant: str
    entered_at: float
    channel: str = ""
    caller_number: str = ""
    caller_name: str = ""
    dialled: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    wait_s: float | None = None
    talk_s: float | None = None
    agent: str | None = None
    agent_interface: str | None = None
    outcome: Outcome | None = None
    ended_by: str | None = None  # agent, caller, transfer
    queue_status: str | None = None  # QUEUESTATUS as app_queue set it, when it did
    callback_requested: bool = False
    transferred_to: str | None = None
    position: int = 0
    ring_attempts: list[RingAttempt] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # UHD_* channel variables (AGI lookup)
    resynced: bool = False  # some of it was rebuilt from a QueueStatus/CoreShowChannels snapshot
    # recorded from Asterisk's queue_log after the fact (calls/queue_log.py), not seen live: its ticket, if it was
    # answered, is "opened after the call"
    backfilled: bool = False

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def snapshot(self) -> CallRecord:
        """A copy that later changes to this record do not touch (what domain events carry)."""
        # every field by position (a few times per call on the event path: dataclasses.replace is 5x slower)
        values = list(_RECORD_FIELDS(self))
        values[_RING_ATTEMPTS] = [RingAttempt(*_ATTEMPT_FIELDS(a)) for a in self.ring_attempts]
        values[_RING_ATTEMPTS + 1] = dict(self.variables)
        return CallRecord(*values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``replay --json`` and the API."""
        return {
            "call_id": self.call_id,
            "linkedid": self.linkedid,
            "uniqueid": self.uniqueid,
            "tenant": self.tenant,
            "queue": self.queue,
            "channel": self.channel,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "dialled": self.dialled,
            "agent": self.agent,
            "agent_interface": self.agent_interface,
            "entered_at": iso(self.entered_at),
            "answered_at": iso(self.answered_at),
            "ended_at": iso(self.ended_at),
            "wait_s": self.wait_s,
            "talk_s": self.talk_s,
            "outcome": None if self.outcome is None else str(self.outcome),
            "ended_by": self.ended_by,
            "queue_status": self.queue_status,
            "callback_requested": self.callback_requested,
            "transferred_to": self.transferred_to,
            "ring_attempts": [a.to_dict() for a in self.ring_attempts],
            "variables": dict(self.variables),
            "resynced": self.resynced,
            "backfilled": self.backfilled,
        }


_RECORD_FIELDS = attrgetter(*(f.name for f in dataclasses.fields(CallRecord)))
_ATTEMPT_FIELDS = attrgetter(*(f.name for f in dataclasses.fields(RingAttempt)))
_RING_ATTEMPTS = [f.name for f in dataclasses.fields(CallRecord)].index("ring_attempts")
assert [f.name for f in dataclasses.fields(CallRecord)][_RING_ATTEMPTS + 1] == "variables"
