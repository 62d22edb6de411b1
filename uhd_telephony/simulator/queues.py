"""State of app_queue in the simulated PBX: queues, their members, and the agent phones (devices) behind them.

A member's ``Status`` is the device state of its interface (1 NOT_INUSE, 2 INUSE, 6 RINGING, 7 RINGINUSE), the
same for every queue the interface belongs to. Statistics follow app_queue: ``Holdtime`` and ``TalkTime`` are
running averages ``(3 * old + new) / 4`` in whole seconds, a timeout counts as abandoned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uhd_telephony.simulator.config import MemberConfig, PhoneBehaviour, QueueConfig

if TYPE_CHECKING:
    from uhd_telephony.simulator.callflow import QueueCall

NOT_INUSE, INUSE, RINGING, RINGINUSE = 1, 2, 6, 7


class Device:
    """One agent phone: how it behaves and how many of its channels ring or talk right now."""

    __slots__ = ("behaviour", "interface", "inuse", "name", "reported", "reserved", "ringing", "wrapup_until")

    def __init__(self, interface: str, name: str, behaviour: PhoneBehaviour) -> None:
        self.interface = interface
        self.name = name
        self.behaviour = behaviour
        self.ringing = 0
        self.inuse = 0
        self.reserved = 0  # rings to a busy phone in flight: not yet rejected, not to be picked again
        self.reported = NOT_INUSE
        self.wrapup_until = 0.0

    @property
    def state(self) -> int:
        if self.inuse and self.ringing:
            return RINGINUSE
        if self.inuse:
            return INUSE
        if self.ringing:
            return RINGING
        return NOT_INUSE


class Member:
    """A member of one queue."""

    __slots__ = (
        "calls_taken",
        "device",
        "dynamic",
        "in_call",
        "interface",
        "last_call",
        "last_pause",
        "login_time",
        "name",
        "paused",
        "paused_reason",
        "penalty",
        "queue",
        "ringinuse",
        "wrapup_s",
    )

    def __init__(self, queue: Queue, cfg: MemberConfig, device: Device, login_time: float, dynamic: bool) -> None:
        self.queue = queue
        self.interface = cfg.interface
        self.name = cfg.name or cfg.interface
        self.penalty = cfg.penalty
        self.paused = cfg.paused
        self.paused_reason = cfg.paused_reason if cfg.paused else ""
        self.wrapup_s = cfg.wrapup_s
        self.device = device
        self.dynamic = dynamic
        self.login_time = int(login_time)
        self.last_pause = int(login_time) if cfg.paused else 0
        self.calls_taken = 0
        self.last_call = 0
        self.in_call = False
        self.ringinuse = False

    @property
    def status(self) -> int:
        return self.device.state

    def available(self, now: float) -> bool:
        """Can app_queue ring this member now (not paused, phone idle, wrap-up over; ringinuse=no)?"""
        dev = self.device
        return not self.paused and dev.state == NOT_INUSE and not dev.reserved and now >= dev.wrapup_until

    def event_body(self) -> str:
        """Headers of QueueMemberStatus / Pause / Added / Removed / Penalty / Ringinuse."""
        return (
            f"Queue: {self.queue.name}\r\nMemberName: {self.name}\r\nInterface: {self.interface}\r\n"
            f"StateInterface: {self.interface}\r\nMembership: {'dynamic' if self.dynamic else 'static'}\r\n"
            f"Penalty: {self.penalty}\r\nCallsTaken: {self.calls_taken}\r\nLastCall: {self.last_call}\r\n"
            f"LastPause: {self.last_pause}\r\nLoginTime: {self.login_time}\r\nInCall: {int(self.in_call)}\r\n"
            f"Status: {self.status}\r\nPaused: {int(self.paused)}\r\nPausedReason: {self.paused_reason}\r\n"
            f"Ringinuse: {int(self.ringinuse)}\r\nWrapuptime: {self.wrapup_s}\r\n"
        )

    def status_entry(self) -> str:
        """The ``QueueMember`` list event of a QueueStatus reply: ``Name``/``Location``, no Privilege/Timestamp."""
        return (
            f"Event: QueueMember\r\nQueue: {self.queue.name}\r\nName: {self.name}\r\nLocation: {self.interface}\r\n"
            f"StateInterface: {self.interface}\r\nMembership: {'dynamic' if self.dynamic else 'static'}\r\n"
            f"Penalty: {self.penalty}\r\nCallsTaken: {self.calls_taken}\r\nLastCall: {self.last_call}\r\n"
            f"LastPause: {self.last_pause}\r\nLoginTime: {self.login_time}\r\nInCall: {int(self.in_call)}\r\n"
            f"Status: {self.status}\r\nPaused: {int(self.paused)}\r\nPausedReason: {self.paused_reason}\r\n"
            f"Wrapuptime: {self.wrapup_s}\r\n"
        )


class Queue:
    """One queue: its members, the callers waiting in order, the round-robin memory and statistics."""

    def __init__(self, cfg: QueueConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.members: dict[str, Member] = {}
        self.callers: list[QueueCall] = []
        self.rrpos = 0
        self.completed = 0
        self.abandoned = 0
        self.completed_in_sl = 0
        self.holdtime = 0
        self.talktime = 0
        self.avail_reported: bool | None = None  # Queue:<name>_avail device state last emitted

    def position(self, call: QueueCall) -> int:
        return self.callers.index(call) + 1

    def any_available(self, now: float) -> bool:
        return any(m.available(now) for m in self.members.values())

    def has_reachable_member(self) -> bool:
        """What joinempty/leavewhenempty=yes test: a member that is not paused (app_queue's 'paused' rule)."""
        return any(not m.paused for m in self.members.values())

    def record_hold(self, hold_s: int) -> None:
        self.holdtime = (3 * self.holdtime + hold_s) // 4

    def record_complete(self, hold_s: int, talk_s: int) -> None:
        self.completed += 1
        if hold_s <= self.cfg.servicelevel:
            self.completed_in_sl += 1
        self.talktime = (3 * self.talktime + talk_s) // 4

    def sl_perf(self) -> str:
        return f"{100.0 * self.completed_in_sl / self.completed:.1f}" if self.completed else "0.0"

    def sl_perf2(self) -> str:
        total = self.completed + self.abandoned
        return f"{100.0 * self.completed_in_sl / total:.1f}" if total else "0.0"

    def queue_vars(self) -> list[tuple[str, str]]:
        """The ``setqueuevar=yes`` variables app_queue sets on the caller (and the agent leg)."""
        return [
            ("QUEUENAME", self.name),
            ("QUEUEMAX", str(self.cfg.maxlen)),
            ("QUEUESTRATEGY", self.cfg.strategy),
            ("QUEUECALLS", str(len(self.callers))),
            ("QUEUEHOLDTIME", str(self.holdtime)),
            ("QUEUETALKTIME", str(self.talktime)),
            ("QUEUECOMPLETED", str(self.completed)),
            ("QUEUEABANDONED", str(self.abandoned)),
            ("QUEUESRVLEVEL", str(self.cfg.servicelevel)),
            ("QUEUESRVLEVELPERF", self.sl_perf()),
        ]

    def params_entry(self) -> str:
        """The ``QueueParams`` list event of a QueueStatus reply."""
        return (
            f"Event: QueueParams\r\nQueue: {self.name}\r\nMax: {self.cfg.maxlen}\r\nStrategy: {self.cfg.strategy}\r\n"
            f"Calls: {len(self.callers)}\r\nHoldtime: {self.holdtime}\r\nTalkTime: {self.talktime}\r\n"
            f"Completed: {self.completed}\r\nAbandoned: {self.abandoned}\r\nServiceLevel: {self.cfg.servicelevel}\r\n"
            f"ServicelevelPerf: {self.sl_perf()}\r\nServicelevelPerf2: {self.sl_perf2()}\r\n"
            f"Weight: {self.cfg.weight}\r\n"
        )

    def next_members(self, now: float, busy: set[str]) -> list[Member]:
        """Whom to ring next: rrmemory picks one after the last one rung, ringall every available member."""
        members = list(self.members.values())
        free = [m for m in members if m.available(now) and m.interface not in busy]
        if not free:
            return []
        if self.cfg.strategy == "ringall":
            return free
        # lowest penalty first, then round robin with memory of where the last ring stopped
        best = min(m.penalty for m in free)
        candidates = [m for m in free if m.penalty == best]
        n = len(members)
        for step in range(n):
            member = members[(self.rrpos + step) % n]
            if member in candidates:
                self.rrpos = (members.index(member) + 1) % n
                return [member]
        return [candidates[0]]
