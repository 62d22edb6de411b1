"""Business calendars: when the SLA clock of a tenant runs, and whether a call came outside business hours.

A calendar is either around the clock (24/7) or business hours per weekday — several intervals a day, local
wall-clock time of its time zone (Europe/Berlin unless configured) — minus public holidays (German holidays of
one federal state from the ``holidays`` package, in the categories the tenant picks: Bavaria's Mariä Himmelfahrt
is only in ``catholic``) and extra closed days. 24 and 31 December are working days unless listed as closed.

Everything here is pure: instants are timezone-aware datetimes (compared and added in UTC, so a DST change
neither stretches nor shrinks a business hour), durations are ``timedelta`` (exact microseconds: adding business
time is additive to the microsecond). ``is_business_time``, ``add_business_time`` and ``business_time_between``
agree by construction: all three walk the same business spans.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import LOCAL_TZ_NAME, translator
from uhd_telephony.i18n.format import weekday_names

DEFAULT_TIMEZONE = "Europe/Berlin"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
# the German federal states (ISO 3166-2:DE without the prefix); "Augsburg" is a city with its own holiday
GERMAN_STATES = ("BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH")
HOLIDAY_CATEGORIES = ("public", "catholic")
# a calendar with business hours always has a working day within a few weeks; this many closed days in a row
# means the data is broken (every day listed as closed), not that the deadline is years away
MAX_CLOSED_RUN_DAYS = 3 * 366
_CACHE_DAYS = 4096
_INTERVAL_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Span = tuple[datetime, datetime]


class SlaError(InvalidInput):
    """An SLA calendar, policy or contact that cannot be used; the message names what is wrong."""

    error_id = "invalid-sla"


def _aware(instant: datetime, name: str = "instant") -> datetime:
    if not isinstance(instant, datetime) or instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    return instant


def _minutes(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise SlaError(f"business hours {text!r}: not a time of day (00:00..24:00)")
    return h * 60 + m


def parse_interval(text: Any) -> tuple[int, int]:
    """``"07:30-16:00"`` as minutes since midnight ``(450, 960)``; ``24:00`` ends a day."""
    if not isinstance(text, str) or (match := _INTERVAL_RE.match(text)) is None:
        raise SlaError(f"business hours are intervals like '07:30-16:00', got {text!r}")
    start = _minutes(match[1], match[2], text)
    end = _minutes(match[3], match[4], text)
    if start >= end:
        raise SlaError(f"business hours {text!r}: the interval ends before it starts")
    return start, end


def format_interval(interval: tuple[int, int]) -> str:
    start, end = interval
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def parse_week(data: Any) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Business hours per weekday (``{"mon": ["07:00-12:00", "13:00-17:00"], ...}``): seven sorted, disjoint
    interval lists, Monday first; a weekday not named is closed."""
    if not isinstance(data, Mapping):
        raise SlaError("'hours' maps weekdays (mon..sun) to lists of intervals like '07:00-17:00'")
    unknown = set(map(str, data)) - set(WEEKDAYS)
    if unknown:
        raise SlaError(f"unknown weekday(s) {', '.join(sorted(unknown))} in 'hours': use {', '.join(WEEKDAYS)}")
    week: list[tuple[tuple[int, int], ...]] = []
    for day in WEEKDAYS:
        raw = data.get(day) or []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise SlaError(f"hours of {day}: a list of intervals like '07:00-17:00'")
        intervals = sorted(parse_interval(item) for item in raw)
        for (_, end), (start, _) in itertools.pairwise(intervals):
            if start < end:
                raise SlaError(f"hours of {day}: intervals overlap")
        week.append(tuple(intervals))
    if not any(week):
        raise SlaError("business hours without a single open interval: use 'always: true' for 24/7")
    return tuple(week)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise SlaError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None


@dataclass(frozen=True)
class Calendar:
    """A tenant's business calendar; ``always`` is 24/7 (holidays and closed days then do not matter)."""

    always: bool = False
    hours: tuple[tuple[tuple[int, int], ...], ...] = ()  # per weekday, Monday first: (start, end) minutes
    timezone: str = DEFAULT_TIMEZONE
    holiday_state: str | None = None  # German federal state, e.g. "NW"; None: no public holidays
    holiday_categories: tuple[str, ...] = ("public",)
    closed_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if self.always:
            return
        if len(self.hours) != 7 or not any(self.hours):
            raise SlaError("a business-hours calendar needs hours for the seven weekdays, at least one open")
        if self.holiday_state is not None and self.holiday_state not in GERMAN_STATES:
            raise SlaError(
                f"unknown federal state {self.holiday_state!r}: one of {', '.join(GERMAN_STATES)}",
                {"field": "holidays.state"},
            )
        bad = [c for c in self.holiday_categories if c not in HOLIDAY_CATEGORIES]
        if bad:
            raise SlaError(f"unknown holiday category {bad[0]!r}: one of {', '.join(HOLIDAY_CATEGORIES)}")

    # -- construction -------------------------------------------------------------------------------------------

    @classmethod
    def around_the_clock(cls, timezone: str = DEFAULT_TIMEZONE) -> Calendar:
        return cls(always=True, timezone=timezone)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Calendar:
        """From the file/database shape: ``{always}`` or ``{hours, holidays: {state, categories}, closed,
        timezone}``; SlaError names what is wrong."""
        if not isinstance(data, Mapping):
            raise SlaError("a calendar is a mapping (always, hours, holidays, closed, timezone)")
        unknown = set(data) - {"always", "hours", "holidays", "closed", "timezone"}
        if unknown:
            raise SlaError(f"unknown calendar key(s) {', '.join(sorted(map(str, unknown)))}")
        timezone = data.get("timezone", DEFAULT_TIMEZONE)
        if not isinstance(timezone, str):
            raise SlaError("'timezone' is an IANA name such as Europe/Berlin")
        always = data.get("always", False)
        if not isinstance(always, bool):
            raise SlaError("'always' is true (24/7) or false")
        if always:
            if "hours" in data:
                raise SlaError("a 24/7 calendar ('always: true') has no business hours")
            return cls.around_the_clock(timezone)
        if "hours" not in data:
            raise SlaError("a calendar needs 'hours' per weekday, or 'always: true' for 24/7")
        hol = data.get("holidays") or {}
        if not isinstance(hol, Mapping) or set(hol) - {"state", "categories"}:
            raise SlaError("'holidays' is a mapping with 'state' (e.g. NW) and optional 'categories'")
        state = hol.get("state")
        if state is not None and not isinstance(state, str):
            raise SlaError("'holidays.state' is a federal state code such as NW")
        categories = hol.get("categories", ["public"])
        if isinstance(categories, str):
            categories = [categories]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise SlaError("'holidays.categories' is a list: public, catholic")
        closed_raw = data.get("closed") or []
        if not isinstance(closed_raw, list):
            raise SlaError("'closed' is a list of dates (YYYY-MM-DD)")
        closed: set[date] = set()
        for item in closed_raw:
            try:
                closed.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
            except ValueError:
                raise SlaError(f"closed day {item!r} is not a date (YYYY-MM-DD)") from None
        return cls(
            hours=parse_week(data["hours"]),
            timezone=timezone,
            holiday_state=state.upper() if state else None,
            holiday_categories=tuple(dict.fromkeys(c.lower() for c in categories)) or ("public",),
            closed_days=frozenset(closed),
        )

    def to_config(self) -> dict[str, Any]:
        """The JSON shape ``from_config`` reads (stored in the database, shown by the API)."""
        if self.always:
            return {"always": True, "timezone": self.timezone}
        return {
            "timezone": self.timezone,
            "hours": {
                day: [format_interval(i) for i in intervals]
                for day, intervals in zip(WEEKDAYS, self.hours, strict=True)
                if intervals
            },
            "holidays": {"state": self.holiday_state, "categories": list(self.holiday_categories)},
            "closed": sorted(d.isoformat() for d in self.closed_days),
        }

    # -- days ---------------------------------------------------------------------------------------------------

    @cached_property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    @cached_property
    def _holidays(self) -> holidays.HolidayBase | None:
        if self.holiday_state is None:
            return None
        return _holiday_table(self.holiday_state, self.holiday_categories)

    @cached_property
    def _day_cache(self) -> dict[date, tuple[Span, ...]]:
        return {}

    def is_closed_day(self, day: date) -> bool:
        """A public holiday of the calendar's state (and categories) or an extra closed day."""
        if day in self.closed_days:
            return True
        hol = self._holidays
        return hol is not None and day in hol

    def holiday_name(self, day: date) -> str | None:
        hol = self._holidays
        return None if hol is None else hol.get(day)

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes >= DAY_MINUTES:
            day, minutes = day + timedelta(days=1), minutes - DAY_MINUTES
        # a wall-clock time in the spring-forward gap (02:30) is read with the offset before the change
        return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone).astimezone(UTC)

    def day_spans(self, day: date) -> tuple[Span, ...]:
        """The business spans (UTC, half-open) of one local date: sorted, disjoint, none empty."""
        cache = self._day_cache
        found = cache.get(day)
        if found is not None:
            return found
        spans: list[Span] = []
        if not self.is_closed_day(day):
            raw = sorted(
                (self._instant(day, start), self._instant(day, end)) for start, end in self.hours[day.weekday()]
            )
            for start, end in raw:
                if end <= start:
                    continue  # an interval inside the spring-forward gap does not exist that day
                if spans and start <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], max(spans[-1][1], end))
                else:
                    spans.append((start, end))
        if len(cache) >= _CACHE_DAYS:
            cache.clear()
        result = cache[day] = tuple(spans)
        return result

    def spans_from(self, start: datetime) -> Iterator[Span]:
        """Business spans from ``start`` on, in order, clipped to start at ``start`` or later; endless."""
        _aware(start, "start")
        start = start.astimezone(UTC)
        if self.always:
            yield start, datetime.max.replace(tzinfo=UTC)
            return
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        floor = start
        closed_run = 0
        while True:
            found = False
            for s, e in self.day_spans(day):
                s = max(s, floor)  # clip to ``start`` and to the end of the previous span (a DST quirk)
                if e <= s:
                    continue
                found = True
                floor = e
                yield s, e
            closed_run = 0 if found else closed_run + 1
            if closed_run > MAX_CLOSED_RUN_DAYS:
                raise SlaError(f"calendar has no business time for {MAX_CLOSED_RUN_DAYS} days after {start}")
            day += timedelta(days=1)


@functools.lru_cache(maxsize=64)
def _holiday_table(state: str, categories: tuple[str, ...]) -> holidays.HolidayBase:
    # building one costs milliseconds; it fills in each year on first use and is shared by every calendar of the state
    return holidays.country_holidays("DE", subdiv=state, categories=categories)


@functools.lru_cache(maxsize=256)
def _stored(config_json: str) -> Calendar:
    return Calendar.from_config(json.loads(config_json))


def stored_calendar(config: Mapping[str, Any]) -> Calendar:
    """``Calendar.from_config`` of a stored calendar, memoised on its content: a tenant's calendar is one object
    in the process, its holiday table and business spans computed once (calendars are immutable values)."""
    return _stored(json.dumps(config, sort_keys=True, default=str))


def is_business_time(calendar: Calendar, instant: datetime) -> bool:
    """Whether ``instant`` (timezone-aware) lies in the calendar's business hours: the one definition of
    "outside business hours" for the SLA clock and the call KPIs. A 24/7 calendar is always open."""
    _aware(instant)
    if calendar.always:
        return True
    at = instant.astimezone(UTC)
    local = at.astimezone(calendar.zone).date()
    for day in (local - timedelta(days=1), local, local + timedelta(days=1)):
        for start, end in calendar.day_spans(day):
            if start <= at < end:
                return True
    return False


def add_business_time(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant by which ``duration`` of business time has passed since ``start`` (in UTC).

    For a positive duration the result is inside business hours or exactly at the end of a business interval
    (a target of 8 business hours from Friday 09:00 with hours 08:00-17:00 is Monday 09:00, one from 09:00 to
    17:00 is 17:00 that day). A zero duration is ``start`` itself.
    """
    _aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"a business duration cannot be negative: {duration}")
    if calendar.always or duration == timedelta(0):
        return start.astimezone(UTC) + duration
    remaining = duration
    for s, e in calendar.spans_from(start):
        length = e - s
        if remaining <= length:
            return s + remaining
        remaining -= length
    raise AssertionError("spans_from is endless")  # pragma: no cover


def business_time_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Business time in ``[start, end)``; zero when ``end`` is not after ``start``."""
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        return timedelta(0)
    if calendar.always:
        return end - start
    total = timedelta(0)
    for s, e in calendar.spans_from(start):
        if s >= end:
            break
        total += min(e, end) - s
    return total


def describe(calendar: Calendar) -> str:
    """One line for logs and mails: ``24/7`` or ``mon 07:00-17:00, ... (holidays NW)``."""
    if calendar.always:
        return "24/7"
    days = ", ".join(
        f"{day} {' '.join(format_interval(i) for i in intervals)}"
        for day, intervals in zip(WEEKDAYS, calendar.hours, strict=True)
        if intervals
    )
    extra = f" (holidays {calendar.holiday_state})" if calendar.holiday_state else ""
    return days + extra


EN_DASH = "\u2013"
# the states by name (proper names: the same in German and English mails); "Augsburg" is the city's holiday
STATE_NAMES: Mapping[str, str] = {
    "BB": "Brandenburg", "BE": "Berlin", "BW": "Baden-Württemberg", "BY": "Bayern", "HB": "Bremen",
    "HE": "Hessen", "HH": "Hamburg", "MV": "Mecklenburg-Vorpommern", "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen", "RP": "Rheinland-Pfalz", "SH": "Schleswig-Holstein", "SL": "Saarland",
    "SN": "Sachsen", "ST": "Sachsen-Anhalt", "TH": "Thüringen",
}  # fmt: skip


def describe_in(calendar: Calendar | None, locale: str | None) -> str:
    """The business hours in words for people (pages, mails, reports): "rund um die Uhr" / "around the clock", or
    "Mo. 07:00–17:00; Di. …, ohne die Feiertage (Nordrhein-Westfalen)". ``describe`` is the one for logs."""
    t = translator(locale)
    if calendar is None or calendar.always:
        return t.gettext("around the clock")
    names = weekday_names(locale)
    text = "; ".join(
        f"{names[day]} {', '.join(format_interval(i).replace('-', EN_DASH) for i in intervals)}"
        for day, intervals in enumerate(calendar.hours)
        if intervals
    )
    if calendar.holiday_state:
        state = STATE_NAMES.get(calendar.holiday_state, calendar.holiday_state)
        text = t.gettext("%(hours)s, without the public holidays (%(state)s)", hours=text, state=state)
    if calendar.timezone != LOCAL_TZ_NAME:
        text = t.gettext("%(hours)s, time zone %(zone)s", hours=text, zone=calendar.timezone)
    return text


__all__: Sequence[str] = [
    "DEFAULT_TIMEZONE",
    "Calendar",
    "SlaError",
    "add_business_time",
    "business_time_between",
    "describe",
    "describe_in",
    "is_business_time",
    "stored_calendar",
]
