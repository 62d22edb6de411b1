"""The simulated PBX: queues, members, agent phones, live channels and the calls between them.

``Pbx`` is driven by a clock (offline or live) and emits AMI event frames through an ``Emitter``; the TCP
server, the load generator and the offline renderer all sit on top of it. Member operations emit what app_queue
emits (``QueueMemberPause`` after ``DeviceStateChange Queue:<q>_pause_<iface>``, ``QueueMemberStatus`` on every
device state change of a member's phone, ``Queue:<q>_avail`` when the queue gains or loses its last free member).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from uhd_telephony.simulator.callflow import QueueCall
from uhd_telephony.simulator.channels import Channel, ChannelFactory, device_of
from uhd_telephony.simulator.clock import Clock, Timer
from uhd_telephony.simulator.config import MemberConfig, PbxConfig, PhoneBehaviour, copy_config
from uhd_telephony.simulator.emitter import Emitter, Sink
from uhd_telephony.simulator.originate import Origination
from uhd_telephony.simulator.queuelog import QueueLog
from uhd_telephony.simulator.queues import NOT_INUSE, Device, Member, Queue


class PbxError(LookupError):
    """An action names a queue, interface or channel the PBX does not have; ``message`` is the AMI error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Pbx:
    """Queues, members, devices and calls of the simulated Asterisk."""

    def __init__(
        self, config: PbxConfig, clock: Clock, sink: Sink, *, seed: int = 0, truth_limit: int | None = None
    ) -> None:
        self.config = copy_config(config)
        self.clock = clock
        self.rng = random.Random(seed)
        self.em = Emitter(clock.now, sink)
        self.factory = ChannelFactory(clock.now, self.rng, chanvars=tuple(config.channelvars))
        self.queue_log: QueueLog | None = None  # app_queue's queue_log file, when the simulator writes one
        self.started = clock.now()
        self.devices: dict[str, Device] = {}
        self.queues: dict[str, Queue] = {}
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, QueueCall] = {}  # by caller uniqueid, while the caller channel lives
        self.originations: list[Origination] = []
        # ground truth of the finished queue calls; a long-running PBX (the demo, ``simulate``) keeps the latest
        # ``truth_limit`` only, and ``finished`` counts them all
        self.truth: deque[dict[str, Any]] = deque(maxlen=truth_limit)
        self.finished = 0
        self._kicks: dict[str, Timer] = {}
        self._trunk_use: dict[str, int] = {}
        # told True when a phone a person works (PhoneBehaviour.manual) starts ringing or talking and no other
        # was, False when the last one is idle again: the live server then runs the clock in real time
        self.on_people_busy: Callable[[bool], None] | None = None
        self.people_busy = False
        # tenant -> (UHD_INCIDENT, UHD_INCIDENT_PROMPT) while it has open major incidents (``set_incidents``)
        self.incidents: dict[str, tuple[str, str]] = {}
        # told (tenant, UHD_INCIDENT) when a caller hears the announcement, and (tenant, UHD_INCIDENT, number,
        # name, linkedid) when one pressed the key: what the AGI scripts write for a real Asterisk
        self.on_announced: list[Callable[[str, str], None]] = []
        self.on_subscribed: list[Callable[[str, str, str, str, str], None]] = []
        for qcfg in self.config.queues:
            queue = Queue(qcfg)
            self.queues[qcfg.name] = queue
            for mcfg in qcfg.members:
                queue.members[mcfg.interface] = Member(queue, mcfg, self.device(mcfg), self.started, dynamic=False)
            queue.avail_reported = queue.any_available(self.started)

    # lookups --------------------------------------------------------------------------------------------------
    def device(self, mcfg: MemberConfig) -> Device:
        """The phone behind an interface, created on first use; behaviour comes from the first member seen."""
        dev = self.devices.get(mcfg.interface)
        if dev is None:
            dev = self.devices[mcfg.interface] = Device(mcfg.interface, device_of(mcfg.interface), mcfg.behaviour)
        return dev

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise PbxError(f"No such queue {name!r}")
        return queue

    def members_of(self, interface: str, queue: str | None = None) -> list[Member]:
        queues = [self.queue(queue)] if queue else list(self.queues.values())
        found = [q.members[interface] for q in queues if interface in q.members]
        if not found:
            raise PbxError("Interface not found")
        return found

    def active(self) -> bool:
        """Whether any call or callback is still in progress."""
        return bool(self.calls) or any(not o.done for o in self.originations)

    # channels -------------------------------------------------------------------------------------------------
    def qlog(self, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        """One line of the queue_log, now (nothing when no file is written)."""
        if self.queue_log is not None:
            self.queue_log.write(self.clock.now(), callid, queue, agent, event, *data)

    def register(self, ch: Channel) -> None:
        self.channels[ch.name] = ch

    def unregister(self, ch: Channel) -> None:
        self.channels.pop(ch.name, None)

    def trunk_changed(self, device: str, delta: int) -> None:
        """In-use count of a trunk endpoint; DeviceStateChange only when it goes idle ↔ in use."""
        before = self._trunk_use.get(device, 0)
        after = max(before + delta, 0)
        self._trunk_use[device] = after
        if (before == 0) != (after == 0):
            self.em.device_state(device, 2 if after else NOT_INUSE)

    # device and member state ------------------------------------------------------------------------------------
    def device_changed(self, dev: Device) -> None:
        """After a ring or call starts or ends on a phone: DeviceStateChange, QueueMemberStatus, queue availability."""
        state = dev.state
        if state == dev.reported:
            return
        dev.reported = state
        self.em.device_state(dev.name, state)
        for queue in self.queues.values():
            member = queue.members.get(dev.interface)
            if member is not None:
                self.em.queue_member("QueueMemberStatus", member.event_body())
                self.update_avail(queue)
        if state == NOT_INUSE:
            for queue in self.queues.values():
                if dev.interface in queue.members:
                    self.kick(queue)
        if dev.behaviour.manual:
            busy = any(d.behaviour.manual and d.state != NOT_INUSE for d in self.devices.values())
            if busy != self.people_busy:
                self.people_busy = busy
                if self.on_people_busy is not None:
                    self.on_people_busy(busy)

    def update_avail(self, queue: Queue) -> None:
        """``Queue:<name>_avail``: NOT_INUSE while some member could take a call, INUSE when none can."""
        avail = queue.any_available(self.clock.now())
        if avail != queue.avail_reported:
            queue.avail_reported = avail
            self.em.device_state(f"Queue:{queue.name}_avail", NOT_INUSE if avail else 2)

    def pause(self, interface: str, paused: bool, reason: str = "", queue: str | None = None) -> list[Member]:
        """QueuePause: pause or unpause the interface in one queue or all of them."""
        members = self.members_of(interface, queue)
        now = self.clock.now()
        for m in members:
            m.paused = paused
            m.paused_reason = reason if paused else ""
            if paused:
                m.last_pause = int(now)
            self.em.device_state(f"Queue:{m.queue.name}_pause_{interface}", 2 if paused else NOT_INUSE)
            self.update_avail(m.queue)
            self.em.queue_member("QueueMemberPause", m.event_body())
            if paused:
                self.check_leave_empty(m.queue)
            else:
                self.kick(m.queue)
        return members

    def add_member(
        self,
        queue: str,
        interface: str,
        name: str = "",
        *,
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        behaviour: PhoneBehaviour | None = None,
    ) -> Member:
        """QueueAdd: a dynamic member."""
        q = self.queue(queue)
        if interface in q.members:
            raise PbxError("Unable to add interface: Already there")
        mcfg = MemberConfig(interface, name or interface, penalty=penalty, paused=paused, paused_reason=reason)
        if behaviour is not None:
            mcfg.behaviour = behaviour
        member = Member(q, mcfg, self.device(mcfg), self.clock.now(), dynamic=True)
        q.members[interface] = member
        self.em.device_state(f"Queue:{q.name}_pause_{interface}", 2 if paused else NOT_INUSE)
        self.em.queue_member("QueueMemberAdded", member.event_body())
        self.update_avail(q)
        self.kick(q)
        return member

    def remove_member(self, queue: str, interface: str) -> Member:
        """QueueRemove. A ring already in progress goes on (app_queue does not stop it)."""
        q = self.queue(queue)
        member = q.members.pop(interface, None)
        if member is None:
            raise PbxError("Unable to remove interface: Not there")
        self.em.queue_member("QueueMemberRemoved", member.event_body())
        self.update_avail(q)
        self.check_leave_empty(q)
        return member

    def set_penalty(self, interface: str, penalty: int, queue: str | None = None) -> list[Member]:
        members = self.members_of(interface, queue)
        for m in members:
            m.penalty = penalty
            self.em.queue_member("QueueMemberPenalty", m.event_body())
        return members

    def set_ringinuse(self, interface: str, ringinuse: bool, queue: str | None = None) -> list[Member]:
        members = self.members_of(interface, queue)
        for m in members:
            m.ringinuse = ringinuse
            self.em.queue_member("QueueMemberRinginuse", m.event_body())
        return members

    def set_behaviour(self, interface: str, **changes: Any) -> PhoneBehaviour:
        """Change how a phone answers from now on (any field of ``PhoneBehaviour``)."""
        dev = self.devices.get(interface)
        if dev is None:
            raise PbxError("Interface not found")
        for key, value in changes.items():
            if not hasattr(dev.behaviour, key):
                raise TypeError(f"unknown phone behaviour {key!r}")
            setattr(dev.behaviour, key, value)
        return dev.behaviour

    # queue dispatch ---------------------------------------------------------------------------------------------
    def kick(self, queue: Queue, delay: float = 0.0) -> None:
        """Let waiting callers of ``queue`` try the members again (coalesced into one timer per queue)."""
        if not queue.callers:
            return
        timer = self._kicks.get(queue.name)
        when = self.clock.now() + delay
        if timer is not None and not timer.cancelled and timer.when <= when:
            return
        if timer is not None:
            timer.cancel()
        self._kicks[queue.name] = self.clock.call_at(when, lambda: self.dispatch(queue))

    def dispatch(self, queue: Queue) -> None:
        """Ring free members for waiting callers in queue order (autofill: as many callers as free members)."""
        self._kicks.pop(queue.name, None)
        now = self.clock.now()
        for call in list(queue.callers):
            if not call.waiting or call.rings:
                continue
            if now < call.next_try_at:
                self.kick(queue, call.next_try_at - now)
                continue
            members = queue.next_members(now, set())
            if not members:
                break
            call.ring(members)

    def check_leave_empty(self, queue: Queue) -> None:
        """leavewhenempty: release waiting callers once no member can take calls (QUEUESTATUS=LEAVEEMPTY)."""
        if not queue.cfg.leavewhenempty or queue.has_reachable_member():
            return
        for call in list(queue.callers):
            # a ring in progress goes on (pausing or removing a member does not stop it); the caller is
            # released when it ends, see QueueCall._retry
            if call.waiting and not call.rings:
                call.leave_queue("LEAVEEMPTY")

    def set_incidents(self, tenant: str, incident: str, prompts: str) -> None:
        """The tenant's open major incidents as the AGI lookup would set them (ids comma-separated, prompts joined
        with "&"); an empty ``incident``: none (its callers go straight on to the queue again)."""
        if incident:
            self.incidents[tenant] = (incident, prompts)
        else:
            self.incidents.pop(tenant, None)

    # calls ----------------------------------------------------------------------------------------------------
    def place_call(self, number: str | None, name: str | None = None, **kwargs: Any) -> QueueCall:
        """A caller dials a hotline: see ``QueueCall`` for the options. The Newchannel is emitted at once."""
        call = QueueCall(self, number or "", name or "", **kwargs)
        self.calls[call.ch.uniqueid] = call
        call.start()
        return call

    def originate(self, **kwargs: Any) -> Origination:
        """An AMI Originate (callback): the first channel rings, then the dialplan dials the number."""
        orig = Origination(self, **kwargs)
        self.originations = [o for o in self.originations if not o.done]
        self.originations.append(orig)
        orig.start()
        return orig

    def find_call(self, channel: str) -> QueueCall | None:
        """The queue call a channel (caller, ringing or connected agent leg) belongs to."""
        for call in self.calls.values():
            if call.owns(channel):
                return call
        return None

    def hangup(self, channel: str) -> None:
        """AMI Hangup on a live channel."""
        if channel not in self.channels:
            raise PbxError("No such channel")
        call = self.find_call(channel)
        if call is not None:
            call.hangup_channel(channel)
            return
        for orig in self.originations:
            if not orig.done and orig.owns(channel):
                orig.hangup()
                return
        raise PbxError("No such channel")

    def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        """AMI BlindTransfer from an agent leg into a queue's context (``s@<queue context>`` or a hotline)."""
        call = self.find_call(channel)
        if call is None or not call.talking:
            raise PbxError("No such channel")
        target = None
        for queue in self.queues.values():
            if queue.cfg.context == context:
                target = queue
        for hotline in self.config.hotlines:
            if hotline.context == context and hotline.number == exten:
                target = self.queue(hotline.queue)
        if target is None:
            raise PbxError("Transfer invalid")
        call.cancel_talk()
        call.blind_transfer(target, exten, context)

    # snapshots (QueueStatus, QueueSummary, CoreShowChannels) -----------------------------------------------------
    def queue_status(self, queue: str | None = None, member: str | None = None) -> list[str]:
        """The list events of a QueueStatus reply (without ActionID): QueueParams, QueueMember…, QueueEntry…."""
        now = self.clock.now()
        items: list[str] = []
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            items.append(q.params_entry())
            # app_queue walks its member container, which lists the members last-added first
            for m in reversed(list(q.members.values())):
                if member and m.interface != member and m.name != member:
                    continue
                items.append(m.status_entry())
            for pos, call in enumerate(q.callers, 1):
                items.append(call.queue_entry(pos, now))
        return items

    def queue_summary(self, queue: str | None = None) -> list[str]:
        now = self.clock.now()
        items = []
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            available = sum(1 for m in q.members.values() if m.available(now))
            longest = max((int(now - c.joined_at) for c in q.callers), default=0)
            items.append(
                f"Event: QueueSummary\r\nQueue: {q.name}\r\nLoggedIn: {len(q.members)}\r\nAvailable: {available}\r\n"
                f"Callers: {len(q.callers)}\r\nHoldTime: {q.holdtime}\r\nTalkTime: {q.talktime}\r\n"
                f"LongestHoldTime: {longest}\r\n"
            )
        return items

    def core_show_channels(self) -> list[str]:
        """``CoreShowChannel`` entries (headers after the ActionID the session puts first)."""
        now = self.clock.now()
        items = []
        for ch in self.channels.values():
            secs = max(int(now - ch.created), 0)
            duration = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
            bridge = ch.bridge.uniqueid if ch.bridge is not None else ""
            items.append(
                f"{ch.block()}Application: {ch.app}\r\nApplicationData: {ch.app_data}\r\n"
                f"Duration: {duration}\r\nBridgeId: {bridge}\r\n"
            )
        return items
