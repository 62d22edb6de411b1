"""Calls fixtures: a migrated database on SQLite and PostgreSQL, a call-record factory, a TCP proxy to cut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import dbfixtures
from tests.support.proxy import TcpProxy, pg_proxy  # noqa: F401  (the fixture)
from uhd_telephony.calls.records import CallRecord, Outcome, RingAttempt
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.store.db import Database

# 2024-11-27 08:00:00.123456 UTC: microseconds on purpose, they must survive the round trip
T0 = 1732694400.123456

MakeCall = Callable[..., CallRecord]

# the shared database fixtures, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db


@pytest.fixture
def repo(db: Database) -> CallRepository:
    return CallRepository(db)


def _make_call(
    n: int = 1,
    *,
    finished: bool = True,
    tenant: str = "klinikum-nord",
    queue: str = "hotline",
    entered_at: float | None = None,
    **overrides: Any,
) -> CallRecord:
    """Call number ``n``: answered after 12.5 s wait, 90.25 s talk; in progress when not ``finished``."""
    entered = T0 + n * 60 if entered_at is None else entered_at
    values: dict[str, Any] = {
        "call_id": f"1732694400.{n}@{queue}",
        "linkedid": f"1732694400.{n}",
        "uniqueid": f"1732694400.{n}",
        "queue": queue,
        "tenant": tenant,
        "entered_at": entered,
        "channel": f"PJSIP/trunk-{n:08x}",
        "caller_number": f"+49301234{n:04d}",
        "caller_name": "Jürgen Müller",
        "dialled": "+49301234000",
        "position": 1,
        "variables": {"UHD_USER": f"user-{n}", "UHD_TENANT": tenant},
    }
    if finished:
        values.update(
            answered_at=entered + 12.5,
            ended_at=entered + 102.75,
            wait_s=12.5,
            talk_s=90.25,
            agent="Agent Anna",
            agent_interface="PJSIP/agent-anna",
            outcome=Outcome.ANSWERED,
            ended_by="caller",
            ring_attempts=[
                RingAttempt("PJSIP/agent-bob", "Agent Bob", entered + 1.0, entered + 11.0, "noanswer"),
                RingAttempt(
                    "PJSIP/agent-anna", "Agent Anna", entered + 11.000001, entered + 12.5, "answered", "PJSIP/a-01"
                ),
            ],
        )
    values.update(overrides)
    return CallRecord(**values)


@pytest.fixture
def make_call() -> MakeCall:
    """A factory of realistic call records (see ``_make_call``)."""
    return _make_call
