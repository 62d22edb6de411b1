"""Scripted queue calls over TCP produce the queue events of the real Asterisk 22 traces, in the same order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from uhd_telephony.simulator import AmiSimulator, HotlineConfig, default_config
from uhd_telephony.simulator.server import PlacedCall

from .conftest import START, AmiClient, signature, trace_signature

AGENTS = ("PJSIP/101", "PJSIP/102", "PJSIP/103", "PJSIP/104", "PJSIP/105")
Connect = Callable[[int], Awaitable[AmiClient]]


async def finish(sim: AmiSimulator, client: AmiClient, placed: PlacedCall) -> list[str]:
    """Run the call to its end; the caller channel's queue-event sequence as the client saw it."""
    await sim.settle()
    await client.until(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == placed.uniqueid)
    await client.drain()
    return signature(client.frames, placed.uniqueid)


async def test_answered_like_a_answered(sim: AmiSimulator, client: AmiClient) -> None:
    placed = sim.place_call("+4923198600001", "Dr. Meier", talk_s=3)
    assert await finish(sim, client, placed) == trace_signature("a_answered")
    (truth,) = sim.truth()
    assert truth["outcome"] == "answered" and truth["ended_by"] == "agent" and truth["agent"] == "Anna Becker"
    connect = client.events("AgentConnect")[0]
    join = client.events("QueueCallerJoin")[0]
    hold = float(connect["Timestamp"]) - float(join["Timestamp"])
    assert int(connect["HoldTime"]) == int(hold) and truth["wait_s"] == pytest.approx(hold, abs=0.001)
    complete = client.events("AgentComplete")[0]
    assert complete["TalkTime"] == "3" and complete["HoldTime"] == connect["HoldTime"]
    assert complete["Interface"] == "PJSIP/101" and complete["DestChannel"].startswith("PJSIP/101-")


async def test_abandoned_like_b_abandoned(sim: AmiSimulator, client: AmiClient) -> None:
    for agent in AGENTS:
        sim.pause_member(agent, reason="Pause")
    placed = sim.place_call("+4930123456789", "Erika Mustermann", patience_s=4)
    assert await finish(sim, client, placed) == trace_signature("b_abandoned")
    abandon = client.events("QueueCallerAbandon")[0]
    assert abandon["HoldTime"] == "4" and abandon["Position"] == "1" and abandon["OriginalPosition"] == "1"
    assert [r["outcome"] for r in sim.truth()] == ["abandoned"]


async def test_timeout_like_c_overflow(sim: AmiSimulator, client: AmiClient) -> None:
    for agent in AGENTS:
        sim.pause_member(agent, reason="Busy")
    placed = sim.place_call("+4989555123400", "Firma Schulz GmbH", max_wait_s=8)
    assert await finish(sim, client, placed) == trace_signature("c_overflow")
    user_event = client.events("UserEvent")[0]
    assert user_event["UserEvent"] == "CallbackRequested" and user_event["Reason"] == "TIMEOUT"
    assert user_event["Queue"] == "hotline" and user_event["MaxWait"] == "8"
    (truth,) = sim.truth()
    assert truth["outcome"] == "timeout" and truth["callback_requested"] and truth["wait_s"] == 8


async def test_ring_no_answer_like_d_ringnoanswer(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_member("PJSIP/101", never_answer=True)
    for agent in AGENTS[1:]:
        sim.pause_member(agent, reason="Pause")
    placed = sim.place_call("+4921155500077", "Klaus Weber", talk_s=3)
    await sim.advance(3)
    sim.unpause_member("PJSIP/102")
    assert await finish(sim, client, placed) == trace_signature("d_ringnoanswer")
    rna = client.events("AgentRingNoAnswer")[0]
    assert rna["RingTime"] == "15000" and rna["MemberName"] == "Anna Becker"  # milliseconds
    dial_ends = [f["DialStatus"] for f in client.events("DialEnd") if f["DestChannel"] == rna["DestChannel"]]
    assert dial_ends == ["NOANSWER", "CANCEL"]
    connect = client.events("AgentConnect")[0]
    assert connect["MemberName"] == "Ben Schäfer" and connect["HoldTime"] in ("17", "18")  # 16 s + 1.6..2.4 s ring
    (truth,) = sim.truth()
    assert truth["agent"] == "Ben Schäfer" and truth["rings"] == 2


async def test_blind_transfer_like_f_transfer(sim: AmiSimulator, client: AmiClient) -> None:
    placed = sim.place_call("+4940123123123", "Maria Fischer", transfer_to="backoffice", transfer_after_s=2, talk_s=3)
    assert await finish(sim, client, placed) == trace_signature("f_transfer")
    transfer = client.events("BlindTransfer")[0]
    for key in ("TransfererChannel", "TransfererUniqueid", "TransfereeChannel", "TransfereeLinkedid", "BridgeUniqueid"):
        assert transfer[key]
    assert transfer["TransfereeUniqueid"] == placed.uniqueid and transfer["Extension"] == "s"
    joins = client.events("QueueCallerJoin")
    assert [(j["Queue"], j["Uniqueid"]) for j in joins] == [
        ("hotline", placed.uniqueid),
        ("backoffice", placed.uniqueid),
    ]
    first, second = sim.truth()
    assert first["outcome"] == "transferred" and first["ended_by"] == "transfer" and first["talk_s"] == 2
    assert second["outcome"] == "answered" and second["agent"] == "Bob Backoffice"
    assert second["uniqueid"] == first["uniqueid"] == placed.uniqueid


async def test_abandon_while_ringing_like_i_abandon_ringing(sim: AmiSimulator, client: AmiClient) -> None:
    for agent in AGENTS:
        sim.set_member(agent, never_answer=True)
    placed = sim.place_call("+4917612345678", "Otto Ungeduldig", patience_s=4)
    assert await finish(sim, client, placed) == trace_signature("i_abandon_ringing")
    leg = client.events("AgentCalled")[0]["DestChannel"]
    assert [f["DialStatus"] for f in client.events("DialEnd") if f["DestChannel"] == leg] == ["CANCEL", "CANCEL"]
    assert not client.events("AgentRingNoAnswer")


async def test_busy_phone_gives_ring_no_answer_with_zero_ring_time(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_member("PJSIP/101", busy=True)
    for agent in AGENTS[1:]:
        sim.pause_member(agent)
    placed = sim.place_call("+4917612345678", "Ungeduld", patience_s=2.5)
    await finish(sim, client, placed)
    rnas = client.events("AgentRingNoAnswer")
    assert len(rnas) >= 2 and {f["RingTime"] for f in rnas} == {"0"}  # retried every second
    assert {f["DialStatus"] for f in client.events("DialEnd")} == {"BUSY"}


async def test_ringall_losers_get_cancel_twice_and_no_ring_no_answer(sim: AmiSimulator, client: AmiClient) -> None:
    sim.add_member("backoffice", "PJSIP/202", "Bea Backoffice")
    sim.set_member("PJSIP/201", ring_s=5)
    sim.set_member("PJSIP/202", ring_s=1)
    placed = sim.place_call("+4940123123123", "Maria Fischer", queue="backoffice", talk_s=2)
    await finish(sim, client, placed)
    called = client.events("AgentCalled")
    assert [f["Interface"] for f in called] == ["PJSIP/201", "PJSIP/202"]
    assert client.events("AgentConnect")[0]["Interface"] == "PJSIP/202"
    loser = called[0]["DestChannel"]
    assert [f["DialStatus"] for f in client.events("DialEnd") if f["DestChannel"] == loser] == ["CANCEL", "CANCEL"]
    assert any(f.get("Event") == "Hangup" and f["Channel"] == loser for f in client.frames)
    assert not client.events("AgentRingNoAnswer")


async def test_joinempty_shows_only_the_queue_app_and_queuestatus(client_factory: Connect) -> None:
    config = default_config(2)
    config.queues[0].joinempty = False
    for member in config.queues[0].members:
        member.paused = True
    async with AmiSimulator(config, speed=0, start_time=START) as sim:
        client = await client_factory(sim.port)
        await client.login()
        placed = sim.place_call("+4917612345678", "Zu Spät")
        assert await finish(sim, client, placed) == ["QUEUESTATUS=JOINEMPTY", "UserEvent", "Hangup"]
        queue_apps = [f for f in client.events("Newexten") if f["Application"] == "Queue"]
        assert queue_apps[0]["AppData"].startswith("hotline,")
        assert [r["outcome"] for r in sim.truth()] == ["refused"]
        await client.close()


async def test_leaveempty_looks_like_an_abandon_but_the_channel_lives_on(client_factory: Connect) -> None:
    config = default_config(2)
    config.queues[0].leavewhenempty = True
    async with AmiSimulator(config, speed=0, start_time=START) as sim:
        client = await client_factory(sim.port)
        await client.login()
        sim.pause_member("PJSIP/101")
        sim.set_member("PJSIP/102", never_answer=True)
        placed = sim.place_call("+4917612345678", "Leer Gelaufen")
        await sim.advance(2)
        sim.pause_member("PJSIP/102")  # the ring in progress goes on until its timeout
        assert await finish(sim, client, placed) == [
            "QueueCallerJoin", "AgentCalled", "AgentRingNoAnswer", "QueueCallerAbandon", "QueueCallerLeave",
            "QUEUESTATUS=LEAVEEMPTY", "UserEvent", "Hangup",
        ]  # fmt: skip
        assert [(r["outcome"], r["queue_status"]) for r in sim.truth()] == [("overflow", "LEAVEEMPTY")]
        await client.close()


async def test_agi_lookup_variables_come_before_the_queue(sim: AmiSimulator, client: AmiClient) -> None:
    lookup = {"UHD_TENANT": "klinikum-nord", "UHD_USER_ID": "u-0042", "UHD_USER_NAME": "Jürgen Müller", "UHD_VIP": "1"}
    placed = sim.place_call("+492311234567", "Jürgen Müller", lookup=lookup)
    await finish(sim, client, placed)
    mine = [f for f in client.frames if f.get("Uniqueid") == placed.uniqueid]
    kinds = [(f["Event"], f.get("Variable")) for f in mine]
    join = kinds.index(("QueueCallerJoin", None))
    for variable, value in lookup.items():
        i = kinds.index(("VarSet", variable))
        assert i < join and mine[i]["Value"] == value
    assert ("AGIExecStart", None) in kinds


async def test_tenants_are_told_apart_by_the_number_dialled(client_factory: Connect) -> None:
    config = default_config(2)
    config.hotlines = [
        HotlineConfig("+49231400100", "hotline", tenant="klinikum-nord", trunk="telekom"),
        HotlineConfig("+49231400200", "hotline", tenant="klinikum-sued", trunk="telekom"),
    ]
    async with AmiSimulator(config, speed=0, start_time=START) as sim:
        client = await client_factory(sim.port)
        await client.login()
        north = sim.place_call("+492311111", "Anna Nord", dialled="+49231400100", talk_s=1)
        south = sim.place_call("+492312222", "Sven Süd", dialled="+49231400200", talk_s=1)
        await sim.settle()
        await client.drain()
        joins = {f["Uniqueid"]: f for f in client.events("QueueCallerJoin")}
        assert joins[north.uniqueid]["Exten"] == "+49231400100" and joins[south.uniqueid]["Exten"] == "+49231400200"
        assert joins[north.uniqueid]["Channel"].startswith("PJSIP/telekom-")
        assert {r["tenant"] for r in sim.truth()} == {"klinikum-nord", "klinikum-sued"}
        await client.close()


async def test_ids_and_linkedids(sim: AmiSimulator, client: AmiClient) -> None:
    first = sim.place_call("+492311234567", "Eins", talk_s=2)
    second = sim.place_call("+492317654321", "Zwei", talk_s=2)
    await sim.settle()
    await client.drain()
    epoch, _, seq = first.uniqueid.partition(".")
    assert epoch == str(int(START)) and seq.isdigit()
    assert first.linkedid == first.uniqueid and second.linkedid == second.uniqueid
    for connect in client.events("AgentConnect"):
        # the agent leg has its own Uniqueid and the caller's Linkedid
        assert connect["DestLinkedid"] == connect["Linkedid"] and connect["DestUniqueid"] != connect["Uniqueid"]
    stamps = [float(f["Timestamp"]) for f in client.frames if "Timestamp" in f and "Event" in f]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
