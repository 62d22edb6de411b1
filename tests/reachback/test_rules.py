"""The definition: which stays are lost, who is identified, and the window in business time across a closed night
and weekend (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from uhd_telephony.calls.records import Outcome
from uhd_telephony.reachback.rules import Contact, Reach, Stay, caller_key, classify, first_reach
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.tenants.contract import DEFAULT_RULES, KpiRules

WEEKDAYS_8_17 = {day: ["08:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
CAL = Calendar.from_config({"hours": WEEKDAYS_8_17})
# Friday 4 December 2026, 16:00 Berlin (15:00 UTC): one business hour left that day
FRIDAY_16 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def stay(outcome: Outcome = Outcome.ABANDONED, *, number: str = "+492319860572", wait: float | None = 30.0,
         at: datetime = FRIDAY_16, transfer_in: bool = False, queue: str = "hotline") -> Stay:  # fmt: skip
    return Stay(queue, outcome, at, wait, number, transfer_in)


@pytest.mark.parametrize("number", ["", "anonymous", "Anonymous", "withheld", "unknown", "<unknown>", "+49 221 ***"])
def test_a_number_that_identifies_nobody_makes_an_anonymous_lost_stay(number: str) -> None:
    assert caller_key(number) is None
    assert classify(stay(number=number), DEFAULT_RULES, CAL) == Reach.ANONYMOUS


def test_the_same_phone_written_differently_is_one_caller() -> None:
    assert caller_key("0231 9860572") == caller_key("+492319860572") == caller_key("0049 231 9860572")
    assert caller_key("+492319860573") != caller_key("+492319860572")


@pytest.mark.parametrize(
    ("kwargs", "reach"),
    [
        ({}, Reach.OPEN),
        ({"outcome": Outcome.TIMEOUT}, Reach.OPEN),
        ({"outcome": Outcome.UNKNOWN, "wait": None}, Reach.OPEN),
        ({"outcome": Outcome.SHORT_ABANDON, "wait": 2.0}, Reach.EXCLUDED),  # a short abandon
        ({"outcome": Outcome.ABANDONED, "wait": 4.9}, Reach.EXCLUDED),  # short by the contract's 5 s
        ({"outcome": Outcome.CLOSED}, Reach.EXCLUDED),  # never in a queue
        ({"outcome": Outcome.INCIDENT_LEFT}, Reach.EXCLUDED),
        ({"transfer_in": True}, Reach.EXCLUDED),
        ({"at": FRIDAY_16 + timedelta(hours=3)}, Reach.EXCLUDED),  # 19:00: outside business hours
    ],
)
def test_which_stays_are_lost(kwargs: dict[str, object], reach: Reach) -> None:
    assert classify(stay(**kwargs), DEFAULT_RULES, CAL) == reach  # type: ignore[arg-type]


def test_the_contract_decides_short_abandons_outside_hours_and_queues() -> None:
    rules = KpiRules(short_abandon_s=10.0, outside_hours_count=True, queues=frozenset({"hotline"}))
    assert classify(stay(wait=8.0), rules, CAL) == Reach.EXCLUDED
    assert classify(stay(at=FRIDAY_16 + timedelta(hours=3)), rules, CAL) == Reach.OPEN
    assert classify(stay(queue="second-level"), rules, CAL) == Reach.EXCLUDED


def test_the_window_counts_business_time_across_the_night_and_the_weekend() -> None:
    ended = FRIDAY_16
    key = "+492319860572"
    # Friday 16:00-17:00 is one business hour; Monday 08:00-09:00 the second: Monday 08:59 is inside
    monday_0859 = datetime(2026, 12, 7, 7, 59, tzinfo=UTC)
    found = first_reach(ended, key, [Contact(key, monday_0859, Reach.CALL_AGAIN)], 7200, CAL)
    assert found is not None and found[1] == pytest.approx(7140)
    monday_0901 = monday_0859 + timedelta(minutes=2)
    assert first_reach(ended, key, [Contact(key, monday_0901, Reach.CALL_AGAIN)], 7200, CAL) is None
    # around the clock (no calendar) Monday is far outside 2 h
    assert first_reach(ended, key, [Contact(key, monday_0859, Reach.CALL_AGAIN)], 7200, None) is None


def test_the_earliest_contact_of_the_same_caller_after_the_end_wins() -> None:
    key, other = "+492319860572", "+4930123456"
    contacts = [
        Contact(key, FRIDAY_16 - timedelta(minutes=1), Reach.CALL_AGAIN),  # before the end: not a reach
        Contact(other, FRIDAY_16 + timedelta(minutes=1), Reach.CALL_AGAIN),  # someone else
        Contact(key, FRIDAY_16 + timedelta(minutes=20), Reach.CALL_AGAIN),
        Contact(key, FRIDAY_16 + timedelta(minutes=10), Reach.CALLBACK),
    ]
    found = first_reach(FRIDAY_16, key, contacts, 7200, CAL)
    assert found is not None
    assert found[0].by == Reach.CALLBACK and found[1] == 600
