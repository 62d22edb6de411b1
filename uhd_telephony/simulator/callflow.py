"""One inbound hotline call through the dialplan and app_queue, emitting what Asterisk 22 emits, in its order.

The order of the queue events is the one of the recorded traces (``tests/data/ami-traces``):
- answered: QueueCallerJoin, AgentCalled, DialBegin, … DialEnd ANSWER, the MEMBER*/QE*/QUEUE* VarSets,
  **QueueCallerLeave just before AgentConnect**, two BridgeEnter, … AgentComplete, Hangup;
- ring timeout of a member: AgentRingNoAnswer (RingTime in **ms**), DialEnd NOANSWER then CANCEL, retry later;
- a busy phone: AgentRingNoAnswer with RingTime 0 and DialEnd BUSY;
- caller hang-up while waiting: QueueCallerAbandon then QueueCallerLeave (and DialEnd CANCEL twice for a ring
  in progress);
- Queue() timeout and LEAVEEMPTY: **also QueueCallerAbandon** then QueueCallerLeave, but the caller channel
  lives on: VarSet QUEUESTATUS, then the dialplan's overflow branch with ``UserEvent CallbackRequested``;
- JOINEMPTY: no QueueCallerJoin/Leave/Abandon at all, only Newexten Queue and VarSet QUEUESTATUS;
- blind transfer into a second queue: BlindTransfer, AgentComplete Reason=transfer, and the same caller channel
  (same Uniqueid) joins the second queue;
- a major incident of the tenant: its announcement before the queue (``announcement.py``).
Channels are production-shaped (``PJSIP/trunk-…`` caller, ``PJSIP/101-…`` agent legs): one channel per leg, no
Local ``;2`` halves, so the dialplan of the agents' phones (the test PBX's ``[agents]``) is not played.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uhd_telephony.ami import names
from uhd_telephony.simulator import announcement, dialplan, ringing, talk
from uhd_telephony.simulator.channels import RING, UP, Bridge, shown
from uhd_telephony.simulator.clock import Timer
from uhd_telephony.simulator.config import HotlineConfig
from uhd_telephony.simulator.ringing import Ring

if TYPE_CHECKING:
    from uhd_telephony.simulator.pbx import Pbx
    from uhd_telephony.simulator.queues import Member, Queue


class QueueCall:
    """A caller on the trunk: dialplan, queue wait, rings, talk, transfer, end — and its ground truth.

    ``number``/``name`` are the caller ID (empty: ``<unknown>``; ``withheld=True``: ``anonymous``); ``dialled``
    picks the hotline (tenant) by its number, else ``queue`` picks the first hotline of that queue; ``patience_s``
    is how long the caller waits before hanging up (None: forever); ``max_wait_s`` overrides the queue's
    Queue() timeout; ``talk_s`` is the conversation once answered, ended by ``ended_by`` ("agent" or "caller")
    unless ``transfer_to`` names a queue the agent blind-transfers to after ``transfer_after_s``; ``lookup`` are
    the UHD_* variables the AGI caller lookup sets (the AGI step runs when given, when the hotline has
    ``agi_lookup`` or when its tenant has an open major incident). ``at_announcement`` is what the caller does at
    a major incident's announcement: "queue" (no key: on to the queue), "subscribe" (key 1 after ``listen_s``)
    or "hangup" (after ``listen_s``).
    """

    def __init__(
        self,
        pbx: Pbx,
        number: str,
        name: str,
        *,
        dialled: str | None = None,
        queue: str | None = None,
        patience_s: float | None = None,
        talk_s: float = 5.0,
        ended_by: str = "agent",
        transfer_to: str | None = None,
        transfer_after_s: float | None = None,
        lookup: dict[str, str] | None = None,
        max_wait_s: float | type[dialplan.Default] | None = dialplan.Default,
        withheld: bool = False,
        at_announcement: str = announcement.QUEUE,
        listen_s: float = 8.0,
    ) -> None:
        if at_announcement not in announcement.CHOICES:
            raise ValueError(f"at_announcement must be one of {', '.join(announcement.CHOICES)}")
        self.pbx = pbx
        if dialled is None:
            hotline = pbx.config.hotlines[0]
            if queue is not None:
                hotline = next((h for h in pbx.config.hotlines if h.queue == queue), hotline)
        else:
            hotline = next((h for h in pbx.config.hotlines if h.number == dialled), None) or HotlineConfig(
                dialled, queue or pbx.config.hotlines[0].queue
            )
        self.hotline = hotline
        self.queue_name = queue or hotline.queue
        pbx.queue(self.queue_name)  # fail early on an unknown queue
        if ended_by not in ("agent", "caller"):
            raise ValueError("ended_by must be 'agent' or 'caller'")
        self.number = number
        self.name = name
        self.patience_s = patience_s
        self.talk_s = talk_s
        self.ended_by = ended_by
        self.transfer_to = transfer_to
        self.transfer_after_s = transfer_after_s
        self.lookup = lookup
        self.withheld = withheld
        self.at_announcement = at_announcement
        self.listen_s = listen_s
        self.incident_ids = ""  # UHD_INCIDENT of the announcement heard
        self.announced_at = 0.0
        self.subscribed = False
        self.return_to = ("", "", 0)  # where the announcement's Return() goes
        self.max_wait_s = hotline_max_wait(pbx, self.queue_name, max_wait_s)
        self.queue: Queue | None = None
        self.state = "dialplan"
        self.rings: list[Ring] = []
        self.agent: Ring | None = None
        self.bridge: Bridge | None = None
        self.joined_at = 0.0
        self.original_position = 0
        self.next_try_at = 0.0
        self.answered_at = 0.0
        self.dial_started = 0.0
        self.answered_at_channel = 0.0
        self.queue_data = ""
        self.queue_prio = 0
        self.userfield = "hotline"
        self.record: dict[str, Any] | None = None
        self._timers: list[Timer] = []
        self.talk_timer: Timer | None = None
        self.cdrs: list[tuple[str, str, float]] = []  # (dest channel, disposition, end)
        self.next_prio = 1
        # a withheld number arrives from the carrier as "anonymous" (From: anonymous@anonymous.invalid)
        self.ch = pbx.factory.new(
            f"PJSIP/{hotline.trunk}",
            state=RING,
            cid_num="anonymous" if withheld else number,
            cid_name="Anonymous" if withheld else name,
            context=hotline.context,
            exten=hotline.number,
            language=hotline.language,
        )

    # helpers --------------------------------------------------------------------------------------------------
    @property
    def waiting(self) -> bool:
        return self.state == "waiting"

    @property
    def talking(self) -> bool:
        return self.state == "talking"

    def owns(self, channel: str) -> bool:
        if self.ch.name == channel:
            return True
        if self.agent is not None and self.agent.ch.name == channel:
            return True
        return any(r.ch.name == channel for r in self.rings)

    def later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = self.pbx.clock.call_later(delay, fn)
        self._timers.append(timer)
        return timer

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _app(self, app: str, data: str = "") -> None:
        """Run one dialplan priority: Newexten (the VarSets of a Set() follow from the caller)."""
        ch = self.ch
        ch.priority = self.next_prio
        ch.changed()
        self.next_prio += 1
        self.pbx.em.newexten(ch, app, data)

    def _set(self, variable: str, value: str) -> None:
        self._app("Set", f"{variable}={value}")
        self.pbx.em.varset(self.ch, variable, value)

    def queue_entry(self, position: int, now: float) -> str:
        """The ``QueueEntry`` list event of a QueueStatus reply."""
        ch = self.ch
        return (
            f"Event: QueueEntry\r\nQueue: {self.queue_name}\r\nPosition: {position}\r\nChannel: {ch.name}\r\n"
            f"Uniqueid: {ch.uniqueid}\r\nCallerIDNum: {shown(ch.cid_num)}\r\nCallerIDName: {shown(ch.cid_name)}\r\n"
            f"ConnectedLineNum: {shown(ch.conn_num)}\r\nConnectedLineName: {shown(ch.conn_name)}\r\n"
            f"Priority: {ch.priority}\r\nWait: {int(now - self.joined_at)}\r\n"
        )

    # arrival and dialplan -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """The INVITE arrives: Newchannel on the trunk, the hotline dialplan up to the AGI lookup."""
        pbx, ch = self.pbx, self.ch
        pbx.register(ch)
        pbx.em.newchannel(ch)
        pbx.trunk_changed(ch.device, +1)
        self._app("NoOp", dialplan.entry_noop(self.hotline, ch))
        self._set(names.VAR_HOTLINE, self.hotline.number)
        self._app("Answer")
        pbx.em.newstate(ch, UP)
        self.answered_at_channel = pbx.clock.now()
        self._app("Set", "CDR(userfield)=hotline")
        if self.hotline.agi_lookup or self.lookup is not None or self.hotline.tenant in pbx.incidents:
            self._app("AGI", f"{dialplan.AGI_SCRIPT},{self.hotline.tenant}")
            # the lookup script asks the database: its SET VARIABLEs come some tens of milliseconds later
            self.later(0.02 + 0.04 * pbx.rng.random(), self._agi_lookup)
        else:
            self.continue_to_queue()

    def _agi_lookup(self) -> None:
        pbx, ch = self.pbx, self.ch
        values = {names.VAR_TENANT: self.hotline.tenant, names.VAR_VIP: "0"}
        incident = pbx.incidents.get(self.hotline.tenant)
        if incident is not None:
            values[names.VAR_INCIDENT], values[names.VAR_INCIDENT_PROMPT] = incident
        values.update(self.lookup or {})
        command_id = pbx.rng.randrange(10_000_000, 99_999_999)
        for variable, value in values.items():
            command = f'SET VARIABLE {variable} "{value}"'
            pbx.em.agi_exec(ch, command_id, command)
            pbx.em.varset(ch, variable, value)
            pbx.em.agi_exec(ch, command_id, command, "Success")
            command_id += 1
        pbx.em.varset(ch, "AGISTATUS", "SUCCESS")
        if incident is not None:
            announcement.announce(self)
        else:
            self.continue_to_queue()

    def continue_to_queue(self) -> None:
        """The hotline dialplan from after the lookup (or the announcement) on: MAXWAIT, then Queue()."""
        wait = "" if self.max_wait_s is None else str(int(self.max_wait_s))
        self._set("MAXWAIT", wait)
        self.enter_queue(self.pbx.queue(self.queue_name), f"{self.queue_name},r,,,{wait}")

    def enter_queue(self, queue: Queue, data: str) -> None:
        """Queue(): reset the result variables, then join (or be refused at the door)."""
        pbx, ch, em = self.pbx, self.ch, self.pbx.em
        self.queue, self.queue_name, self.queue_data = queue, queue.name, data
        self._app("Queue", data)
        self.queue_prio = ch.priority
        em.varsets(ch, ((v, "") for v in dialplan.QUEUE_RESET_VARS))
        now = pbx.clock.now()
        self.dial_started = now
        self.record = self._new_record(queue, now)
        if not queue.cfg.joinempty and not queue.has_reachable_member():
            # refused at join: no QueueCallerJoin/Leave/Abandon and no queue_log line, only QUEUESTATUS
            self.record.update(outcome="refused", wait_s=0.0)
            self.finish_record()
            em.varset(ch, names.VAR_QUEUESTATUS, "JOINEMPTY")
            self._after_queue("JOINEMPTY")
            return
        queue.callers.append(self)
        if len(queue.callers) == 1:
            em.device_state(f"Queue:{queue.name}", 6)
        position = len(queue.callers)
        em.queue_caller("QueueCallerJoin", ch, queue.name, f"Position: {position}\r\nCount: {len(queue.callers)}\r\n")
        pbx.qlog(ch.uniqueid, queue.name, "NONE", "ENTERQUEUE", "", ch.cid_num, position)
        self.state = "waiting"
        self.joined_at = now
        self.original_position = position
        self.next_try_at = now
        if self.patience_s is not None:
            self.later(self.patience_s, self.abandon)
        if self.max_wait_s is not None:
            self.later(self.max_wait_s, lambda: self.leave_queue("TIMEOUT"))
        pbx.dispatch(queue)

    def _new_record(self, queue: Queue, now: float) -> dict[str, Any]:
        ch = self.ch
        return {
            "uniqueid": ch.uniqueid,
            "linkedid": ch.linkedid,
            "channel": ch.name,
            "tenant": self.hotline.tenant,
            "dialled": self.hotline.number,
            "queue": queue.name,
            "caller_number": ch.cid_num,
            "caller_name": ch.cid_name,
            "entered_at": round(now, 6),
            "outcome": None,
            "agent": None,
            "agent_interface": None,
            "wait_s": None,
            "talk_s": None,
            "ended_by": None,
            "rings": 0,
            "callback_requested": False,
        }

    def finish_record(self) -> None:
        if self.record is not None:
            self.pbx.truth.append(self.record)
            self.pbx.finished += 1

    # the agent side (ringing.py, talk.py) ------------------------------------------------------------------------
    def ring(self, members: list[Member]) -> None:
        """Ring one member (rrmemory) or all free ones (ringall)."""
        ringing.ring(self, members)

    def complete(self, by: str) -> None:
        """End the conversation: ``by`` is "agent" or "caller"."""
        talk.complete(self, by)

    def blind_transfer(self, target: Queue, exten: str, context: str | None = None) -> None:
        """The agent blind-transfers the caller to ``exten@context`` (default: the target queue's context)."""
        talk.blind_transfer(self, target, exten, context)

    def cancel_talk(self) -> None:
        talk.cancel_talk(self)

    # leaving unanswered -------------------------------------------------------------------------------------------
    def abandon(self) -> None:
        """The caller hangs up while waiting (patience over): QueueCallerAbandon, QueueCallerLeave, Hangup."""
        if not self.waiting:
            return
        pbx, ch, em, queue = self.pbx, self.ch, self.pbx.em, self.queue
        assert queue is not None and self.record is not None
        now = pbx.clock.now()
        self.cancel_timers()
        em.hangup_request(ch)
        cancelled = ringing.cancel_rings(self)
        wait = now - self.joined_at
        em.varsets(ch, self._wait_vars(now))
        em.varset(ch, "ABANDONED", "TRUE")
        em.varsets(ch, queue.queue_vars())
        self._abandon_event(queue, int(wait))
        em.varsets(ch, queue.queue_vars())
        position = talk.leave(self, queue)
        em.varset(ch, "QUEUEPOSITION", str(position))
        self.record.update(outcome="abandoned", ended_by="caller", wait_s=round(wait, 6))
        for ring in cancelled:
            pbx.qlog(ch.uniqueid, queue.name, ring.member.name, "RINGCANCELED", round((now - ring.started) * 1000))
        pbx.qlog(ch.uniqueid, queue.name, "NONE", "ABANDON", position, self.original_position, int(wait))
        self.finish_record()
        self.hangup_caller(soft_first=True)
        for ring in cancelled:
            ringing.release_phone(self, ring)
        pbx.kick(queue)

    def _wait_vars(self, now: float) -> list[tuple[str, str]]:
        return [
            ("QUEUEWAIT", str(int(now - self.joined_at))),
            ("QUEUEWAIT_MS", str(int((now - self.joined_at) * 1000))),
            ("DIALEDTIME", str(int(now - self.dial_started))),
            ("DIALEDTIME_MS", str(int((now - self.dial_started) * 1000))),
            ("ANSWEREDTIME", "0"),
            ("ANSWEREDTIME_MS", "0"),
        ]

    def _abandon_event(self, queue: Queue, hold: int) -> None:
        queue.abandoned += 1
        self.pbx.em.queue_caller(
            "QueueCallerAbandon",
            self.ch,
            queue.name,
            f"Position: {queue.position(self)}\r\nOriginalPosition: {self.original_position}\r\nHoldTime: {hold}\r\n",
        )

    def leave_queue(self, status: str) -> None:
        """Queue() gives up (TIMEOUT, LEAVEEMPTY): reported as QueueCallerAbandon, but the channel lives on."""
        if not self.waiting:
            return
        pbx, ch, em, queue = self.pbx, self.ch, self.pbx.em, self.queue
        assert queue is not None and self.record is not None
        now = pbx.clock.now()
        self.cancel_timers()
        cancelled = ringing.cancel_rings(self)
        for ring in cancelled:
            ringing.release_phone(self, ring)
        wait = now - self.joined_at
        em.varset(ch, "ABANDONED", "TRUE")
        em.varsets(ch, queue.queue_vars())
        self._abandon_event(queue, int(wait))
        em.varsets(ch, self._wait_vars(now))
        em.varsets(ch, queue.queue_vars())
        position = talk.leave(self, queue)
        em.varset(ch, "QUEUEPOSITION", str(position))
        em.varset(ch, names.VAR_QUEUESTATUS, status)
        outcome = "timeout" if status == "TIMEOUT" else "overflow"
        self.record.update(outcome=outcome, wait_s=round(wait, 6), queue_status=status)
        event = "EXITWITHTIMEOUT" if status == "TIMEOUT" else "EXITEMPTY"
        pbx.qlog(ch.uniqueid, queue.name, "NONE", event, position, self.original_position, int(wait))
        self.finish_record()
        self._after_queue(status)
        pbx.kick(queue)

    def _after_queue(self, status: str) -> None:
        """The hotline dialplan after Queue() returns: the GotoIf chain, then overflow → CallbackRequested."""
        em, ch = self.pbx.em, self.ch
        self._app("NoOp", f"Queue {self.queue_name} finished: QUEUESTATUS={status}")
        matched = False
        for candidate in dialplan.OVERFLOW_STATUSES:
            hit = candidate == status
            self._app("GotoIf", f"{int(hit)}?overflow")
            if hit:
                matched = True
                break
        if not matched:
            self._app("Hangup")
            self.hangup_caller(soft_first=True)
            return
        self.next_prio = dialplan.overflow_priority(self.queue_prio)
        self._app("NoOp", f"Overflow after {status}: callback requested")
        self.userfield = "hotline-overflow"
        self._app("Set", "CDR(userfield)=hotline-overflow")
        self._set(names.VAR_CALLBACK_REQUESTED, "1")
        wait = "" if self.max_wait_s is None else str(int(self.max_wait_s))
        self._app("UserEvent", f"{names.USEREVENT_CALLBACK},Queue: {self.queue_name},Reason: {status},MaxWait: {wait}")
        em.user_event(ch, names.USEREVENT_CALLBACK, (("Queue", self.queue_name), ("Reason", status), ("MaxWait", wait)))
        if self.record is not None:
            self.record["callback_requested"] = True
        self._app("Hangup")
        self.hangup_caller(soft_first=True)

    # the end ------------------------------------------------------------------------------------------------------
    def hangup_channel(self, channel: str) -> None:
        """AMI Hangup on one of this call's channels."""
        if channel == self.ch.name:
            if self.waiting:
                self.abandon()
            elif self.talking:
                self.cancel_talk()
                self.complete("caller")
            elif self.state == "announcement":
                announcement.leave(self)
            elif self.state == "dialplan":  # still before Queue(), e.g. during the AGI lookup
                self.pbx.em.hangup_request(self.ch)
                self.hangup_caller()
            return
        if self.agent is not None and self.agent.ch.name == channel and self.talking:
            self.cancel_talk()
            self.complete("agent")
            return
        for ring in list(self.rings):
            if ring.ch.name == channel:
                if ring.timer is not None:
                    ring.timer.cancel()
                ringing.ring_noanswer(self, ring)

    def hangup_caller(self, soft_first: bool = False) -> None:
        pbx, ch, em = self.pbx, self.ch, self.pbx.em
        now = pbx.clock.now()
        self.cancel_timers()
        if soft_first:
            em.hangup_request(ch, soft=True)
        em.hangup(ch)
        if not self.cdrs:
            self.cdrs.append(("", "ANSWERED", now))
        start = ch.created
        for dest, disposition, end in self.cdrs:
            em.cdr(
                ch,
                destination=self.hotline.number,
                destination_context=self.hotline.context,
                dest_channel=dest,
                last_app="Queue" if dest else ch.app,
                last_data=self.queue_data if dest else ch.app_data,
                start=start,
                answer=self.answered_at_channel,
                end=end,
                disposition=disposition,
                userfield=self.userfield,
            )
            start = end
        pbx.trunk_changed(ch.device, -1)
        pbx.unregister(ch)
        pbx.calls.pop(ch.uniqueid, None)
        self.state = "done"


def hotline_max_wait(pbx: Pbx, queue: str, value: float | type[dialplan.Default] | None) -> float | None:
    """The caller's MAXWAIT: given explicitly, else the queue's ``max_wait_s``."""
    if isinstance(value, type):
        return pbx.queue(queue).cfg.max_wait_s
    return value
