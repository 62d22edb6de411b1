"""A phone a person works by hand: it rings like any other, answers and hangs up only when told, and while it
rings or talks the live clock runs at real time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from uhd_telephony.simulator import AmiSimulator, Scenario, default_config
from uhd_telephony.simulator.pbx import PbxError

from .conftest import START, AmiClient, signature

HUMAN, OTHER = "PJSIP/101", "PJSIP/102"


@pytest.fixture
async def desk() -> AsyncIterator[AmiSimulator]:
    """Two agents: 101 is a person's phone (manual), 102 a simulated one; time stands still (speed 0)."""
    config = default_config(2, backoffice=False)
    for member in config.queues[0].members:
        if member.interface == HUMAN:
            member.behaviour.manual = True
    async with AmiSimulator(config, speed=0, seed=3, start_time=START) as simulator:
        yield simulator


@pytest.fixture
async def client(desk: AmiSimulator, client_factory: Callable[[int], Awaitable[AmiClient]]) -> AmiClient:
    """A client logged in to ``desk``, past its FullyBooted and SuccessfulAuth."""
    c = await client_factory(desk.port)
    await c.login()
    await c.until(lambda f: f.get("Event") == "SuccessfulAuth")
    return c


async def test_it_rings_like_any_phone_but_never_picks_up_by_itself(desk: AmiSimulator, client: AmiClient) -> None:
    desk.pause_member(OTHER, reason="Pause")
    placed = desk.place_call("+492311234567", "Jürgen Müller", talk_s=5)
    await desk.advance(10)  # a simulated agent would have answered within ~2 s
    called = await client.until(lambda f: f.get("Event") == "AgentCalled")
    assert called["Interface"] == HUMAN and called["Uniqueid"] == placed.uniqueid
    await client.drain()
    assert not client.events("AgentConnect")
    phone = desk.phone(HUMAN)
    assert phone.state == "ringing" and phone.manual
    assert (phone.caller_number, phone.caller_name, phone.tenant) == ("+492311234567", "Jürgen Müller", "tenant1")
    assert phone.linkedid == placed.linkedid and phone.ring_ends_at == pytest.approx(phone.since + 15.0)

    answered = desk.answer_phone(HUMAN)
    assert answered.linkedid == placed.linkedid
    await desk.advance(600)  # the call's own talk_s (5 s) does not end a person's conversation
    connect = await client.until(lambda f: f.get("Event") == "AgentConnect")
    assert connect["Interface"] == HUMAN and connect["MemberName"] == "Anna Becker"
    await client.drain()
    assert not client.events("AgentComplete")
    assert desk.phone(HUMAN).state == "talking"

    assert desk.hangup_phone(HUMAN) == "call"
    complete = await client.until(lambda f: f.get("Event") == "AgentComplete")
    assert complete["Reason"] == "agent" and complete["TalkTime"] == "600"
    await desk.settle()
    await client.drain()
    # the same events as a simulated agent's answered call
    assert signature(client.frames, placed.uniqueid) == [
        "QueueCallerJoin", "AgentCalled", "QueueCallerLeave", "AgentConnect", "AgentComplete(agent)", "Hangup",
    ]  # fmt: skip
    [truth] = desk.truth()
    assert truth["outcome"] == "answered" and truth["agent_interface"] == HUMAN and truth["talk_s"] == 600
    assert desk.phone(HUMAN).state == "idle"


async def test_a_ring_that_runs_out_goes_to_the_next_agent(desk: AmiSimulator, client: AmiClient) -> None:
    desk.place_call("+492311234567", "Klaus Weber", talk_s=5)  # rrmemory: 101 first
    await desk.advance(16)
    no_answer = await client.until(lambda f: f.get("Event") == "AgentRingNoAnswer")
    assert no_answer["Interface"] == HUMAN and no_answer["RingTime"] == "15000"
    await desk.settle()
    [truth] = desk.truth()
    assert truth["outcome"] == "answered" and truth["agent_interface"] == OTHER
    assert not desk.phone(HUMAN).paused  # no autopause configured


async def test_with_autopause_a_missed_ring_pauses_the_member(desk: AmiSimulator, client: AmiClient) -> None:
    desk.set_member(HUMAN, autopause=True)
    desk.place_call("+492311234567", "Klaus Weber", talk_s=5)
    await desk.advance(16)
    pause = await client.until(lambda f: f.get("Event") == "QueueMemberPause")
    assert (pause["Interface"], pause["Paused"], pause["PausedReason"]) == (HUMAN, "1", "Auto-Pause")
    phone = desk.phone(HUMAN)
    assert phone.paused and phone.paused_reason == "Auto-Pause"
    await desk.settle()
    desk.place_call("+492311234568", "Maria Fischer", talk_s=5)
    await desk.settle()
    await client.drain()
    assert [f["Interface"] for f in client.events("AgentCalled")] == [HUMAN, OTHER, OTHER]
    desk.unpause_member(HUMAN)
    assert not desk.phone(HUMAN).paused


async def test_hanging_up_a_ringing_phone_rejects_the_call(desk: AmiSimulator, client: AmiClient) -> None:
    desk.set_member(HUMAN, autopause=True)
    desk.place_call("+492311234567", "Klaus Weber", talk_s=5)
    await desk.advance(3)
    assert desk.phone(HUMAN).state == "ringing"
    assert desk.hangup_phone(HUMAN) == "ring"
    no_answer = await client.until(lambda f: f.get("Event") == "AgentRingNoAnswer")
    assert no_answer["Interface"] == HUMAN and no_answer["RingTime"] == "3000"
    await desk.settle()
    assert desk.truth()[0]["agent_interface"] == OTHER
    assert not desk.phone(HUMAN).paused  # a rejected call is no absence: no autopause


async def test_the_caller_ends_a_conversation_after_the_phones_talk_limit(
    desk: AmiSimulator, client: AmiClient
) -> None:
    desk.set_member(HUMAN, talk_s=120.0)
    desk.pause_member(OTHER)
    desk.place_call("+492311234567", "Klaus Weber", talk_s=5)
    await desk.advance(1)
    desk.answer_phone(HUMAN)
    await desk.settle()
    complete = await client.until(lambda f: f.get("Event") == "AgentComplete")
    assert complete["Reason"] == "caller" and complete["TalkTime"] == "120"


async def test_answer_and_hang_up_need_a_ringing_or_busy_phone(desk: AmiSimulator) -> None:
    with pytest.raises(PbxError, match="not ringing"):
        desk.answer_phone(HUMAN)
    with pytest.raises(PbxError, match="idle"):
        desk.hangup_phone(HUMAN)
    with pytest.raises(PbxError, match="Interface not found"):
        desk.phone("PJSIP/999")
    desk.pause_member(OTHER)
    desk.place_call("+492311234567", "Klaus Weber")
    await desk.advance(1)
    desk.answer_phone(HUMAN)
    with pytest.raises(PbxError, match="not ringing"):
        desk.answer_phone(HUMAN)  # a double click answers once


async def test_the_clock_runs_in_real_time_while_a_person_rings_or_talks() -> None:
    config = default_config(1, backoffice=False)
    config.queues[0].members[0].behaviour.manual = True
    async with AmiSimulator(config, speed=50, seed=1) as sim:
        assert sim.clock.speed == 50 and not sim.realtime
        sim.place_call("+492311234567", "Klaus Weber", talk_s=5)
        await sim.wait_for(lambda: sim.phone(HUMAN).state == "ringing", 5)
        assert sim.clock.speed == 1 and sim.realtime
        start = sim.now()
        await asyncio.sleep(0.3)
        assert 0.2 < sim.now() - start < 1.5  # real time, not 15 simulated seconds
        assert sim.phone(HUMAN).state == "ringing"  # the 15 s ring timeout has not run out at 50x
        sim.answer_phone(HUMAN)
        await asyncio.sleep(0.2)
        assert sim.clock.speed == 1  # talking: still real time
        sim.hangup_phone(HUMAN)
        await sim.wait_for(lambda: not sim.pbx.active(), 5)
        assert sim.clock.speed == 50 and not sim.realtime
        talk = sim.truth()[0]["talk_s"]
        assert 0.1 < talk < 2.0  # the conversation's length in real seconds


async def test_the_load_generator_never_pauses_a_persons_phone() -> None:
    scenario = Scenario(rate_per_hour=0, agents=2, pause_rate_per_hour=3600.0, pause_mean_s=1.0)
    config = scenario.pbx_config()
    config.queues[0].members[0].behaviour.manual = True
    async with AmiSimulator(config, speed=0, seed=2, start_time=START, scenario=scenario) as sim:
        await sim.advance(60)
        paused = [e for e in sim.capture_bytes().split(b"\r\n\r\n") if b"Event: QueueMemberPause" in e]
        assert paused and all(b"Interface: PJSIP/102" in e for e in paused)
