"""Business calendars: hours, German holidays per state, DST — and the arithmetic's laws, property-tested."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sla.conftest import berlin
from uhd_telephony.sla.calendar import (
    GERMAN_STATES,
    Calendar,
    SlaError,
    add_business_time,
    business_time_between,
    is_business_time,
)

WEEKDAYS_8_17 = {day: ["08:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
NW = Calendar.from_config({"hours": WEEKDAYS_8_17, "holidays": {"state": "NW"}})
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def test_business_hours_are_half_open_intervals_of_local_time() -> None:
    assert is_business_time(NW, berlin(2026, 3, 2, 8, 0))  # Monday
    assert is_business_time(NW, berlin(2026, 3, 2, 16, 59, 59))
    assert not is_business_time(NW, berlin(2026, 3, 2, 17, 0))
    assert not is_business_time(NW, berlin(2026, 3, 2, 7, 59, 59))
    assert not is_business_time(NW, berlin(2026, 3, 7, 10, 0))  # Saturday
    # UTC or any offset: the same instant, the same answer (08:30 Berlin in winter is 07:30 UTC)
    assert is_business_time(NW, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_business_time(NW, datetime(2026, 3, 2, 9, 0))


def test_several_intervals_a_day() -> None:
    lunch = Calendar.from_config({"hours": {"mon": ["12:30-17:00", "07:00-12:00"]}})
    assert is_business_time(lunch, berlin(2026, 3, 2, 11, 59))
    assert not is_business_time(lunch, berlin(2026, 3, 2, 12, 15))
    assert add_business_time(lunch, berlin(2026, 3, 2, 11, 0), 2 * H) == berlin(2026, 3, 2, 13, 30)
    assert business_time_between(lunch, berlin(2026, 3, 2, 0, 0), berlin(2026, 3, 3, 0, 0)) == timedelta(hours=9.5)


def test_german_holidays_follow_the_state_and_its_categories() -> None:
    corpus_christi = berlin(2026, 6, 4, 10, 0)  # Thursday: NW, BY, ... but not Berlin
    assert not is_business_time(NW, corpus_christi)
    assert NW.holiday_name(date(2026, 6, 4)) == "Corpus Christi"
    berlin_cal = Calendar.from_config({"hours": WEEKDAYS_8_17, "holidays": {"state": "BE"}})
    assert is_business_time(berlin_cal, corpus_christi)
    # German Unity Day everywhere; 2025-10-03 is a Friday
    for state in GERMAN_STATES:
        cal = Calendar.from_config({"hours": WEEKDAYS_8_17, "holidays": {"state": state}})
        assert not is_business_time(cal, berlin(2025, 10, 3, 10, 0)), state
    # Bavaria: Mariä Himmelfahrt (Friday 15 August 2025) only in the catholic category
    by_public = Calendar.from_config({"hours": WEEKDAYS_8_17, "holidays": {"state": "BY"}})
    by_catholic = Calendar.from_config(
        {"hours": WEEKDAYS_8_17, "holidays": {"state": "BY", "categories": ["public", "catholic"]}}
    )
    assert is_business_time(by_public, berlin(2025, 8, 15, 10, 0))
    assert not is_business_time(by_catholic, berlin(2025, 8, 15, 10, 0))
    # 24 and 31 December are working days, unless the tenant closes them
    assert is_business_time(NW, berlin(2026, 12, 24, 10, 0)) and is_business_time(NW, berlin(2026, 12, 31, 10, 0))
    closing = Calendar.from_config({"hours": WEEKDAYS_8_17, "holidays": {"state": "NW"}, "closed": ["2026-12-24"]})
    assert not is_business_time(closing, berlin(2026, 12, 24, 10, 0))
    assert is_business_time(closing, berlin(2026, 12, 31, 10, 0))


def test_adding_business_time() -> None:
    friday_9 = berlin(2026, 3, 6, 9, 0)
    assert add_business_time(NW, friday_9, 8 * H) == berlin(2026, 3, 6, 17, 0)  # by the end of the day
    assert add_business_time(NW, friday_9, 9 * H) == berlin(2026, 3, 9, 9, 0)  # Monday
    assert add_business_time(NW, berlin(2026, 3, 7, 12, 0), timedelta(0)) == berlin(2026, 3, 7, 12, 0)
    assert add_business_time(NW, berlin(2026, 3, 7, 12, 0), US) == berlin(2026, 3, 9, 8, 0) + US
    assert business_time_between(NW, friday_9, berlin(2026, 3, 9, 9, 0)) == 9 * H
    with pytest.raises(ValueError, match="negative"):
        add_business_time(NW, friday_9, -H)


def test_a_dst_change_neither_stretches_nor_shrinks_the_business_day() -> None:
    always_open = Calendar.from_config({"hours": {d: ["00:00-24:00"] for d in ("sat", "sun", "mon")}})
    # Sunday 29 March 2026 has 23 hours in Berlin, Sunday 25 October 25
    assert business_time_between(always_open, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 23 * H
    assert business_time_between(always_open, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 25 * H
    early = Calendar.from_config({"hours": {"sun": ["01:00-04:00"]}})
    assert business_time_between(early, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 2 * H
    assert add_business_time(early, berlin(2026, 3, 29, 0, 0), 2 * H) == berlin(2026, 3, 29, 4, 0)


def test_24_7_is_plain_time() -> None:
    always = Calendar.from_config({"always": True})
    start = berlin(2026, 12, 24, 23, 0)
    assert add_business_time(always, start, 3 * H) == start + 3 * H
    assert is_business_time(always, berlin(2026, 12, 25, 3, 0))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"hours": {"mon": ["17:00-08:00"]}}, "ends before it starts"),
        ({"hours": {"mon": ["08:00-12:00", "11:00-13:00"]}}, "overlap"),
        ({"hours": {"mon": ["8-17"]}}, "intervals like"),
        ({"hours": {"mon": ["08:00-24:30"]}}, "not a time of day"),
        ({"hours": {"monday": ["08:00-17:00"]}}, "unknown weekday"),
        ({"hours": {}}, "always: true"),
        ({"hours": WEEKDAYS_8_17, "holidays": {"state": "XX"}}, "unknown federal state"),
        ({"hours": WEEKDAYS_8_17, "holidays": {"state": "BY", "categories": ["school"]}}, "holiday category"),
        ({"hours": WEEKDAYS_8_17, "closed": ["24.12.2026"]}, "not a date"),
        ({"hours": WEEKDAYS_8_17, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"always": True, "hours": WEEKDAYS_8_17}, "no business hours"),
        ({"hourz": WEEKDAYS_8_17}, "unknown calendar key"),
    ],
)
def test_bad_calendars_are_refused_with_a_reason(config: dict, message: str) -> None:
    with pytest.raises(SlaError, match=message):
        Calendar.from_config(config)


def test_a_calendar_survives_its_round_trip_through_the_database_shape() -> None:
    config = {
        "timezone": "Europe/Berlin",
        "hours": {"mon": ["07:00-12:00", "12:30-17:00"], "fri": ["07:00-15:00"]},
        "holidays": {"state": "BY", "categories": ["public", "catholic"]},
        "closed": ["2026-12-24"],
    }
    calendar = Calendar.from_config(config)
    assert calendar.to_config() == config
    assert Calendar.from_config(calendar.to_config()) == calendar


# -- the laws of the arithmetic -------------------------------------------------------------------------------

_minute_marks = st.lists(st.integers(0, 96).map(lambda q: q * 15), min_size=0, max_size=6, unique=True)


def _day(marks: list[int]) -> list[str]:
    marks = sorted(marks)[: len(marks) // 2 * 2]
    return [
        f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in zip(marks[::2], marks[1::2], strict=True)
    ]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    if draw(st.integers(0, 9)) == 0:
        return Calendar.from_config({"always": True})
    hours = {day: _day(draw(_minute_marks)) for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    hours = {day: spans for day, spans in hours.items() if spans}
    if not hours:
        hours = {"wed": ["09:00-10:00"]}
    config: dict = {
        "hours": hours,
        "timezone": draw(st.sampled_from(["Europe/Berlin", "Europe/Berlin", "America/New_York", "Asia/Tokyo"])),
    }
    state = draw(st.none() | st.sampled_from(GERMAN_STATES))
    if state is not None:
        config["holidays"] = {"state": state, "categories": draw(st.sampled_from([["public"], ["public", "catholic"]]))}
    return Calendar.from_config(config)


instants = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
durations = st.integers(0, 60 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us))
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(calendars(), instants, durations, durations)
def test_adding_business_time_is_monotonic_and_additive(
    calendar: Calendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    first = add_business_time(calendar, start, a)
    both = add_business_time(calendar, start, a + b)
    assert first <= both
    if b > timedelta(0):
        assert first < both
    assert add_business_time(calendar, first, b) == both
    assert business_time_between(calendar, start, both) == a + b


@PROPERTY
@given(calendars(), instants, durations)
def test_a_due_instant_never_lands_outside_business_hours(calendar: Calendar, start: datetime, d: timedelta) -> None:
    due = add_business_time(calendar, start, d)
    if d > timedelta(0):
        # the last microsecond counted was business time: the result is inside hours or right at their end
        assert is_business_time(calendar, due - US)
        assert business_time_between(calendar, due - US, due) == US


@PROPERTY
@given(calendars(), instants, st.lists(durations, min_size=2, max_size=2))
def test_business_time_between_adds_up(calendar: Calendar, start: datetime, gaps: list[timedelta]) -> None:
    middle = start + gaps[0] / 10
    end = middle + gaps[1] / 10
    whole = business_time_between(calendar, start, end)
    assert whole == business_time_between(calendar, start, middle) + business_time_between(calendar, middle, end)
    assert timedelta(0) <= whole <= end - start


@PROPERTY
@given(calendars(), instants)
def test_is_business_time_agrees_with_the_arithmetic(calendar: Calendar, instant: datetime) -> None:
    assert is_business_time(calendar, instant) == (business_time_between(calendar, instant, instant + US) == US)


@PROPERTY
@given(instants, durations, st.sampled_from(["Europe/Berlin", "America/New_York"]))
def test_around_the_clock_is_plain_addition(start: datetime, d: timedelta, zone: str) -> None:
    always = Calendar.around_the_clock(zone)
    assert add_business_time(always, start, d) == start + d
    assert business_time_between(always, start, start + d) == d
    assert is_business_time(always, start)
