"""One-click callback over real TCP: AmiClient → AMI simulator Originate, with the entry in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import insert

from tests.callbacks.conftest import OTHER_TENANT, TENANT, MakeCall
from tests.support.helpers import eventually
from uhd_telephony.accounts.service import AccountService, AccountView
from uhd_telephony.ami.client import AmiClient
from uhd_telephony.callbacks.models import Callback
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.errors import AmiError, AmiNotConnected, Conflict, Forbidden
from uhd_telephony.settings import Settings
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.db import Database


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    # speed 0: the agent's phone rings until the test moves simulated time
    async with AmiSimulator(default_config(3), speed=0) as simulator:
        yield simulator


def client_for(port: int) -> AmiClient:
    settings = Settings(
        ami_port=port,
        ami_secret=SecretStr("uhdsecret"),
        ami_connect_timeout_s=2,
        ami_action_timeout_s=2,
        ami_reconnect_min_s=0.05,
        ami_reconnect_max_s=0.2,
    )
    return AmiClient(settings, on_event=lambda fields, received_at: None)


@pytest.fixture
async def ami(sim: AmiSimulator) -> AsyncIterator[AmiClient]:
    client = client_for(sim.port)
    await client.start()
    try:
        await client.wait_connected(5)
        yield client
    finally:
        await client.close()


def originates(sim: AmiSimulator) -> list[bytes]:
    """The OriginateResponse events the simulator sent: one per Originate it received."""
    frames = sim.capture_bytes().split(b"\r\n\r\n")
    return [f for f in frames if b"Event: OriginateResponse" in f]


async def test_dial_rings_the_agents_phone_once_and_marks_the_entry_done(
    sim: AmiSimulator, ami: AmiClient, callbacks: CallbackService, agent: AccountView, make_call: MakeCall
) -> None:
    entry = await callbacks.on_call_ended(make_call(1, number="+492319860572"))
    assert entry is not None
    dialing = asyncio.create_task(callbacks.dial(TENANT, entry.id, agent, ami, context="callbacks", timeout_s=20))
    # the Originate is out and the agent's phone rings: the entry is taken, a second click is refused
    await eventually(lambda: any(o.interface == "PJSIP/101" for o in sim.pbx.originations))
    assert (await callbacks.get(TENANT, entry.id)).status == "dialing"
    with pytest.raises(Conflict):
        await callbacks.dial(TENANT, entry.id, agent, ami, context="callbacks")
    await sim.settle()  # Anna picks up; the dialplan dials the caller; they talk; both hang up
    done = await asyncio.wait_for(dialing, 5)

    assert (done.status, done.cleared_reason, done.attempts, done.claimed_by) == ("done", "called_back", 1, agent.id)
    assert done.done_at is not None and done.last_attempt_at is not None
    (response,) = originates(sim)
    assert b"Response: Success" in response and b"Channel: PJSIP/101-" in response
    capture = sim.capture_bytes()
    assert f"Variable: UHD_CALLBACK_ID\r\nValue: {entry.id}\r\n".encode() in capture
    assert b"DialString: +492319860572@trunk" in capture
    assert b"CallerIDName: J\xc3\xbcrgen M\xc3\xbcller" in capture  # what Anna's phone showed
    assert await callbacks.list_open(TENANT) == []


async def test_a_busy_phone_returns_the_entry_to_the_list(
    sim: AmiSimulator, ami: AmiClient, callbacks: CallbackService, agent: AccountView, make_call: MakeCall
) -> None:
    entry = await callbacks.on_call_ended(make_call(1))
    assert entry is not None
    sim.set_member("PJSIP/101", busy=True)
    dialing = asyncio.create_task(callbacks.dial(TENANT, entry.id, agent, ami, context="callbacks"))
    await eventually(lambda: bool(sim.pbx.originations))
    await sim.settle()
    with pytest.raises(AmiError, match="busy"):
        await asyncio.wait_for(dialing, 5)
    back = await callbacks.get(TENANT, entry.id)
    assert (back.status, back.attempts, back.claimed_by) == ("open", 1, None)
    assert back.note is not None and "busy" in back.note and "anna" in back.note
    assert len(originates(sim)) == 1
    # the next try works
    sim.set_member("PJSIP/101", busy=False)
    retry = asyncio.create_task(callbacks.dial(TENANT, entry.id, agent, ami, context="callbacks"))
    await eventually(lambda: len(sim.pbx.originations) == 1 and not sim.pbx.originations[0].done)
    await sim.settle()
    done = await asyncio.wait_for(retry, 5)
    assert (done.status, done.attempts, done.note) == ("done", 2, None)
    assert len(originates(sim)) == 2


async def test_without_an_ami_connection_nothing_is_dialled_and_the_entry_stays_open(
    sim: AmiSimulator, callbacks: CallbackService, agent: AccountView, make_call: MakeCall
) -> None:
    entry = await callbacks.on_call_ended(make_call(1))
    assert entry is not None
    offline = client_for(sim.port)  # never started: not logged in
    try:
        with pytest.raises(AmiNotConnected):
            await callbacks.dial(TENANT, entry.id, agent, offline)
    finally:
        await offline.close()
    back = await callbacks.get(TENANT, entry.id)
    assert (back.status, back.attempts) == ("open", 1)
    assert back.note is not None and "not logged in" in back.note
    assert originates(sim) == []


async def test_an_agent_of_another_tenant_may_not_dial(
    ami: AmiClient, callbacks: CallbackService, db: Database, make_call: MakeCall
) -> None:
    entry = await callbacks.on_call_ended(make_call(1))
    assert entry is not None
    stranger = await AccountService(db).create(
        "sven", "Stations-Telefon-9", tenants=[OTHER_TENANT], interface="PJSIP/102"
    )
    with pytest.raises(Forbidden):
        await callbacks.dial(TENANT, entry.id, stranger, ami)
    assert (await callbacks.get(TENANT, entry.id)).status == "open"


async def test_an_entry_stored_with_a_line_break_in_the_name_is_still_dialable(
    sim: AmiSimulator, ami: AmiClient, callbacks: CallbackService, agent: AccountView, db: Database
) -> None:
    # issue 13 item 6: a row stored before names were cleaned at the AMI event (Core insert: no model validator).
    # Its Originate's CallerID header broke at the line break and the dial failed on every try.
    async with db.engine.begin() as conn:
        legacy = insert(Callback.__table__).values(
            tenant=TENANT, call_id="legacy@hotline", linkedid="legacy", caller_number="+492319860572",
            caller_name="Anna\r\nSchmidt", queue="hotline", abandoned_at=datetime.now(UTC), wait_s=42.0,
            status="open", attempts=0,
        )  # fmt: skip
        result = await conn.execute(legacy)
        entry_id = int(result.inserted_primary_key[0])
    dialing = asyncio.create_task(callbacks.dial(TENANT, entry_id, agent, ami, context="callbacks", timeout_s=20))
    await eventually(lambda: any(o.interface == "PJSIP/101" for o in sim.pbx.originations))
    await sim.settle()
    done = await asyncio.wait_for(dialing, 5)
    assert (done.status, done.attempts) == ("done", 1)
    assert b"CallerIDName: Anna Schmidt\r\n" in sim.capture_bytes()
