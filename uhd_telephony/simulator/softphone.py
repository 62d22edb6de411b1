"""A phone a person works by hand: the demo's browser softphone (and the tests of it).

A member whose phone has ``PhoneBehaviour(manual=True)`` is rung like any other — a new agent leg, AgentCalled,
DialBegin, Ringing, QueueMemberStatus 6 — but never picks up by itself. ``answer()`` is the phone's Answer key:
the same DialEnd ANSWER … QueueCallerLeave, AgentConnect and bridge as a simulated agent's pick-up, so the
service opens the ticket and pops it as for anyone. ``hang_up()`` ends the conversation (AgentComplete
Reason=agent), or rejects a ringing call (AgentRingNoAnswer: the queue tries the next member), or ends a
callback the phone is in. A ring nobody answers runs out after the queue's ``timeout`` as for everyone; with
``autopause`` the member then pauses itself (PausedReason Auto-Pause), so an empty desk holds up no caller.

Time: a person rings and talks in real time. The live server (``AmiSimulator``) therefore runs its one clock at
real time while any such phone rings or talks, and at its full speed otherwise (``Pbx.on_people_busy``): one clock
for the whole PBX keeps every Timestamp, wait and talk time consistent with every other — two rates in one PBX
would let a caller's patience run out ten times faster than the ring they are waiting on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uhd_telephony.simulator import ringing, talk
from uhd_telephony.simulator.pbx import PbxError

if TYPE_CHECKING:
    from uhd_telephony.simulator.callflow import QueueCall
    from uhd_telephony.simulator.originate import Origination
    from uhd_telephony.simulator.pbx import Pbx
    from uhd_telephony.simulator.ringing import Ring

IDLE, RINGING, TALKING = "idle", "ringing", "talking"


@dataclass(frozen=True, slots=True)
class PhoneView:
    """What the phone's display shows; times are the PBX's (virtual) epoch seconds."""

    interface: str
    name: str
    manual: bool
    state: str  # idle, ringing, talking
    paused: bool
    paused_reason: str
    queues: tuple[str, ...]
    caller_number: str | None = None
    caller_name: str | None = None
    tenant: str | None = None
    queue: str | None = None
    linkedid: str | None = None
    since: float | None = None  # the ring's start, or the answer
    ring_ends_at: float | None = None  # when an unanswered ring runs out

    def to_dict(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "name": self.name,
            "manual": self.manual,
            "state": self.state,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "queues": list(self.queues),
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "tenant": self.tenant,
            "queue": self.queue,
            "linkedid": self.linkedid,
            "since": self.since,
            "ring_ends_at": self.ring_ends_at,
        }


def _device(pbx: Pbx, interface: str) -> Any:
    dev = pbx.devices.get(interface)
    if dev is None:
        raise PbxError("Interface not found")
    return dev


def ringing_on(pbx: Pbx, interface: str) -> tuple[QueueCall, Ring] | None:
    """The queue call ringing this phone (one at most: a ringing phone is not available to another caller)."""
    for call in pbx.calls.values():
        for ring in call.rings:
            if ring.member.interface == interface and not ring.busy:
                return call, ring
    return None


def talking_on(pbx: Pbx, interface: str) -> QueueCall | None:
    """The queue call this phone is connected to."""
    for call in pbx.calls.values():
        if call.talking and call.agent is not None and call.agent.member.interface == interface:
            return call
    return None


def callback_on(pbx: Pbx, interface: str) -> Origination | None:
    """A callback (Originate) this phone is in; it rang and was picked up like a click-to-dial softphone does."""
    for orig in pbx.originations:
        if not orig.done and orig.interface == interface:
            return orig
    return None


def answer(pbx: Pbx, interface: str) -> QueueCall:
    """The person picks up the ringing call; PbxError when the phone is not ringing."""
    _device(pbx, interface)
    found = ringing_on(pbx, interface)
    if found is None:
        raise PbxError("Phone is not ringing")
    call, ring = found
    if ring.timer is not None:
        ring.timer.cancel()
    talk.answer(call, ring)
    return call


def hang_up(pbx: Pbx, interface: str) -> str:
    """End what the phone is doing: ``call`` (a conversation), ``ring`` (a rejected ring) or ``callback``."""
    _device(pbx, interface)
    call = talking_on(pbx, interface)
    if call is not None:
        call.cancel_talk()
        call.complete("agent")
        return "call"
    found = ringing_on(pbx, interface)
    if found is not None:
        call, ring = found
        if ring.timer is not None:
            ring.timer.cancel()
        ringing.ring_noanswer(call, ring)  # rejected: no autopause, the person is at the desk
        return "ring"
    orig = callback_on(pbx, interface)
    if orig is not None:
        orig.hangup()
        return "callback"
    raise PbxError("Phone is idle")


def view(pbx: Pbx, interface: str) -> PhoneView:
    """The phone's state now: idle, ringing (with the caller) or talking; paused in its queues or not."""
    dev = _device(pbx, interface)
    members = [q.members[interface] for q in pbx.queues.values() if interface in q.members]
    paused = bool(members) and all(m.paused for m in members)
    reason = next((m.paused_reason for m in members if m.paused and m.paused_reason), "")
    base: dict[str, Any] = {
        "interface": interface,
        "name": members[0].name if members else dev.name,
        "manual": dev.behaviour.manual,
        "paused": paused,
        "paused_reason": reason if paused else "",
        "queues": tuple(m.queue.name for m in members),
    }
    found = ringing_on(pbx, interface)
    if found is not None:
        rung, ring = found
        ends = ring.timer.when if ring.timer is not None and not ring.timer.cancelled else None
        return PhoneView(state=RINGING, since=ring.started, ring_ends_at=ends, **base, **_caller(rung))
    call = talking_on(pbx, interface)
    if call is not None:
        return PhoneView(state=TALKING, since=call.answered_at, **base, **_caller(call))
    orig = callback_on(pbx, interface)
    if orig is not None:  # the person clicked "call back": their phone is in use from the first ring
        since = orig.answered_at or None
        return PhoneView(state=TALKING, since=since, caller_number=orig.exten or None, **base)
    return PhoneView(state=IDLE, **base)


def _caller(call: QueueCall) -> dict[str, Any]:
    return {
        "caller_number": call.ch.cid_num or None,
        "caller_name": call.ch.cid_name or None,
        "tenant": call.hotline.tenant,
        "queue": call.queue_name,
        "linkedid": call.ch.linkedid,
    }


__all__ = ["IDLE", "RINGING", "TALKING", "PhoneView", "answer", "callback_on", "hang_up", "ringing_on", "view"]
