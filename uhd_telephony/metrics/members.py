"""Queue member state for the live metrics: who is logged in and who is paused, per queue.

Fed by the typed ``QueueMemberStatus`` / ``QueueMemberPause`` / ``QueueMemberAdded`` / ``QueueMemberRemoved``
events (``ami.events.QueueMemberEvent``) and replaced as a whole by every resync's ``QueueStatus`` answer
(``Snapshot.members``), so what was missed while the AMI link was down does not linger. Pure: no I/O, no clock.

A member counts as *logged in* while it is in the queue and its device is reachable: ``Status`` (Asterisk's
device state) is neither 4 (AST_DEVICE_INVALID) nor 5 (AST_DEVICE_UNAVAILABLE, e.g. an unregistered PJSIP
phone of a static member). *Paused* counts logged-in members with ``Paused: 1``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from uhd_telephony.ami.events import AmiEvent, QueueMemberEvent
from uhd_telephony.ami.snapshot import QueueMember, Snapshot

DEVICE_INVALID = 4
DEVICE_UNAVAILABLE = 5
_OFFLINE = frozenset({DEVICE_INVALID, DEVICE_UNAVAILABLE})
# AST_DEVICE_INUSE, _BUSY, _RINGINUSE, _ONHOLD: the phone is on a call (6, RINGING, is a call being offered)
_ON_A_CALL = frozenset({2, 3, 7, 8})


@dataclass(frozen=True, slots=True)
class QueueAgents:
    """Counts of one queue's members."""

    members: int
    logged_in: int
    paused: int


@dataclass(frozen=True, slots=True)
class AgentStates:
    """The agents of some queues, each counted once whatever number of those queues it is in: logged in, and of
    those on a call, else paused, else ready (waiting for the next call)."""

    logged_in: int
    ready: int
    paused: int
    on_call: int

    def to_dict(self) -> dict[str, int]:
        return {"logged_in": self.logged_in, "ready": self.ready, "paused": self.paused, "on_call": self.on_call}


class MemberState:
    """The members of every queue by (queue, interface), with their device status and pause flag."""

    def __init__(self, max_members: int = 100_000) -> None:
        self.max_members = max_members
        self._members: dict[tuple[str, str], tuple[int, bool]] = {}
        self._in_call: set[tuple[str, str]] = set()  # members app_queue says are on one of its calls (InCall)
        self.events = 0
        self.resyncs = 0

    # the CallPipeline observer interface (calls.pipeline.AmiObserver)
    def observe(self, event: AmiEvent, received: float) -> None:
        if isinstance(event, QueueMemberEvent):
            self.apply(event)

    def resynced(self, snapshot: Snapshot) -> None:
        self.reset(snapshot.members)

    def apply(self, event: QueueMemberEvent) -> None:
        """One member event: Added/Status/Pause carry the member's state after the change; Removed drops it."""
        if not event.queue or not event.interface:
            return
        self.events += 1
        key = (event.queue, event.interface)
        if event.kind == "removed":
            self._members.pop(key, None)
            self._in_call.discard(key)
            return
        if key not in self._members and len(self._members) >= self.max_members:
            return  # a runaway stream of member names must not grow memory without bound
        self._members[key] = (event.status, event.paused)
        if event.in_call:  # every member event carries InCall as app_queue knows it now
            self._in_call.add(key)
        else:
            self._in_call.discard(key)

    def reset(self, members: Iterable[QueueMember]) -> None:
        """Replace everything with what a ``QueueStatus`` reply listed."""
        self.resyncs += 1
        fresh: dict[tuple[str, str], tuple[int, bool]] = {}
        in_call: set[tuple[str, str]] = set()
        for m in members:
            if m.queue and m.interface and len(fresh) < self.max_members:
                fresh[(m.queue, m.interface)] = (m.status, m.paused)
                if m.in_call:
                    in_call.add((m.queue, m.interface))
        self._members = fresh
        self._in_call = in_call

    def by_queue(self) -> dict[str, QueueAgents]:
        """Per queue: members, logged in, paused (see the module docstring)."""
        counts: dict[str, list[int]] = {}
        for (queue, _), (status, paused) in self._members.items():
            row = counts.setdefault(queue, [0, 0, 0])
            row[0] += 1
            if status not in _OFFLINE:
                row[1] += 1
                if paused:
                    row[2] += 1
        return {q: QueueAgents(*row) for q, row in sorted(counts.items())}

    def agents(self, queues: Iterable[str], busy: Iterable[str] = ()) -> AgentStates:
        """The logged-in members of ``queues``, each interface once: on a call (its device in use, app_queue's
        InCall, or one of ``busy``: interfaces the call tracker has in an answered call), else paused (paused in
        every one of these queues it is in), else ready."""
        wanted = set(queues)
        talking = set(busy)
        seen: dict[str, list[bool]] = {}  # interface -> [on a call, paused everywhere]
        for (queue, interface), (status, paused) in self._members.items():
            if queue not in wanted or status in _OFFLINE:
                continue
            on_call = status in _ON_A_CALL or (queue, interface) in self._in_call or interface in talking
            state = seen.setdefault(interface, [False, True])
            state[0] = state[0] or on_call
            state[1] = state[1] and paused
        talking_n = sum(1 for c, _ in seen.values() if c)
        paused_n = sum(1 for c, p in seen.values() if not c and p)
        return AgentStates(len(seen), len(seen) - talking_n - paused_n, paused_n, talking_n)
