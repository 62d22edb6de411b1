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


@dataclass(frozen=True, slots=True)
class QueueAgents:
    """Counts of one queue's members."""

    members: int
    logged_in: int
    paused: int


class MemberState:
    """The members of every queue by (queue, interface), with their device status and pause flag."""

    def __init__(self, max_members: int = 100_000) -> None:
        self.max_members = max_members
        self._members: dict[tuple[str, str], tuple[int, bool]] = {}
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
            return
        if key not in self._members and len(self._members) >= self.max_members:
            return  # a runaway stream of member names must not grow memory without bound
        self._members[key] = (event.status, event.paused)

    def reset(self, members: Iterable[QueueMember]) -> None:
        """Replace everything with what a ``QueueStatus`` reply listed."""
        self.resyncs += 1
        fresh: dict[tuple[str, str], tuple[int, bool]] = {}
        for m in members:
            if m.queue and m.interface and len(fresh) < self.max_members:
                fresh[(m.queue, m.interface)] = (m.status, m.paused)
        self._members = fresh

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
