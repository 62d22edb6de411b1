"""The SLA clock of one ticket: pure arithmetic over its status history, its policy and its calendar.

The clock runs from the ticket's creation while its status is one that has work to do, and stands still while
it waits on the caller (``waiting``: the status rows of the history say when) and while it is resolved or
closed (a reopened ticket resumes where it stopped). Time counts only inside the calendar's business hours.

- response target: business time on the running clock until the first agent response (``first_response_at``);
  met once there is one.
- resolution target: business time on the running clock until the ticket is resolved; met while it is
  resolved or closed.

A deadline is the instant the clock reaches a share of a target: the warning at ``warn_share`` (default 75 %),
the breach at 100 %. While the clock stands still before reaching it there is no instant yet (``None``); the
status change that restarts the clock computes it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from uhd_telephony.sla.calendar import Calendar, add_business_time, business_time_between

# the statuses in which the clock stands still: waiting on the caller, and nothing left to do
PAUSED = frozenset({"waiting", "resolved", "closed"})
DONE = frozenset({"resolved", "closed"})
DEFAULT_WARN_SHARE = 0.75


class Kind(StrEnum):
    """A foreseeable miss (``warning``, at the warning share of the target) or a miss (``breach``)."""

    WARNING = "warning"
    BREACH = "breach"


class Target(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class Policy:
    """The targets of one priority of one tenant (business time of ``calendar``)."""

    priority: int
    response: timedelta
    resolution: timedelta
    warn_share: float = DEFAULT_WARN_SHARE
    around_the_clock: bool = False  # counted 24/7 instead of in the tenant's business hours

    def target(self, which: Target) -> timedelta:
        return self.response if which is Target.RESPONSE else self.resolution

    def threshold(self, which: Target, kind: Kind) -> timedelta:
        """Business time on the clock at which ``kind`` of ``which`` is due (whole microseconds)."""
        full = self.target(which)
        if kind is Kind.BREACH:
            return full
        return timedelta(microseconds=round(full / timedelta(microseconds=1) * self.warn_share))


@dataclass(frozen=True, slots=True)
class Facts:
    """What the clock needs of a ticket: creation, the status changes after it (oldest first), the response."""

    created_at: datetime
    status: str
    changes: tuple[tuple[datetime, str], ...] = ()  # (when, new status), in the order they happened
    first_response_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    target: Target
    kind: Kind
    at: datetime  # the instant the clock reaches the share of the target (UTC)
    threshold: timedelta  # business time on the clock at that instant


def running_spans(facts: Facts) -> list[tuple[datetime, datetime | None]]:
    """The spans in which the clock runs; the last one is open (``None``) while the ticket is worked on."""
    spans: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = facts.created_at  # a new ticket's clock runs from its creation
    last = facts.created_at
    for at, status in facts.changes:  # in the order they happened (history id order)
        at = last = max(at, last)
        if status in PAUSED and since is not None:
            if at > since:
                spans.append((since, at))
            since = None
        elif status not in PAUSED and since is None:
            since = at
    if since is not None:
        spans.append((since, None))
    return spans


def crossing(
    calendar: Calendar, spans: Sequence[tuple[datetime, datetime | None]], threshold: timedelta
) -> datetime | None:
    """The instant the running clock reaches ``threshold`` of business time; None while it stands still short
    of it."""
    used = timedelta(0)
    for start, end in spans:
        if end is None:
            return add_business_time(calendar, start, threshold - used)
        length = business_time_between(calendar, start, end)
        if used + length >= threshold:
            return add_business_time(calendar, start, threshold - used)
        used += length
    return None


def used(calendar: Calendar, spans: Sequence[tuple[datetime, datetime | None]], now: datetime) -> timedelta:
    """Business time on the clock at ``now``."""
    total = timedelta(0)
    for start, end in spans:
        if start >= now:
            break
        total += business_time_between(calendar, start, now if end is None else min(end, now))
    return total


def met(facts: Facts, which: Target) -> bool:
    """The response target is met once an agent responded, the resolution target while resolved or closed."""
    if which is Target.RESPONSE:
        return facts.first_response_at is not None or facts.status in DONE
    return facts.status in DONE


def deadlines(facts: Facts, policy: Policy, calendar: Calendar) -> list[Deadline]:
    """The warning and breach instants of the targets not met yet, earliest first (none while paused short)."""
    if policy.around_the_clock:
        calendar = Calendar.around_the_clock(calendar.timezone)
    spans = running_spans(facts)
    found: list[Deadline] = []
    for which in Target:
        if met(facts, which):
            continue
        for kind in Kind:
            threshold = policy.threshold(which, kind)
            at = crossing(calendar, spans, threshold)
            if at is not None:
                found.append(Deadline(which, kind, at, threshold))
    return sorted(found, key=lambda d: (d.at, d.kind is Kind.WARNING, d.target.value))


def pending(found: Iterable[Deadline], fired: set[tuple[str, str]]) -> list[Deadline]:
    """The deadlines still to fire: not fired yet, and no warning once its breach has fired."""
    return [
        d
        for d in found
        if (d.kind.value, d.target.value) not in fired
        and not (d.kind is Kind.WARNING and (Kind.BREACH.value, d.target.value) in fired)
    ]


def due(found: Iterable[Deadline], now: datetime) -> list[Deadline]:
    """What fires at ``now``: every deadline reached, but a warning only while its breach is still ahead
    (after a long outage the breach alone goes out, not a warning that is moot)."""
    reached = [d for d in found if d.at <= now]
    breached = {d.target for d in reached if d.kind is Kind.BREACH}
    return [d for d in reached if not (d.kind is Kind.WARNING and d.target in breached)]
