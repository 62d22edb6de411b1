"""The OLA clock of one routing: pure arithmetic over a ticket's history, a group's targets and its calendar.

An OLA (operational level agreement) gives a support group — a partner firm above all — its own targets for the
work routed to it. Each ``routed`` history row starts a *stint* of the group it names; the stint ends at the next
routing (routed away: the clock stops, nothing more is due) or when the ticket is resolved or closed while with
the group (the resolution target is met). Inside a stint the clock runs like the ticket's SLA clock: it stands
still while the ticket waits on the caller (``clock.PAUSED``), and counts only the group's business hours.

- response target: business time from the routing to the group's first action on the ticket — a comment, a
  status change or an assignment, by one of the partner's own accounts for a ``partner:`` group, by any helpdesk
  account (``agent:<id>``) for the helpdesk's own groups, which the helpdesk does not tell apart — or to the
  resolution, whichever comes first;
- resolution target: business time from the routing to the resolution while the ticket is with the group.

A reopened ticket does not restart the stint its resolution ended; a new routing starts a new one. A stint is a
``clock.Facts`` of its own (created at the routing, the status changes inside it, the response), so the SLA's
``deadlines``, ``pending``, ``due`` and the ticket view's ``state_of`` work on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.clock import DONE, PAUSED, Facts, Policy, Target, running_spans, used
from uhd_telephony.sla.policy import Contact, Targets, TenantSla
from uhd_telephony.tickets.groups import is_partner
from uhd_telephony.tickets.history import Action
from uhd_telephony.tickets.service import is_staff

# the history rows a stint is made of, and those that are a group's response
ROUTED, STATUS = Action.ROUTED.value, Action.STATUS.value
RESPONSES = frozenset({Action.COMMENT.value, Action.STATUS.value, Action.ASSIGNED.value})
STINT_ACTIONS = tuple(sorted(RESPONSES | {ROUTED}))
INITIAL_STATUS = "new"


@dataclass(frozen=True, slots=True)
class Event:
    """One history row of a ticket as the OLA clock reads it (``STINT_ACTIONS`` only), in history order."""

    id: int
    at: datetime
    action: str
    actor: str
    field: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class Stint:
    """One routing of a ticket to a group and what happened while it was there."""

    routed_id: int  # the ``routed`` history row that started it: the stint's identity
    group: str
    start: datetime
    end: datetime | None  # routed away at; None: still with the group (or resolved there)
    resolved_at: datetime | None  # resolved or closed while with the group
    responded_at: datetime | None  # the group's first action after the routing
    changes: tuple[tuple[datetime, str], ...]  # the status at the routing, then the changes inside the stint
    status: str  # the ticket's status at the stint's end (now, while it lasts)

    @property
    def open(self) -> bool:
        """Still running: with the group and not resolved there."""
        return self.end is None and self.resolved_at is None

    def facts(self) -> Facts:
        """The stint as the SLA clock reads a ticket: created at the routing, its status rows, its response."""
        status = self.status if self.end is None else "closed"  # routed away: the clock stands still for good
        return Facts(created_at=self.start, status=status, changes=self.changes, first_response_at=self.responded_at)

    def spans(self) -> list[tuple[datetime, datetime | None]]:
        """The spans the group's clock ran: the ticket's running spans inside the stint."""
        spans = running_spans(self.facts())
        if self.end is None:
            return spans
        return [(s, e if e is not None and e <= self.end else self.end) for s, e in spans if s < self.end]


# (group code, actor) -> whether the actor acts for the group (``members``)
Membership = Callable[[str, str], bool]


def members(partner_groups: Mapping[str, str | None]) -> Membership:
    """Who acts for a group: for a ``partner:`` group its accounts (``partner_groups``: ``partner:<id>`` -> the
    account's group), for the helpdesk's own groups any helpdesk account."""

    def acts_for(group: str, actor: str) -> bool:
        if is_partner(group):
            return partner_groups.get(actor) == group
        return is_staff(actor)

    return acts_for


@dataclass(slots=True)
class _Running:
    """The stint being read (``stints``)."""

    routed_id: int
    group: str
    start: datetime
    changes: list[tuple[datetime, str]]
    resolved_at: datetime | None = None
    responded_at: datetime | None = None

    def read(self, e: Event, acts_for: Membership) -> None:
        """One history row after the routing (while the stint runs and is not resolved)."""
        if e.action == STATUS and e.field == "status" and e.new is not None:
            self.changes.append((e.at, e.new))
            if e.new in DONE:
                self.resolved_at = e.at
        if self.responded_at is None and e.action in RESPONSES and acts_for(self.group, e.actor):
            self.responded_at = e.at

    def stint(self, end: datetime | None, status: str) -> Stint:
        return Stint(
            self.routed_id, self.group, self.start, end, self.resolved_at, self.responded_at, tuple(self.changes),
            status,
        )  # fmt: skip


def stints(events: Iterable[Event], acts_for: Membership, status: str | None = None) -> list[Stint]:
    """The ticket's stints, oldest first, from its history rows (``STINT_ACTIONS``, in history order); ``status``:
    the ticket's status now (default: what its last status row says)."""
    found: list[Stint] = []
    current = INITIAL_STATUS
    running: _Running | None = None
    for e in events:
        if e.action == ROUTED:
            if running is not None:
                found.append(running.stint(e.at, current))
            running = _Running(e.id, e.new or "", e.at, [(e.at, current)])
            continue
        if e.action == STATUS and e.field == "status" and e.new is not None:
            current = e.new
        if running is not None and running.resolved_at is None:
            running.read(e, acts_for)
    if running is not None:
        found.append(running.stint(None, current if status is None else status))
    return found


def current_stint(found: Sequence[Stint], group: str) -> Stint | None:
    """The stint of the group the ticket is with now (the last one, if it is that group's)."""
    return found[-1] if found and found[-1].end is None and found[-1].group == group else None


@dataclass(frozen=True, slots=True)
class GroupOla(Targets):
    """One group's OLA: its targets per priority in its business calendar."""

    group: str
    calendar: Calendar
    policies: Mapping[int, Policy]
    unclassified_priority: int = 3


@dataclass(frozen=True, slots=True)
class TenantOla:
    """A tenant's OLAs: each group's targets, the levels of the SLA contacts (the helpdesk's lead) told of a
    warning and a breach; as the scanner loads it, also each group's own contact and the SLA's contacts."""

    tenant: str
    groups: Mapping[str, GroupOla]
    warning_level: int = 1
    breach_level: int = 1
    group_contacts: Mapping[str, Contact] | None = None  # code -> the group's mail/webhook (None: not loaded)
    sla: TenantSla | None = None  # the tenant's SLA with its contacts (the lead), when it has one


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one stint went against its group's targets, as of ``at`` (the report's time)."""

    stint: Stint
    response_used: timedelta  # business time to the response (so far, while there is none)
    resolution_used: timedelta  # business time to the resolution (so far; to the routing away)
    response_met: bool | None  # True met, False missed, None undecided (still running, or routed away in time)
    resolution_met: bool | None

    @property
    def resolved(self) -> bool:
        return self.stint.resolved_at is not None


def _verdict(done_at: datetime | None, spent: timedelta, target: timedelta) -> bool | None:
    """Met when done within the target; missed once the clock reached it undone; else undecided."""
    if done_at is not None:
        return spent <= target
    return False if spent >= target else None


def outcome(stint: Stint, policy: Policy, calendar: Calendar, at: datetime) -> Outcome:
    """``stint`` against ``policy`` in ``calendar`` as of ``at``: the business time each target took (or has taken
    so far) and whether it was met, missed, or is undecided (still running; routed away before it was due)."""
    if policy.around_the_clock:
        calendar = Calendar.around_the_clock(calendar.timezone)
    spans = stint.spans()
    responded = stint.responded_at or stint.resolved_at
    resolution_at = stint.resolved_at or stint.end or at
    response_at = responded or stint.end or at
    response_used = used(calendar, spans, min(response_at, at))
    resolution_used = used(calendar, spans, min(resolution_at, at))
    return Outcome(
        stint,
        response_used,
        resolution_used,
        _verdict(responded, response_used, policy.target(Target.RESPONSE)),
        _verdict(stint.resolved_at, resolution_used, policy.target(Target.RESOLUTION)),
    )


def paused(stint: Stint) -> bool:
    """The group's clock stands still because the ticket waits on the caller."""
    return stint.open and stint.status in PAUSED and stint.status not in DONE
