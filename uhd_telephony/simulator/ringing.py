"""Ringing queue members for a waiting caller: agent legs, ring timeouts, busy phones, cancelled rings.

Asterisk 22 as recorded in ``tests/data/ami-traces``: per attempt a new agent channel (Newchannel, its
``AppQueue (Outgoing Line)``, the caller's id copied over, inherited ``__`` variables, ``DIALEDPEERNUMBER``),
then AgentCalled and DialBegin, the phone's Ringing (DeviceStateChange, QueueMemberStatus 6) and DialState.
A ring that runs out gives AgentRingNoAnswer (RingTime in **milliseconds**), DialEnd NOANSWER then CANCEL and
a retry after the queue's ``retry`` (with ``autopause``, the member pauses too); a busy phone AgentRingNoAnswer
with RingTime 0 and DialEnd BUSY; a caller who leaves while phones ring cancels each leg with DialEnd CANCEL
twice — never AgentRingNoAnswer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uhd_telephony.simulator import dialplan, talk
from uhd_telephony.simulator.channels import RINGING, Channel
from uhd_telephony.simulator.clock import Timer

if TYPE_CHECKING:
    from uhd_telephony.simulator.callflow import QueueCall
    from uhd_telephony.simulator.queues import Member


AUTOPAUSE_REASON = "Auto-Pause"  # app_queue's PausedReason for a member it paused after a ring ran out


class Ring:
    """One member's phone ringing for this caller (one agent leg)."""

    __slots__ = ("busy", "ch", "member", "started", "timer")

    def __init__(self, member: Member, ch: Channel, started: float, busy: bool) -> None:
        self.member = member
        self.ch = ch
        self.started = started
        self.busy = busy  # the phone will reject it: it never rang, but no other caller may pick it meanwhile
        self.timer: Timer | None = None


def ring(call: QueueCall, members: list[Member]) -> None:
    """Ring one member (rrmemory) or all free ones (ringall): a new agent leg per member and attempt."""
    for member in members:
        ring_one(call, member)


def ring_one(call: QueueCall, member: Member) -> None:
    pbx, ch, em, queue = call.pbx, call.ch, call.pbx.em, call.queue
    assert queue is not None and call.record is not None
    dev = member.device
    now = pbx.clock.now()
    agent = pbx.factory.new(
        member.interface,
        linkedid=ch.linkedid,
        context=pbx.config.agent_context,
        exten="s",
        language=ch.language,
    )
    pbx.register(agent)
    em.newchannel(agent)
    em.newexten(agent, "AppQueue", "(Outgoing Line)")
    em.newcallerid(agent, ch.cid_num, ch.cid_name)
    for variable, value in list(ch.variables.items()):
        if variable in dialplan.INHERITED:
            em.varset(agent, f"__{variable}", value)
    em.varset(agent, "DIALEDPEERNUMBER", member.interface.split("/", 1)[-1])
    em.agent_event("AgentCalled", ch, agent, queue.name, member.interface, member.name)
    em.dial_begin(ch, agent, member.interface)
    behaviour = dev.behaviour
    ring = Ring(member, agent, now, behaviour.busy)
    call.rings.append(ring)
    call.record["rings"] += 1
    if ring.busy:
        dev.reserved += 1
        ring.timer = call.later(0.005 + 0.02 * pbx.rng.random(), lambda: ring_busy(call, ring))
        return
    em.newstate(agent, RINGING)
    em.newconnectedline(agent, ch.cid_num, ch.cid_name)
    dev.ringing += 1
    pbx.device_changed(dev)
    em.dial_state(ch, agent, "RINGING")
    ring_s = behaviour.ring_s * (0.8 + 0.4 * pbx.rng.random())
    unanswered = behaviour.never_answer or pbx.rng.random() < behaviour.no_answer_share
    if behaviour.manual or unanswered or ring_s >= queue.cfg.timeout_s:
        # a person's phone (simulator.softphone) rings until they answer it or the queue's timeout runs out
        ring.timer = call.later(queue.cfg.timeout_s, lambda: ring_timeout(call, ring))
    else:
        ring.timer = call.later(ring_s, lambda: talk.answer(call, ring))


def end_ring(call: QueueCall, ring: Ring, cause: int) -> None:
    """Hang up an agent leg that never got answered."""
    pbx = call.pbx
    pbx.em.hangup(ring.ch, cause)
    pbx.unregister(ring.ch)
    if ring in call.rings:
        call.rings.remove(ring)
    if ring.timer is not None:
        ring.timer.cancel()
    call.cdrs.append((ring.ch.name, "BUSY" if cause == 17 else "NO ANSWER", pbx.clock.now()))


def release_phone(call: QueueCall, ring: Ring) -> None:
    """The phone stopped ringing for this leg (or its busy reservation ends)."""
    dev = ring.member.device
    if ring.busy:
        dev.reserved = max(dev.reserved - 1, 0)
        return
    dev.ringing = max(dev.ringing - 1, 0)
    call.pbx.device_changed(dev)


def retry(call: QueueCall) -> None:
    """After an unanswered ring: leave an empty queue (leavewhenempty) or try again after ``retry``."""
    queue = call.queue
    if call.rings or not call.waiting or queue is None:
        return
    if queue.cfg.leavewhenempty and not queue.has_reachable_member():
        call.leave_queue("LEAVEEMPTY")
        return
    call.next_try_at = call.pbx.clock.now() + queue.cfg.retry_s
    call.pbx.kick(queue, queue.cfg.retry_s)


def ring_noanswer(call: QueueCall, ring: Ring) -> None:
    em, queue = call.pbx.em, call.queue
    assert queue is not None
    ring_ms = round((call.pbx.clock.now() - ring.started) * 1000)
    call.pbx.qlog(call.ch.uniqueid, queue.name, ring.member.name, "RINGNOANSWER", ring_ms)
    em.agent_event(
        "AgentRingNoAnswer", call.ch, ring.ch, queue.name, ring.member.interface, ring.member.name,
        f"RingTime: {ring_ms}\r\n",
    )  # fmt: skip
    # app_queue reports the ring timeout, then the dial is cancelled: DialEnd NOANSWER, then CANCEL
    em.dial_end(call.ch, ring.ch, "NOANSWER")
    em.dial_end(call.ch, ring.ch, "CANCEL")
    end_ring(call, ring, 0)
    release_phone(call, ring)
    retry(call)


def ring_timeout(call: QueueCall, ring: Ring) -> None:
    """Nobody picked up within the queue's ``timeout``; a phone with ``autopause`` then pauses its member in
    every queue, after the AgentRingNoAnswer (app_queue's ``autopause=all``: QueueMemberPause, Auto-Pause)."""
    ring_noanswer(call, ring)
    if ring.member.device.behaviour.autopause:
        call.pbx.pause(ring.member.interface, True, AUTOPAUSE_REASON)


def ring_busy(call: QueueCall, ring: Ring) -> None:
    em, queue = call.pbx.em, call.queue
    assert queue is not None
    em.agent_event(
        "AgentRingNoAnswer", call.ch, ring.ch, queue.name, ring.member.interface, ring.member.name,
        "RingTime: 0\r\n",
    )  # fmt: skip
    call.pbx.qlog(call.ch.uniqueid, queue.name, ring.member.name, "RINGNOANSWER", 0)
    em.dial_end(call.ch, ring.ch, "BUSY")
    end_ring(call, ring, 17)
    release_phone(call, ring)
    retry(call)


def cancel_rings(call: QueueCall) -> list[Ring]:
    """The caller left while phones rang: DialEnd CANCEL (twice, as Asterisk sends it) and Hangup per leg."""
    em = call.pbx.em
    cancelled = list(call.rings)
    for ring in cancelled:
        em.dial_end(call.ch, ring.ch, "CANCEL")
        em.dial_end(call.ch, ring.ch, "CANCEL")
        end_ring(call, ring, 0)
    return cancelled
