"""Domain events the call tracker emits; tickets, screen-pop, metrics and the store subscribe to them.

Each carries a snapshot of the call record at that moment. ``CallEnded`` comes exactly once per call, last,
with the final record; the others say what just happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from uhd_telephony.calls.records import CallRecord


@dataclass(slots=True, frozen=True)
class CallEvent:
    call: CallRecord
    at: float

    @property
    def name(self) -> str:
        return type(self).__name__


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
