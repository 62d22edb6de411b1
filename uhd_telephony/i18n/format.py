"""Times, durations and numbers as people read them: Europe/Berlin, in the reader's language (Babel's CLDR data).

``format_datetime(dt, "de")`` is ``07.12.2026, 12:05`` (English: ``7 Dec 2026, 12:05``); durations are
``5 Min.``, ``2 Std.``, ``1 Std. 30 Min.``; numbers ``1.234``, ratios ``85,3 %``. A stored instant is UTC; what
a page, a mail or a report shows is local time — never an ISO ``…Z``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.dates import get_datetime_format, get_day_names, get_month_names
from babel.numbers import format_decimal
from babel.numbers import format_percent as _babel_percent
from babel.units import format_unit

from uhd_telephony.i18n.catalog import BABEL_LOCALES, check_locale

LOCAL_TZ_NAME = "Europe/Berlin"
LOCAL_TZ = ZoneInfo(LOCAL_TZ_NAME)
DASH = "\u2013"  # no value (no base for a ratio, no time yet)


def babel_locale(locale: str | None) -> str:
    """The formatting locale (``de_DE``, ``en_GB``) of a UI language."""
    return BABEL_LOCALES[check_locale(locale)]


def local(dt: datetime) -> datetime:
    """An instant in Europe/Berlin (a naive one is taken as UTC, as the databases store it)."""
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(LOCAL_TZ)


def parse_instant(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 text (``…Z`` too) or a datetime as an aware datetime; None stays None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_datetime(dt: datetime | str | None, locale: str | None, *, seconds: bool = False) -> str:
    """Date and time in Europe/Berlin: ``07.12.2026, 12:05`` (``seconds``: ``12:05:33``); "–" for None."""
    instant = parse_instant(dt)
    if instant is None:
        return DASH
    when = local(instant)
    loc = babel_locale(locale)
    pattern = get_datetime_format("medium", locale=loc)
    time_text = _babel_time(when, "medium" if seconds else "short", locale=loc)
    return str(pattern).replace("{1}", _babel_date(when, "medium", locale=loc)).replace("{0}", time_text)


def format_date(value: date | datetime | str | None, locale: str | None) -> str:
    """A day: ``07.12.2026`` (English ``7 Dec 2026``); a datetime's day in Europe/Berlin."""
    if isinstance(value, str):
        value = parse_instant(value)
    if value is None:
        return DASH
    day = local(value).date() if isinstance(value, datetime) else value
    return _babel_date(day, "medium", locale=babel_locale(locale))


def format_time(dt: datetime | str | None, locale: str | None, *, seconds: bool = False) -> str:
    """The time of day in Europe/Berlin: ``12:05`` (``seconds``: ``12:05:33``)."""
    instant = parse_instant(dt)
    if instant is None:
        return DASH
    return _babel_time(local(instant), "medium" if seconds else "short", locale=babel_locale(locale))


_UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60), ("duration-second", 1))


def format_duration(seconds: float | None, locale: str | None, *, precision: int = 2) -> str:
    """A duration in its largest units, at most ``precision`` of them: ``42 Sek.``, ``1 Min. 3 Sek.``, ``5 Min.``,
    ``2 Std.``, ``1 Std. 30 Min.`` (English ``5 mins``, ``2 hrs``); from an hour on rounded to the minute."""
    if seconds is None:
        return DASH
    loc = babel_locale(locale)
    rest = round(seconds) if seconds < 3600 else round(seconds / 60) * 60
    parts: list[str] = []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count and len(parts) < precision:
            parts.append(format_unit(count, unit, length="short", locale=loc))
        elif parts:
            break  # "1 Std." rather than "1 Std. 0 Min. 5 Sek."
    return " ".join(parts) or format_unit(0, "duration-second", length="short", locale=loc)


def format_number(value: float | int | Decimal | None, locale: str | None, *, digits: int | None = None) -> str:
    """A number with the language's separators: ``1.234.567``, ``12,5``; ``digits``: exactly that many decimals."""
    if value is None:
        return DASH
    if digits is None:
        return format_decimal(value, locale=babel_locale(locale))
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=babel_locale(locale))


def format_percent(ratio: float | None, locale: str | None, *, digits: int = 1) -> str:
    """A ratio 0..1 as a percentage with the language's sign and spacing: ``85,3 %`` (English ``85.3%``)."""
    if ratio is None:
        return DASH
    loc = Locale.parse(babel_locale(locale))
    pattern = str(loc.percent_formats[None].pattern)
    decimals = "." + "0" * digits if digits else ""
    pattern = pattern.replace("0", "0" + decimals, 1) if "0" in pattern else pattern
    return _babel_percent(ratio, format=pattern, locale=loc)


def weekday_names(
    locale: str | None, width: Literal["abbreviated", "narrow", "short", "wide"] = "abbreviated"
) -> tuple[str, ...]:
    """Monday first: ``Mo.``, ``Di.``, … (German abbreviated), ``Mon``, ``Tue``, … (English)."""
    names = get_day_names(width, context="format", locale=babel_locale(locale))
    return tuple(str(names[i]) for i in range(7))


def month_name(month: int, locale: str | None) -> str:
    """``Dezember`` / ``December``."""
    return str(get_month_names("wide", context="stand-alone", locale=babel_locale(locale))[month])
