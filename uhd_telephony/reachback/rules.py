"""Which unanswered queue stays were callers reached back, and how: the one definition (pure).

Unit: the QUEUE STAY, as every KPI (``metrics.kpi``). A *lost stay* is an offered stay of business hours (the
tenant's SLA calendar, ``sla.calendar.is_business_time`` as the KPIs classify; none: around the clock; a contract with
``outside_hours_count`` counts the others too) in a queue the contract counts, that was not answered: ``abandoned``
(not a short abandon by the contract's threshold), ``timeout``, ``overflow``, ``exit_key``, ``callback``,
``refused``, ``unknown``. A transfer in (its conversation had an earlier ``transferred`` stay) is no lost stay, nor
is a call the dialplan kept from the queue (closed, a major incident's announcement).

A lost stay is *identified* when its caller number identifies a phone (one that can be dialled: not empty,
``anonymous``, withheld; ``callbacks.originate.dialable``), else *anonymous*: it can never be reached back and stays a
lost caller. Two numbers are the same phone by ``caller_key`` (E.164 by ``directory.numbers.normalise``, else the
dialled digits), as the callback list decides "the same caller".

An identified lost stay is *reached* when, within the tenant's window (``KpiRules.callback_window_s``, business
seconds of the contract in force on the stay's day; default 2 h), counted in business time of its calendar from the
stay's end:

- ``call_again``: a later stay of the same tenant and the same number was answered (the answer is the reach), or
- ``callback``: a callback entry of the same tenant and the same number reached the caller — the caller's own leg
  of the callback answered (``callbacks.reached_at``, from the dialplan's ``UserEvent UhdCallback``). An entry an
  agent closed by hand as "called back" is NOT a reach: nothing proves the caller answered.

The earliest reach counts; time to reach = business seconds from the stay's end to it. A stay whose window ends in
the next month counts in its own month (periods hold stays by queue entry, as every KPI). Lost callers = lost stays
not reached, anonymous ones included. The figures come from what the matcher stored on each stay (``calls.reach``,
``reached_at``, ``reach_s``), never from caller numbers again: retention may reduce those, the figures stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from uhd_telephony.callbacks.originate import dialable
from uhd_telephony.calls.records import Outcome
from uhd_telephony.directory.numbers import normalise
from uhd_telephony.sla.calendar import Calendar, business_time_between, is_business_time
from uhd_telephony.tenants.contract import KpiRules


class Reach(StrEnum):
    """``calls.reach``: what the matcher decided about an unanswered stay."""

    EXCLUDED = "excluded"  # no lost stay (outside hours, a transfer in, a short abandon, a queue not counted)
    ANONYMOUS = "anonymous"  # lost, no number identifying the caller: never reached
    OPEN = "open"  # identified and lost, not reached (yet: the matcher looks until the window has passed)
    CALL_AGAIN = "call_again"  # reached: the caller called again and was answered
    CALLBACK = "callback"  # reached: a callback's caller leg answered


REACHED = (Reach.CALL_AGAIN, Reach.CALLBACK)
LOST = (Reach.ANONYMOUS, Reach.OPEN, *REACHED)  # every lost stay, reached or not
# unanswered outcomes a lost stay may have (short abandons: by the contract's threshold)
LOST_OUTCOMES = frozenset(
    {
        Outcome.ABANDONED,
        Outcome.SHORT_ABANDON,
        Outcome.TIMEOUT,
        Outcome.OVERFLOW,
        Outcome.EXIT_KEY,
        Outcome.CALLBACK,
        Outcome.REFUSED,
        Outcome.UNKNOWN,
    }
)
ABANDONS = frozenset({Outcome.ABANDONED, Outcome.SHORT_ABANDON})


def caller_key(number: str | None) -> str | None:
    """The phone a caller number names (E.164, or its digits), None when it identifies nobody."""
    digits = dialable(number or "")
    if digits is None:
        return None
    return normalise(number) or digits


@dataclass(frozen=True, slots=True)
class Stay:
    """What the matcher reads of an unanswered stay."""

    queue: str
    outcome: Outcome
    entered_at: datetime
    wait_s: float | None
    caller_number: str
    transfer_in: bool


def classify(stay: Stay, rules: KpiRules, calendar: Calendar | None) -> Reach:
    """``excluded``, ``anonymous`` or ``open`` (a lost stay, not reached yet)."""
    if stay.outcome not in LOST_OUTCOMES or stay.transfer_in or not rules.counts_queue(stay.queue):
        return Reach.EXCLUDED
    if stay.outcome in ABANDONS:
        # the contract's threshold decides what a short abandon is (the tracker's outcome without a wait)
        short = stay.outcome == Outcome.SHORT_ABANDON if stay.wait_s is None else stay.wait_s < rules.short_abandon_s
        if short:
            return Reach.EXCLUDED
    business = calendar is None or is_business_time(calendar, stay.entered_at)
    if not business and not rules.outside_hours_count:
        return Reach.EXCLUDED
    return Reach.OPEN if caller_key(stay.caller_number) is not None else Reach.ANONYMOUS


def business_seconds(calendar: Calendar | None, start: datetime, end: datetime) -> float:
    """Business time in ``[start, end)`` in seconds (no calendar: wall-clock time)."""
    if calendar is None:
        return max(0.0, (end - start).total_seconds())
    return business_time_between(calendar, start, end) / timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Contact:
    """A later contact with a caller: a stay answered (``call_again``) or a callback's caller leg (``callback``)."""

    key: str
    at: datetime
    by: Reach


def first_reach(
    ended_at: datetime, key: str, contacts: list[Contact], window_s: float, calendar: Calendar | None
) -> tuple[Contact, float] | None:
    """The earliest contact with the caller ``key`` after ``ended_at`` within ``window_s`` business seconds, and its
    business seconds from ``ended_at``; None when there is none."""
    best: tuple[Contact, float] | None = None
    for contact in contacts:
        if contact.key != key or contact.at <= ended_at or (best is not None and contact.at >= best[0].at):
            continue
        seconds = business_seconds(calendar, ended_at, contact.at)
        if seconds <= window_s:
            best = (contact, seconds)
    return best
