"""The pieces around pyst2: decoding, quoting, a reader bounded in time, the database URL, the SQL's columns."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from uhd_telephony.agi import session
from uhd_telephony.agi.callerdb import PLACES_SQL, PLAN_SQL, USERS_SQL, UnsupportedDatabase, target_of
from uhd_telephony.agi.session import (
    AgiSession,
    CallerHungUp,
    DeadlineExceeded,
    LineReader,
    LineWriter,
    agi_quote,
    decode_line,
    process_age_s,
)
from uhd_telephony.directory.models import NUMBERING, PHONES, PLACES, USERS


def test_lines_are_utf8_else_cp1252() -> None:
    assert decode_line("agi_calleridname: Jürgen Müller\n".encode()) == "agi_calleridname: Jürgen Müller\n"
    assert decode_line(b"agi_calleridname: J\xfcrgen M\xfcller \x80\n") == "agi_calleridname: Jürgen Müller €\n"


def test_values_are_quoted_for_res_agi() -> None:
    assert agi_quote('Dr. "Hansi" Weber') == 'Dr. \\"Hansi\\" Weber'
    assert agi_quote("C:\\temp") == "C:\\\\temp"
    # a line break would end the command and start another
    assert agi_quote("Müller\nHANGUP\r\n") == "Müller HANGUP"


def _pipe_with(data: bytes) -> tuple[int, int]:
    r, w = os.pipe()
    os.write(w, data)
    return r, w


def test_the_reader_returns_whole_lines_across_reads() -> None:
    r, w = _pipe_with(b"200 res")
    try:
        reader = LineReader(r, time.monotonic() + 1)
        os.write(w, b"ult=1\n200 result=0\n")
        assert reader.readline() == "200 result=1\n"
        assert reader.readline() == "200 result=0\n"
    finally:
        os.close(r)
        os.close(w)


def test_hangup_and_eof_are_one_outcome() -> None:
    r, w = _pipe_with(b"HANGUP\n")
    os.close(w)
    reader = LineReader(r, time.monotonic() + 1)
    try:
        with pytest.raises(CallerHungUp):
            reader.readline()
        with pytest.raises(CallerHungUp):  # then EOF
            reader.readline()
    finally:
        os.close(r)


def test_the_reader_gives_up_at_the_deadline() -> None:
    r, w = os.pipe()
    try:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            LineReader(r, started + 0.1).readline()
        assert 0.09 < time.monotonic() - started < 0.5
    finally:
        os.close(r)
        os.close(w)


def test_a_line_without_end_is_not_buffered_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "MAX_LINE", 1000)
    r, w = _pipe_with(b"x" * 5000)
    try:
        with pytest.raises(CallerHungUp):
            LineReader(r, time.monotonic() + 2).readline()
    finally:
        os.close(r)
        os.close(w)


def test_the_process_age_is_small_and_bounded() -> None:
    assert 0.0 <= process_age_s() <= 0.25


@pytest.mark.parametrize(
    ("url", "kind", "location"),
    [
        ("sqlite+aiosqlite:///uhd-telephony.db", "sqlite", "uhd-telephony.db"),
        ("sqlite+aiosqlite:////var/lib/uhd/uhd.db", "sqlite", "/var/lib/uhd/uhd.db"),
        (
            "postgresql+asyncpg://uhd:s%40cret@postgres:5432/uhd",
            "postgresql",
            "postgresql://uhd:s%40cret@postgres:5432/uhd",
        ),
        ("postgresql://uhd@db/uhd", "postgresql", "postgresql://uhd@db/uhd"),
    ],
)
def test_database_urls(url: str, kind: str, location: str) -> None:
    target = target_of(url)
    assert (target.kind, target.location) == (kind, location)
    assert "cret" not in repr(target)


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite:///:memory:", "mysql://x@y/z", "uhd.db"])
def test_unusable_database_urls(url: str) -> None:
    with pytest.raises(UnsupportedDatabase):
        target_of(url)


def test_the_sql_names_the_models_columns() -> None:
    """callerdb writes its SQL by hand: each table and column it names must be the models' own."""
    tables = {"p": PHONES, "u": USERS, "l": PLACES}
    for sql in (USERS_SQL, PLACES_SQL):
        for alias, column in re.findall(r"\b([pul])\.(\w+)", sql):
            assert column in tables[alias].c, f"{alias}.{column}"
        for table in re.findall(r"(?:FROM|JOIN) (\w+)", sql):
            assert table in {PHONES.name, USERS.name, PLACES.name}
    for column in re.findall(r"SELECT (.*) FROM", PLAN_SQL)[0].split(", "):
        assert column in NUMBERING.c
    assert NUMBERING.name in PLAN_SQL


def test_sighup_is_a_hangup_at_the_next_command_and_is_given_back() -> None:
    before = signal.getsignal(signal.SIGHUP)
    r, w = _pipe_with(b"agi_request: uhd-lookup.agi\n\n200 result=1\n")
    out_r, out_w = os.pipe()
    try:
        with AgiSession(LineReader(r, time.monotonic() + 1), LineWriter(out_w)) as agi:
            assert agi.env == {"agi_request": "uhd-lookup.agi"}
            os.kill(os.getpid(), signal.SIGHUP)  # Asterisk's hang-up signal: the process lives on
            with pytest.raises(CallerHungUp):
                agi.set_variable("UHD_TENANT", "klinikum-nord")
        assert signal.getsignal(signal.SIGHUP) is before
    finally:
        for fd in (r, w, out_r, out_w):
            os.close(fd)
