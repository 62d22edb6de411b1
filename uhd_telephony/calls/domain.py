"""Domain events the call tracker emits; tickets, screen-pop, metrics and the store subscribe to them.

Each carries a snapshot of the call record at that moment. ``CallEnded`` comes exactly once per call, last,
with the final record; the others say what just happened. ``CallbackAnswered`` is no queue call's: the caller of
a callback (an AMI Originate of the callback list) answered; subscribers to ``CallEvent`` never see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from uhd_telephony.calls.records import CallRecord


@dataclass(slots=True, frozen=True)
class DomainEvent:
    """What the tracker emits: a queue call's event (``CallEvent``) or a callback's (``CallbackAnswered``)."""

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(slots=True, frozen=True)
class CallEvent(DomainEvent):
    call: CallRecord
    at: float


@dataclass(slots=True, frozen=True)
class CallOffered(CallEvent):
    """A caller entered a queue (or was refused at the door: then ``CallEnded`` follows at once)."""


@dataclass(slots=True, frozen=True)
class AgentRinging(CallEvent):
    interface: str
    member_name: str


@dataclass(slots=True, frozen=True)
class AgentRingNoAnswer(CallEvent):
    interface: str
    member_name: str


@dataclass(slots=True, frozen=True)
class CallAnswered(CallEvent):
    """An agent took the call: the moment a ticket opens and the screen pops."""


@dataclass(slots=True, frozen=True)
class CallAbandoned(CallEvent):
    """The caller hung up before an answer (``call.outcome`` says whether it was a short abandon)."""


@dataclass(slots=True, frozen=True)
class CallTimedOut(CallEvent):
    """The queue let the caller go unanswered: timeout, empty queue, refused join (``call.outcome``)."""


@dataclass(slots=True, frozen=True)
class CallbackRequested(CallEvent):
    """The dialplan asked for a callback (UserEvent ``CallbackRequested``)."""

    reason: str


@dataclass(slots=True, frozen=True)
class CallEnded(CallEvent):
    """The final record of a queue call; exactly one per call."""


@dataclass(slots=True, frozen=True)
class CallbackAnswered(DomainEvent):
    """The caller's leg of a callback answered: UserEvent ``UhdCallback`` (``Stage: answered``) from the dialplan's
    Dial ``U()`` gosub, or, after an AMI gap, a live channel carrying ``UHD_CALLBACK_REACHED`` in a resync (then
    ``at`` is the snapshot's time: the caller answered by then, ``resynced`` says so)."""

    callback_id: int
    tenant: str
    at: float
    channel: str = ""
    uniqueid: str = ""
    resynced: bool = False


DOMAIN_EVENTS: tuple[type[CallEvent], ...] = (
    CallOffered,
    AgentRinging,
    AgentRingNoAnswer,
    CallAnswered,
    CallAbandoned,
    CallTimedOut,
    CallbackRequested,
    CallEnded,
)
