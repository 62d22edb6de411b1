"""Callback fixtures: a migrated database, the services, an agent, abandoned-call records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import dbfixtures
from uhd_telephony.accounts.service import AccountService, AccountView
from uhd_telephony.ami.names import VAR_USER_ID
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.store.db import Database

TENANT = "klinikum-nord"
OTHER_TENANT = "klinikum-sued"
# 2024-11-27 08:00:00 UTC
T0 = 1732694400.0

MakeCall = Callable[..., CallRecord]

# the shared database fixtures, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db


@pytest.fixture
def callbacks(db: Database) -> CallbackService:
    return CallbackService(db)


@pytest.fixture
async def agent(db: Database) -> AccountView:
    """Anna, agent of TENANT, whose desk phone is the simulator's queue member PJSIP/101."""
    return await AccountService(db).create(
        "anna", "Stations-Telefon-7", tenants=[TENANT], interface="PJSIP/101", member_name="Anna Becker"
    )


def _make_call(
    n: int = 1,
    *,
    outcome: Outcome = Outcome.ABANDONED,
    user_id: str | None = "4711",
    tenant: str = TENANT,
    number: str | None = None,
    **overrides: Any,
) -> CallRecord:
    """Call ``n``: an identified caller (UHD_USER_ID) who hung up after 42 s in the queue."""
    entered = T0 + n * 600
    values: dict[str, Any] = {
        "call_id": f"1732694400.{n}@hotline",
        "linkedid": f"1732694400.{n}",
        "uniqueid": f"1732694400.{n}",
        "queue": "hotline",
        "tenant": tenant,
        "entered_at": entered,
        "ended_at": entered + 42.0,
        "wait_s": 42.0,
        "outcome": outcome,
        "ended_by": "caller",
        "caller_number": number if number is not None else f"+49231986{n:04d}",
        "caller_name": "Jürgen Müller",
        "dialled": "+49231990001",
        "variables": {VAR_USER_ID: user_id} if user_id is not None else {},
    }
    values.update(overrides)
    return CallRecord(**values)


@pytest.fixture
def make_call() -> MakeCall:
    return _make_call
