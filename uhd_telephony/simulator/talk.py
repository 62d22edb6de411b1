"""A queue call once a member answers: connect, talk, hang-up by either side, blind transfer to another queue.

The order is the recorded one: DialEnd ANSWER, the MEMBER*/QE*/QUEUE* VarSets on both legs, **QueueCallerLeave
just before AgentConnect** (HoldTime and RingTime in seconds), the bridge; at the end AgentComplete with
HoldTime, TalkTime and Reason (agent, caller, transfer). A blind transfer sends BlindTransfer
(``Transferer*``/``Transferee*`` headers), AgentComplete Reason=transfer, and the same caller channel (same
Uniqueid) runs the target context and joins the second queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uhd_telephony.simulator import dialplan, ringing
from uhd_telephony.simulator.channels import UP

if TYPE_CHECKING:
    from uhd_telephony.simulator.callflow import QueueCall
    from uhd_telephony.simulator.queues import Queue
    from uhd_telephony.simulator.ringing import Ring


def answer(call: QueueCall, ring: Ring) -> None:
    """A member picks up: connect the caller, start the talk (or the transfer) timer."""
    pbx, ch, em, queue = call.pbx, call.ch, call.pbx.em, call.queue
    assert queue is not None and call.record is not None
    now = pbx.clock.now()
    member, agent = ring.member, ring.ch
    call.rings.remove(ring)
    em.newstate(agent, UP)
    # the phone's identity becomes the caller's connected line (what the caller's display shows)
    em.newconnectedline(ch, member.interface.split("/", 1)[-1], member.name)
    dev = member.device
    dev.ringing = max(dev.ringing - 1, 0)
    dev.inuse += 1
    pbx.device_changed(dev)
    em.dial_end(ch, agent, "ANSWER")
    # ringall: every other phone stops ringing (DialEnd CANCEL twice and a Hangup each, no AgentRingNoAnswer)
    for loser in ringing.cancel_rings(call):
        ringing.release_phone(call, loser)
    member_vars = dialplan.member_vars(member)
    em.varsets(ch, member_vars)
    em.varsets(agent, member_vars)
    hold = int(now - call.joined_at)
    entry_vars = [("QEHOLDTIME", str(hold)), ("QEORIGINALPOS", str(call.original_position))]
    em.varsets(ch, entry_vars)
    em.varsets(agent, entry_vars)
    queue.record_hold(hold)
    em.varsets(ch, queue.queue_vars())
    em.varsets(agent, queue.queue_vars())
    position = leave(call, queue)
    em.varsets(
        ch,
        (
            ("QUEUEPOSITION", str(position)),
            ("QUEUEWAIT", str(hold)),
            ("QUEUEWAIT_MS", str(int((now - call.joined_at) * 1000))),
        ),
    )
    em.agent_event(
        "AgentConnect", ch, agent, queue.name, member.interface, member.name,
        f"HoldTime: {hold}\r\nRingTime: {int(now - ring.started)}\r\n",
    )  # fmt: skip
    pbx.qlog(ch.uniqueid, queue.name, member.name, "CONNECT", hold, agent.uniqueid, int(now - ring.started))
    bridge = call.bridge = pbx.factory.bridge()
    em.bridge_create(bridge)
    em.bridge_enter(bridge, agent)
    em.bridge_enter(bridge, ch)
    em.varset(agent, "BRIDGEPEER", ch.name)
    em.varset(ch, "BRIDGEPEER", agent.name)
    member.in_call = True
    call.agent = ring
    call.state = "talking"
    call.answered_at = now
    call.cancel_timers()
    call.record.update(
        agent=member.name, agent_interface=member.interface, wait_s=round(now - call.joined_at, 6),
        answered_at=round(now, 6),
    )  # fmt: skip
    talk = dev.behaviour.talk_s if dev.behaviour.talk_s is not None else call.talk_s
    if dev.behaviour.manual:
        # a person talks (simulator.softphone): they end it, or the caller gives up after talk_s when set
        if dev.behaviour.talk_s is not None:
            call.talk_timer = call.later(dev.behaviour.talk_s, lambda: complete(call, "caller"))
    elif call.transfer_to is not None:
        target = pbx.queue(call.transfer_to)
        after = call.transfer_after_s if call.transfer_after_s is not None else talk
        call.talk_timer = call.later(after, lambda: blind_transfer(call, target, "s"))
    else:
        by = call.ended_by
        call.talk_timer = call.later(talk, lambda: complete(call, by))
    pbx.kick(queue)


def cancel_talk(call: QueueCall) -> None:
    """Forget the scheduled end of the conversation (an AMI Hangup or transfer ends it instead)."""
    if call.talk_timer is not None:
        call.talk_timer.cancel()
        call.talk_timer = None


def leave(call: QueueCall, queue: Queue) -> int:
    """Take the caller out of the queue: DeviceStateChange when it empties, then QueueCallerLeave."""
    em = call.pbx.em
    position = queue.position(call)
    queue.callers.remove(call)
    if not queue.callers:
        em.device_state(f"Queue:{queue.name}", 1)
    em.queue_caller("QueueCallerLeave", call.ch, queue.name, f"Position: {position}\r\nCount: {len(queue.callers)}\r\n")
    call.state = "dialplan"
    return position


def agent_gone(call: QueueCall, ring: Ring) -> None:
    """The connected agent leg has hung up: the member is free again (after wrap-up)."""
    pbx = call.pbx
    member, dev = ring.member, ring.member.device
    pbx.unregister(ring.ch)
    member.in_call = False
    member.calls_taken += 1
    member.last_call = int(pbx.clock.now())
    dev.wrapup_until = pbx.clock.now() + member.wrapup_s
    dev.inuse = max(dev.inuse - 1, 0)
    pbx.device_changed(dev)
    if member.wrapup_s:
        for queue in pbx.queues.values():
            if member.interface in queue.members:
                pbx.kick(queue, member.wrapup_s)


def queue_end_vars(call: QueueCall, queue: Queue, answered: float) -> None:
    """What app_queue sets on the caller when the bridged call ends: QUEUE* twice around the dial times."""
    em, ch, now = call.pbx.em, call.ch, call.pbx.clock.now()
    em.varsets(ch, queue.queue_vars())
    em.varsets(
        ch,
        (
            ("ANSWEREDTIME", str(int(now - answered))),
            ("ANSWEREDTIME_MS", str(int((now - answered) * 1000))),
            ("DIALEDTIME", str(int(now - call.dial_started))),
            ("DIALEDTIME_MS", str(int((now - call.dial_started) * 1000))),
        ),
    )
    em.varsets(ch, queue.queue_vars())


def complete(call: QueueCall, by: str) -> None:
    """The talk ends: the agent or the caller hangs up (AgentComplete Reason agent / caller)."""
    pbx, ch, em, queue, ring, bridge = call.pbx, call.ch, call.pbx.em, call.queue, call.agent, call.bridge
    assert queue is not None and ring is not None and bridge is not None and call.record is not None
    now = pbx.clock.now()
    agent, member = ring.ch, ring.member
    hold, talk = int(call.answered_at - call.joined_at), round(now - call.answered_at)
    tail = f"HoldTime: {hold}\r\nTalkTime: {talk}\r\nReason: {by}\r\n"
    queue.record_complete(hold, talk)
    if by == "agent":
        em.hangup_request(agent)
        em.agent_event("AgentComplete", ch, agent, queue.name, member.interface, member.name, tail)
        em.varset(agent, "BRIDGEPEER", "")
        em.bridge_leave(bridge, agent)
        em.hangup(agent)
        agent_gone(call, ring)
        em.varset(ch, "BRIDGEPEER", "")
        em.bridge_leave(bridge, ch)
        queue_end_vars(call, queue, call.answered_at)
        em.hangup_request(ch, soft=True)
        em.bridge_destroy(bridge)
    else:
        em.hangup_request(ch)
        em.varset(ch, "BRIDGEPEER", "")
        em.bridge_leave(bridge, ch)
        em.agent_event("AgentComplete", ch, agent, queue.name, member.interface, member.name, tail)
        em.hangup_request(agent, soft=True)
        em.varset(agent, "BRIDGEPEER", "")
        em.bridge_leave(bridge, agent)
        em.bridge_destroy(bridge)
        em.hangup(agent)
        agent_gone(call, ring)
        queue_end_vars(call, queue, call.answered_at)
    call.record.update(outcome="answered", ended_by=by, talk_s=round(now - call.answered_at, 6))
    event = "COMPLETEAGENT" if by == "agent" else "COMPLETECALLER"
    pbx.qlog(ch.uniqueid, queue.name, member.name, event, hold, talk, call.original_position)
    call.finish_record()
    call.cdrs.append((agent.name, "ANSWERED", now))
    call.agent = None
    call.bridge = None
    call.hangup_caller()


def blind_transfer(call: QueueCall, target: Queue, exten: str, context: str | None = None) -> None:
    """The agent blind-transfers the caller into ``target``: the same caller channel joins that queue."""
    pbx, ch, em, queue, ring, bridge = call.pbx, call.ch, call.pbx.em, call.queue, call.agent, call.bridge
    assert queue is not None and ring is not None and bridge is not None and call.record is not None
    now = pbx.clock.now()
    agent, member = ring.ch, ring.member
    hold, talk = int(call.answered_at - call.joined_at), round(now - call.answered_at)
    em.unhold(agent)
    em.varset(ch, "BLINDTRANSFER", agent.name)
    em.varset(agent, "BLINDTRANSFER", ch.name)
    em.varset(agent, "BRIDGEPEER", "")
    context = context or target.cfg.context
    pbx.qlog(ch.uniqueid, queue.name, member.name, "BLINDTRANSFER", exten, context, hold, talk, call.original_position)
    em.blind_transfer(agent, ch, bridge, context, exten)
    em.bridge_leave(bridge, agent)
    em.agent_event(
        "AgentComplete", ch, agent, queue.name, member.interface, member.name,
        f"HoldTime: {hold}\r\nTalkTime: {talk}\r\nReason: transfer\r\n",
    )  # fmt: skip
    em.hangup_request(agent)
    em.varset(ch, "BRIDGEPEER", "")
    # the async goto shows up as a Newexten at priority 1 of the new context that still names the old Queue()
    ch.goto(context, exten, 1)
    em.newexten(ch, "Queue", call.queue_data)
    em.bridge_leave(bridge, ch)
    em.varset(ch, "DIALEDTIME", str(int(now - call.dial_started)))
    em.bridge_destroy(bridge)
    em.varsets(
        ch,
        (
            ("DIALEDTIME_MS", str(int((now - call.dial_started) * 1000))),
            ("ANSWEREDTIME", "0"),
            ("ANSWEREDTIME_MS", "0"),
        ),
    )
    queue.record_complete(hold, talk)
    em.varsets(ch, queue.queue_vars())
    call.record.update(
        outcome="transferred", ended_by="transfer", talk_s=round(now - call.answered_at, 6),
        transferred_to=target.name,
    )  # fmt: skip
    call.finish_record()
    call.cdrs.append((agent.name, "ANSWERED", now))
    em.hangup(agent)
    agent_gone(call, ring)
    call.agent = None
    call.bridge = None
    call.transfer_to = None
    call.next_prio = 2
    call.max_wait_s = target.cfg.max_wait_s
    wait = "" if call.max_wait_s is None else str(int(call.max_wait_s))
    call.enter_queue(target, f"{target.name},r,,,{wait}")
