"""The test hooks other engineers' tests use: drop, freeze, inject, capture, speed, Latin-1, clean shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from uhd_telephony.simulator import AmiSimulator, Scenario, default_config

from .conftest import START, AmiClient, split_stream

Connect = Callable[[int], Awaitable[AmiClient]]


async def test_place_call_returns_the_ids_the_client_sees(sim: AmiSimulator, client: AmiClient) -> None:
    placed = sim.place_call("+492311234567", "Jürgen Müller")
    join = await client.until(lambda f: f.get("Event") == "QueueCallerJoin")
    assert (join["Uniqueid"], join["Linkedid"], join["Channel"]) == (placed.uniqueid, placed.linkedid, placed.channel)
    assert join["Exten"] == placed.dialled and placed.queue == "hotline" and placed.tenant == "tenant1"
    assert placed.channel.startswith("PJSIP/trunk-")


async def test_drop_connections_mid_call_and_the_call_goes_on(
    sim: AmiSimulator, client: AmiClient, client_factory: Connect
) -> None:
    placed = sim.place_call("+492311234567", "Klaus Weber", talk_s=30)
    await sim.advance(5)
    await client.until(lambda f: f.get("Event") == "AgentConnect")
    assert sim.drop_connections() == 1
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        while True:
            await client.read_frame()
    await sim.advance(10)  # events while nobody listens are gone for good, like on a real Asterisk
    again = await client_factory(sim.port)
    await again.login()
    await sim.settle()
    complete = await again.until(lambda f: f.get("Event") == "AgentComplete")
    assert complete["Uniqueid"] == placed.uniqueid and complete["TalkTime"] == "30"
    assert [r["outcome"] for r in sim.truth()] == ["answered"]


async def test_freeze_stops_answering_even_ping_and_unfreeze_delivers_in_order(
    sim: AmiSimulator, client: AmiClient
) -> None:
    sim.freeze()
    aid = client.send("Ping")
    placed = sim.place_call("+492311234567", "Maria Fischer", talk_s=2)
    with pytest.raises(TimeoutError):
        await client.read_frame(wait_s=0.3)
    assert not client.writer.is_closing()  # the socket stays open
    sim.unfreeze()
    first = await client.read_frame()
    assert first["Event"] == "Newchannel" and first["Uniqueid"] == placed.uniqueid  # held events come first
    pong = await client.response(aid)
    assert pong["Ping"] == "Pong"


async def test_inject_sends_raw_bytes_to_every_client(sim: AmiSimulator, client: AmiClient) -> None:
    raw = b"Event: Bogus\r\nCallerIDName: M\xfcller\r\nBroken line without colon\r\n\r\n"
    sim.inject(raw)
    await client.read_frame()
    assert client.raw[-1] == raw
    assert b"Bogus" not in sim.capture_bytes()


async def test_capture_is_a_stream_a_client_would_have_read(sim: AmiSimulator, client: AmiClient) -> None:
    sim.place_call("+492311234567", "Zoë Weiß", talk_s=2)
    await sim.settle()
    data = sim.capture_bytes()
    assert data.startswith(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n")
    frames = split_stream(data)
    assert frames[1]["Event"] == "FullyBooted"
    assert "Zoë Weiß".encode() in data
    await client.drain()
    seen = [f for f in client.frames if f.get("Event") in ("QueueCallerJoin", "AgentComplete")]
    captured = [f for f in frames if f.get("Event") in ("QueueCallerJoin", "AgentComplete")]
    assert seen == captured


async def test_latin1_sends_names_like_a_misconfigured_system(client_factory: Connect) -> None:
    async with AmiSimulator(speed=0, latin1=True, start_time=START) as sim:
        client = await client_factory(sim.port)
        await client.login()
        sim.place_call("+492311234567", "Jürgen Müller")
        await client.until(lambda f: f.get("Event") == "QueueCallerJoin")
        raw = next(r for r in client.raw if r.startswith(b"Event: QueueCallerJoin"))
        assert b"CallerIDName: J\xfcrgen M\xfcller\r\n" in raw
        await client.close()


async def test_speed_runs_simulated_time_faster_with_consistent_timestamps(client_factory: Connect) -> None:
    async with AmiSimulator(default_config(2), speed=100, start_time=START) as sim:
        client = await client_factory(sim.port)
        await client.login()
        started = time.monotonic()
        placed = sim.place_call("+492311234567", "Dr. Meier", talk_s=30)
        await sim.settle(within_s=5)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0  # ~32 simulated seconds at speed 100
        connect = await client.until(lambda f: f.get("Event") == "AgentConnect")
        hangup = await client.until(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == placed.uniqueid)
        assert float(hangup["Timestamp"]) - float(connect["Timestamp"]) == pytest.approx(30, abs=0.5)
        await client.close()


async def test_load_generator_places_calls_with_a_seed(client_factory: Connect) -> None:
    scenario = Scenario(rate_per_hour=3600, agents=3, talk_mean_s=20, max_calls=5, agi_lookup=True)
    async with AmiSimulator(speed=0, seed=3, scenario=scenario, start_time=START) as sim:
        client = await client_factory(sim.port)
        await client.login()
        await sim.settle()
        await client.drain()
        assert len(client.events("QueueCallerJoin")) >= 5
        assert sim.generator is not None and sim.generator.placed == 5
        assert any(f.get("Variable") == "UHD_TENANT" for f in client.frames)
        await client.close()


async def test_close_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    sim = AmiSimulator(speed=10, scenario=Scenario(rate_per_hour=7200, agents=2))
    await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"Action: Login\r\nUsername: uhd\r\nSecret: uhdsecret\r\n\r\n")
    await asyncio.sleep(0.2)
    await sim.close()
    assert asyncio.all_tasks() <= before | {asyncio.current_task()}
    received = await reader.read()  # whatever was sent, then EOF
    last = split_stream(received)[-1]
    assert (last["Event"], last["Shutdown"], last["Restart"]) == ("Shutdown", "Cleanly", "False")
    writer.close()
    await writer.wait_closed()


async def test_a_long_running_simulator_keeps_the_latest_ground_truth_only() -> None:
    async with AmiSimulator(default_config(2), speed=0, start_time=START, truth_limit=2) as sim:
        for n in range(3):
            sim.place_call(f"+49231123456{n}", f"Caller {n}", talk_s=5)
            await sim.advance(30)
        await sim.settle()
        assert sim.pbx.finished == 3
        assert [r["caller_name"] for r in sim.truth()] == ["Caller 1", "Caller 2"]
