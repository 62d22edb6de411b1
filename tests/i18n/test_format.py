"""Issue 16: times in Europe/Berlin and the reader's format, durations, numbers; the language negotiation; Msg."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime

from uhd_telephony.errors import NotAuthenticated
from uhd_telephony.i18n import (
    Msg,
    actor_label,
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    format_time,
    negotiate,
    priority_label,
    render,
)
from uhd_telephony.i18n.format import month_name, weekday_names

INSTANT = datetime(2026, 12, 7, 11, 5, 33, 269000, tzinfo=UTC)


def test_times_are_berlin_time_in_the_readers_format() -> None:
    assert format_datetime(INSTANT, "de") == "07.12.2026, 12:05"
    assert format_datetime("2026-12-07T11:05:33.269Z", "de") == "07.12.2026, 12:05"  # the API's ISO text too
    assert format_datetime(INSTANT, "en") == "7 Dec 2026, 12:05"
    assert format_datetime(datetime(2026, 7, 1, 22, 30, tzinfo=UTC), "de") == "02.07.2026, 00:30"  # summer: +2
    assert format_datetime(INSTANT.replace(tzinfo=None), "de") == "07.12.2026, 12:05"  # naive: stored UTC
    assert format_time(INSTANT, "de", seconds=True) == "12:05:33"
    assert format_date(date(2026, 3, 1), "de") == "01.03.2026"
    assert format_datetime(None, "de") == "\u2013"


def test_durations_numbers_and_ratios() -> None:
    assert [format_duration(s, "de") for s in (42, 300, 7200, 5400, 90_000)] == [
        "42 Sek.", "5 Min.", "2 Std.", "1 Std. 30 Min.", "1 Tg. 1 Std.",
    ]  # fmt: skip
    assert format_duration(300, "en") == "5 mins" and format_duration(7200, "en") == "2 hrs"
    assert format_number(1234567, "de") == "1.234.567" and format_number(1234567, "en") == "1,234,567"
    assert format_number(12.25, "de", digits=1) == "12,2" or format_number(12.25, "de", digits=1) == "12,3"
    assert format_percent(0.8534, "de") == "85,3\u00a0%" and format_percent(0.8534, "en") == "85.3%"
    assert format_percent(None, "de") == "\u2013"
    assert weekday_names("de")[0] == "Mo." and month_name(12, "de") == "Dezember" and month_name(12, "en") == "December"


def test_the_language_is_negotiated_among_de_and_en_german_by_default() -> None:
    assert negotiate(None) == "de" and negotiate("") == "de" and negotiate("fr-FR,fr;q=0.9") == "de"
    assert negotiate("en-US,en;q=0.9,de;q=0.8") == "en"
    assert negotiate("de-DE;q=0.5, en;q=0.7") == "en"
    assert negotiate("en;q=0, de") == "de"
    assert negotiate("garbage;;;,=") == "de"


def test_people_and_priorities_in_words() -> None:
    assert actor_label("system", "de") == "System"
    assert actor_label("agent:7", "de", {"agent:7": "Anna Becker"}) == "Anna Becker"
    assert actor_label("agent:7", "de") == "Konto 7" and actor_label("agent:7", "en") == "Account 7"
    assert actor_label("api:test", "de") == "Schnittstelle (test)" and actor_label("cli", "de") == "Kommandozeile"
    assert priority_label(2, "de") == "2 – hoch" and priority_label(None, "de") == "ohne Priorität"
    assert priority_label("none", "en") == "no priority"


def test_a_msg_is_english_for_programs_and_translated_for_people() -> None:
    error = NotAuthenticated(Msg("wrong username or password"))
    assert error.message == "wrong username or password" and error.to_dict()["message"] == error.message
    assert render(error.message, "de") == "Benutzername oder Passwort falsch"
    assert render("plain text", "de") == "plain text"
    later = Msg("too many failed logins: try again in %(seconds)s s", seconds=30)
    assert str(later) == "too many failed logins: try again in 30 s"
    assert later.render("de") == "zu viele fehlgeschlagene Anmeldungen: in 30 s erneut versuchen"
    assert pickle.loads(pickle.dumps(later)).render("en") == str(later)
