"""The running server keeps the callback list in order: an entry stuck in "dialing" (its dial died with its
process) is opened again, an entry nobody returned expires; fresh ones are left alone."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.support.helpers import eventually, free_port
from uhd_telephony.accounts.service import AccountView
from uhd_telephony.app.server import Server
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database

from .conftest import TENANT, MakeCall


async def test_the_running_server_reopens_stuck_dials_and_expires_old_entries(
    db_url: str, db: Database, callbacks: CallbackService, agent: AccountView, make_call: MakeCall
) -> None:
    now = time.time()
    fresh = [await callbacks.on_call_ended(make_call(n, entered_at=now - 3600, ended_at=now - 3550)) for n in (1, 2)]
    old = await callbacks.on_call_ended(make_call(3, entered_at=now - 4 * 86400, ended_at=now - 4 * 86400 + 42))
    assert all(fresh) and old is not None
    stuck, dialing = fresh[0], fresh[1]
    assert stuck is not None and dialing is not None
    # a dial ten minutes ago whose process never reported back, and one under way right now
    earlier = CallbackService(db, clock=lambda: datetime.now(UTC) - timedelta(minutes=10))
    await earlier.claim(TENANT, stuck.id, agent.id)
    await callbacks.claim(TENANT, dialing.id, agent.id)

    # no PBX behind the AMI port: the housekeeping needs only the database
    settings = Settings(database_url=db_url, http_port=0, ami_port=free_port(), callback_scan_s=0.05)
    server = Server(settings, web_enabled=False)
    await server.start()
    try:
        housekeeping = server.callback_housekeeping
        assert housekeeping is not None
        await eventually(lambda: housekeeping.released == 1 and housekeeping.expired == 1, 10)
        health = server._health()["callback_housekeeping"]
        assert health == {"last_error": None, "released": 1, "expired": 1}
    finally:
        await server.close()

    reopened = await callbacks.get(TENANT, stuck.id)
    assert (reopened.status, reopened.claimed_by, reopened.attempts) == ("open", None, 1)
    assert reopened.note == "the dial attempt did not report back; reopened"
    assert (await callbacks.get(TENANT, dialing.id)).status == "dialing"  # under way: not touched
    expired = await callbacks.get(TENANT, old.id)
    assert (expired.status, expired.cleared_reason) == ("cleared", "expired")
    assert [e.id for e in await callbacks.list_open(TENANT)] == [stuck.id]
