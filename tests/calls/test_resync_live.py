"""Calls rebuilt by the resync after a restart or a cut know their tenant, hotline and lookup as live ones do."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from tests.calls.factory import Caller
from tests.support.helpers import eventually
from tests.support.service import service_settings, started, stored, uhd
from uhd_telephony.ami import names
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.models import Ticket

AGENTS = ["PJSIP/101", "PJSIP/102"]
SECOND_HOTLINE = "+49231990002"


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    # two tenants on one queue; the AGI lookup sets UHD_TENANT, which manager.conf's channelvars show on every
    # channel event and every CoreShowChannel
    config = default_config(len(AGENTS), tenants=2, agi_lookup=True, max_wait_s=None)
    async with AmiSimulator(config, speed=0) as simulator:
        yield simulator


async def test_calls_that_joined_while_the_service_was_down_get_their_tenant_from_the_channel(
    sim: AmiSimulator, sqlite_url: str
) -> None:
    # only the first hotline is in the number table: the second tenant is known from UHD_TENANT alone
    settings = service_settings(sim.port, sqlite_url)
    first = await started(settings)
    await first.close()
    sim.pause_member(AGENTS[1])
    talking = sim.place_call("+492311111111", "Talks Meanwhile", dialled=SECOND_HOTLINE, talk_s=60)
    await sim.advance(5)
    sim.pause_member(AGENTS[0])
    waiting = sim.place_call(
        "+492312222222", "Waits Meanwhile", dialled=SECOND_HOTLINE, lookup={names.VAR_USER_ID: "42"}
    )
    await sim.advance(5)
    second = await started(settings)
    try:
        rebuilt = {c.uniqueid: c for c in second.tracker.calls.values()}
        assert set(rebuilt) == {talking.uniqueid, waiting.uniqueid}
        for call in rebuilt.values():
            assert call.resynced and call.tenant == "tenant2" and call.dialled == SECOND_HOTLINE
        assert rebuilt[waiting.uniqueid].variables[names.VAR_USER_ID] == "42"
        assert rebuilt[talking.uniqueid].answered_at is not None
        # times on Asterisk's clock: entered <= answered, whatever this machine's clock says
        assert rebuilt[talking.uniqueid].entered_at <= rebuilt[talking.uniqueid].answered_at  # type: ignore[operator]
        sim.unpause_member(AGENTS[0])
        await sim.settle()
        await eventually(lambda: second.tracker.stats.finished == 2)
    finally:
        await second.close()
    records = {r.uniqueid: r for r in await stored(sqlite_url)}
    assert {r.tenant for r in records.values()} == {"tenant2"}
    for record in records.values():
        assert record.entered_at <= (record.answered_at or record.entered_at) <= record.ended_at  # type: ignore[operator]
    assert records[talking.uniqueid].outcome == "answered" and records[waiting.uniqueid].outcome == "answered"


async def _tickets(db_url: str) -> list[tuple[str, str | None, str]]:
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(select(Ticket.tenant, Ticket.call_linkedid, Ticket.number))
            return [(r[0], r[1], r[2]) for r in rows]
    finally:
        await db.close()


@pytest.mark.slow
async def test_a_service_killed_mid_call_and_restarted_leaves_every_call_and_ticket_once_with_its_tenant(
    sim: AmiSimulator, db_url: str
) -> None:
    env = {
        "UHD_AMI_PORT": str(sim.port),
        "UHD_DATABASE_URL": db_url,
        "UHD_STORE_FLUSH_INTERVAL_S": "0.05",
        "UHD_FINALIZE_GRACE_S": "0.5",
        "UHD_AMI_RECONNECT_MIN_S": "0.05",
        "UHD_AMI_RECONNECT_MAX_S": "0.2",
        "UHD_HTTP_PORT": "0",
    }
    first = await uhd("run", env=env)
    try:
        await sim.wait_for(lambda: len(sim.sessions) == 1, within_s=30)
        await asyncio.sleep(0.5)  # login and resync
        north = sim.place_call("+492311111111", "Nord Spricht", talk_s=60)
        south = sim.place_call("+492312222222", "Süd Spricht", dialled=SECOND_HOTLINE, talk_s=60)
        await sim.advance(5)
        async with asyncio.timeout(60):
            while len(await _tickets(db_url)) < 2:  # noqa: ASYNC110  (another process's database)
                await asyncio.sleep(0.1)
        for agent in AGENTS:
            sim.pause_member(agent)
        waiting = sim.place_call("+492313333333", "Wartet Lange", dialled=SECOND_HOTLINE)
        await sim.advance(1)
        await asyncio.sleep(0.3)  # the service has seen the caller join
    finally:
        first.kill()  # kill -9: nothing flushed, nothing closed
        await first.wait()
    # while nobody listens: the waiting caller is answered, a new caller of the first hotline too
    sim.unpause_member(AGENTS[0])
    await sim.advance(3)
    sim.unpause_member(AGENTS[1])
    await sim.advance(1)
    sim.pause_member(AGENTS[0])
    sim.pause_member(AGENTS[1])
    late = sim.place_call("+492314444444", "Kommt Später", patience_s=None)
    await sim.advance(2)
    second = await uhd("run", env=env)
    try:
        await sim.wait_for(lambda: len(sim.sessions) == 1, within_s=30)
        await asyncio.sleep(1.0)  # login, restore, resync
        for agent in AGENTS:
            sim.unpause_member(agent)
        await sim.settle()
        placed = [north, south, waiting, late]

        async def all_done() -> bool:
            records = await stored(db_url)
            return len(records) == len(placed) and all(r.outcome for r in records)

        async with asyncio.timeout(60):
            while not await all_done():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        async with asyncio.timeout(60):
            while len(await _tickets(db_url)) < len(placed):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # nothing more arrives
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, err
    tenant_of = {
        north.uniqueid: "tenant1",
        south.uniqueid: "tenant2",
        waiting.uniqueid: "tenant2",
        late.uniqueid: "tenant1",
    }
    records = await stored(db_url)
    assert sorted(r.uniqueid for r in records) == sorted(tenant_of)
    for record in records:
        assert record.tenant == tenant_of[record.uniqueid], record
        assert record.outcome == "answered", record
        assert record.entered_at <= record.answered_at <= record.ended_at  # type: ignore[operator]
    tickets = await _tickets(db_url)
    assert sorted(linkedid or "" for _, linkedid, _ in tickets) == sorted(r.linkedid for r in records)
    assert {linkedid: tenant for tenant, linkedid, _ in tickets} == {r.linkedid: tenant_of[r.uniqueid] for r in records}


async def test_a_caller_who_abandoned_just_before_the_connection_dropped_is_stored_as_abandoned(
    sim: AmiSimulator, sqlite_url: str
) -> None:
    # the grace period is long: the tracker's own clock cannot finish the call before the resync does
    settings = service_settings(sim.port, sqlite_url).model_copy(update={"finalize_grace_s": 60.0})
    service = await started(settings)
    assert service.client is not None
    try:
        for agent in AGENTS:
            sim.pause_member(agent)
        placed = sim.place_call("+492315555555", "Legt Auf", patience_s=None)
        await sim.advance(8)
        call_id = f"{placed.uniqueid}@{placed.queue}"
        await eventually(lambda: call_id in service.tracker.calls)
        # the connection breaks after QueueCallerAbandon and QueueCallerLeave reached the service, before the
        # Hangup (one TCP segment delivered, the next lost): what arrived is sent as Asterisk sends it
        caller = Caller(placed.uniqueid, queue=placed.queue, channel=placed.channel, linkedid=placed.linkedid)
        now = sim.now()
        sim.inject(caller.abandon(now, hold=8) + caller.leave(now + 0.001))
        await eventually(lambda: call_id in service.tracker._exits and service.tracker._exits[call_id].abandoned_at)
        assert sim.drop_connections() == 1
        sim.hangup(placed.channel)  # the caller is gone when the service reconnects
        await sim.advance(1)
        await eventually(lambda: service.client.status.reconnects >= 1 and service.resyncs >= 2)
        await eventually(lambda: service.tracker.stats.finished == 1)
        assert service.tracker.calls == {}
    finally:
        await service.close()
    (record,) = await stored(sqlite_url)
    # its real wait, up to the abandon (not up to the resync, not "unknown")
    assert record.outcome == "abandoned" and record.wait_s == pytest.approx(now - record.entered_at, abs=0.01)
    assert record.wait_s == pytest.approx(8, abs=0.2) and record.ended_at == pytest.approx(now, abs=0.01)
