"""The whole service over real TCP against the AMI simulator: records in SQLite and PostgreSQL, across a
dropped connection and across a service restart in the middle of calls."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import pytest

from tests.support.helpers import eventually
from tests.support.service import AGENTS, service_settings, started, stored, uhd
from uhd_telephony.simulator import AmiSimulator, default_config


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    # speed 0: simulated time moves only when the test says so
    async with AmiSimulator(default_config(len(AGENTS), max_wait_s=30), speed=0) as simulator:
        yield simulator


async def test_answered_abandoned_and_timed_out_calls_are_stored(sim: AmiSimulator, db_url: str) -> None:
    service = await started(service_settings(sim.port, db_url))
    try:
        answered = sim.place_call("+492311234567", "Jürgen Müller", talk_s=40)
        await sim.settle()
        for agent in AGENTS:
            sim.pause_member(agent, reason="Rückruf")
        abandoned = sim.place_call("+4930123456", "Erika Mustermann", patience_s=12)
        timed_out = sim.place_call("+4989555123", "Firma Schulz", patience_s=None)
        await sim.settle()
        await eventually(lambda: service.tracker.stats.finished == 3)
    finally:
        await service.close()
    records = {r.uniqueid: r for r in await stored(db_url)}
    assert len(records) == 3
    a = records[answered.uniqueid]
    assert (a.outcome, a.caller_name, a.tenant, a.talk_s) == ("answered", "Jürgen Müller", "klinikum-dortmund", 40)
    assert a.agent and a.agent_interface in AGENTS
    assert records[abandoned.uniqueid].outcome == "abandoned" and records[abandoned.uniqueid].wait_s == 12
    t = records[timed_out.uniqueid]
    assert (t.outcome, t.wait_s, t.callback_requested) == ("timeout", 30, True)


async def test_connection_dropped_mid_call_still_gives_one_correct_record(sim: AmiSimulator, db_url: str) -> None:
    service = await started(service_settings(sim.port, db_url))
    assert service.client is not None
    try:
        talking = sim.place_call("+492311111111", "Talks Through", talk_s=60)
        for agent in AGENTS[1:]:
            sim.pause_member(agent)
        waiting = sim.place_call("+492312222222", "Waits Through", talk_s=10)
        await sim.advance(5)
        await eventually(lambda: len(service.tracker.calls) == 2)
        assert sim.drop_connections() == 1
        await sim.advance(1)  # events nobody hears: the first agent is busy, the second caller still waits
        sim.unpause_member(AGENTS[1])
        await sim.advance(5)  # the waiting caller is answered while the service is away
        await eventually(lambda: service.client.status.reconnects >= 1 and service.resyncs >= 2)
        answered_in_gap = service.tracker.calls[f"{waiting.uniqueid}@hotline"]
        assert answered_in_gap.answered_at is not None and answered_in_gap.agent
        await sim.settle()
        await eventually(lambda: service.tracker.stats.finished == 2)
    finally:
        await service.close()
    records = {r.uniqueid: r for r in await stored(db_url)}
    assert len(records) == 2
    first = records[talking.uniqueid]
    assert first.outcome == "answered" and first.talk_s == 60 and not first.resynced
    second = records[waiting.uniqueid]
    assert second.outcome == "answered" and second.resynced and second.agent == answered_in_gap.agent
    assert second.entered_at == pytest.approx(first.entered_at, abs=0.1)  # its real entry time, from before


async def test_service_restart_mid_call_ends_the_call_once(sim: AmiSimulator, db_url: str) -> None:
    settings = service_settings(sim.port, db_url)
    first = await started(settings)
    try:
        placed = sim.place_call("+492313333333", "Across Restart", talk_s=90)
        await sim.advance(3)
        await eventually(lambda: any(c.answered_at for c in first.tracker.calls.values()))
        entered = next(iter(first.tracker.calls.values())).entered_at
    finally:
        await first.close()  # SIGTERM: the open call is flushed to the store
    (open_call,) = await stored(db_url)
    assert open_call.outcome is None and open_call.answered_at is not None
    await sim.advance(30)  # the conversation goes on while no service listens
    second = await started(settings)
    try:
        assert f"{placed.uniqueid}@hotline" in second.tracker.calls
        await sim.settle()
        await eventually(lambda: second.tracker.stats.finished == 1)
    finally:
        await second.close()
    (record,) = await stored(db_url)
    assert record.outcome == "answered" and record.talk_s == 90 and record.entered_at == entered


async def test_call_that_ends_while_the_service_is_down_is_not_left_open(sim: AmiSimulator, sqlite_url: str) -> None:
    settings = service_settings(sim.port, sqlite_url)
    first = await started(settings)
    try:
        sim.place_call("+492314444444", "Gone Meanwhile", talk_s=10)
        await sim.advance(3)
        await eventually(lambda: any(c.answered_at for c in first.tracker.calls.values()))
    finally:
        await first.close()
    await sim.settle()  # the call ends unseen
    second = await started(settings)
    await second.close()
    (record,) = await stored(sqlite_url)
    assert record.outcome == "answered" and record.resynced and record.ended_at is not None


@pytest.mark.slow
async def test_run_check_reports_login_and_database(sim: AmiSimulator, sqlite_url: str) -> None:
    env = {"UHD_AMI_PORT": str(sim.port), "UHD_DATABASE_URL": sqlite_url}
    proc = await uhd("run", "--check", env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert json.loads(out)["ami"]["authenticated"] is True
    proc = await uhd(
        "run", "--check", env={**env, "UHD_AMI_SECRET": "wrong-Secret-42", "UHD_AMI_CONNECT_TIMEOUT_S": "1"}
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert json.loads(out)["ami"] == {"authenticated": False, "last_error": "authentication failed"}
    assert b"wrong-Secret-42" not in out + err and b"authentication failed" in err.lower()


@pytest.mark.slow
async def test_run_records_calls_and_stops_cleanly_on_sigterm(sim: AmiSimulator, sqlite_url: str) -> None:
    env = {
        "UHD_AMI_PORT": str(sim.port),
        "UHD_DATABASE_URL": sqlite_url,
        "UHD_STORE_FLUSH_INTERVAL_S": "0.05",
        "UHD_HTTP_PORT": "0",
    }
    proc = await uhd("run", env=env)
    try:
        await sim.wait_for(lambda: len(sim.sessions) == 1, within_s=20)
        await asyncio.sleep(0.5)  # login and resync
        sim.place_call("+492315555555", "Über Signal", talk_s=5)
        await sim.settle()

        async def recorded() -> bool:
            return any(r.outcome == "answered" for r in await stored(sqlite_url))

        async with asyncio.timeout(15):
            while not await recorded():  # noqa: ASYNC110  (the state is in another process's database)
                await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    assert b"shutdown:" in err and b"Traceback" not in err
