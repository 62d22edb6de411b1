"""The AMI wire protocol over a real TCP socket: banner, login, ping, errors, event masks, several clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from uhd_telephony.simulator import AmiSimulator

from .conftest import AmiClient

Connect = Callable[[int], Awaitable[AmiClient]]


async def test_banner_is_one_crlf_line(sim: AmiSimulator, client_factory: Connect) -> None:
    c = await client_factory(sim.port)
    assert c.banner == b"Asterisk Call Manager/11.0.0\r\n"


async def test_login_accepted_then_fully_booted_and_successful_auth(sim: AmiSimulator, client_factory: Connect) -> None:
    c = await client_factory(sim.port)
    aid = c.send("Login", Username="uhd", Secret="uhdsecret")
    response = await c.read_frame()
    assert response == {"Response": "Success", "ActionID": aid, "Message": "Authentication accepted"}
    assert c.raw[0].startswith(b"Response: Success\r\nActionID: ")
    booted = await c.read_frame()
    assert booted["Event"] == "FullyBooted" and booted["Status"] == "Fully Booted"
    assert booted["Privilege"] == "system,all" and "Timestamp" not in booted
    auth = await c.read_frame()
    assert auth["Event"] == "SuccessfulAuth" and auth["AccountID"] == "uhd"
    assert auth["Privilege"] == "security,all" and float(auth["Timestamp"]) >= 1_800_000_000
    assert auth["RemoteAddress"].startswith("IPV4/TCP/127.0.0.1/")


async def test_wrong_secret_is_refused_and_the_connection_closed(sim: AmiSimulator, client_factory: Connect) -> None:
    c = await client_factory(sim.port)
    response = await c.login(secret="wrong")
    assert response["Response"] == "Error"
    assert response["Message"] == "Authentication failed"
    assert await asyncio.wait_for(c.reader.read(), 5) == b""  # closed by the server, like manager.c


async def test_configured_secret_and_username(client_factory: Connect) -> None:
    async with AmiSimulator(speed=0, username="helpdesk", secret="s3cr3t") as simulator:
        c = await client_factory(simulator.port)
        assert (await c.login(username="helpdesk", secret="uhdsecret"))["Response"] == "Error"
        c = await client_factory(simulator.port)
        assert (await c.login(username="uhd", secret="s3cr3t"))["Response"] == "Error"
        c = await client_factory(simulator.port)
        assert (await c.login(username="helpdesk", secret="s3cr3t"))["Response"] == "Success"
        await c.close()


async def test_actions_before_login_are_denied(sim: AmiSimulator, client_factory: Connect) -> None:
    c = await client_factory(sim.port)
    response = await c.action("Ping")
    assert response["Response"] == "Error" and response["Message"] == "Permission denied"
    response = await c.action("QueueStatus")
    assert response["Message"] == "Permission denied"


async def test_ping_answers_pong_with_a_timestamp(client: AmiClient) -> None:
    aid = client.send("Ping")
    response = await client.response(aid)
    assert response["Response"] == "Success" and response["Ping"] == "Pong" and response["ActionID"] == aid
    whole, _, frac = response["Timestamp"].partition(".")
    assert whole.isdigit() and len(frac) == 6


async def test_unknown_action_and_missing_action_id(client: AmiClient) -> None:
    response = await client.action("Frobnicate")
    assert response["Response"] == "Error" and response["Message"] == "Invalid/unknown command"
    client.send("Ping", action_id="")
    response = await client.until(lambda f: "Response" in f)
    assert response.get("Ping") == "Pong" and "ActionID" not in response


async def test_logoff_says_goodbye_and_closes(client: AmiClient) -> None:
    response = await client.action("Logoff")
    assert response["Response"] == "Goodbye" and response["Message"] == "Thanks for all the fish."
    assert await asyncio.wait_for(client.reader.read(), 5) == b""


async def test_events_off_silences_a_session(sim: AmiSimulator, client_factory: Connect) -> None:
    quiet = await client_factory(sim.port)
    await quiet.login(events="off")
    loud = await client_factory(sim.port)
    await loud.login()
    response = await quiet.action("Events", EventMask="off")
    assert response["Events"] == "Off"
    sim.place_call("+492311234567", "Dr. Meier")
    await sim.advance(1)
    await loud.until(lambda f: f.get("Event") == "QueueCallerJoin")
    await quiet.drain()
    assert [f for f in quiet.frames if f.get("Event") in ("Newchannel", "QueueCallerJoin")] == []
    response = await quiet.action("Events", EventMask="agent")
    assert response["Events"] == "On"
    await sim.settle()
    await quiet.drain()
    kinds = {f.get("Event") for f in quiet.frames if "Event" in f}
    assert "AgentComplete" in kinds and "Newexten" not in kinds and "Hangup" not in kinds


async def test_every_client_gets_every_event(sim: AmiSimulator, client_factory: Connect) -> None:
    clients = []
    for _ in range(3):
        c = await client_factory(sim.port)
        await c.login()
        clients.append(c)
    placed = sim.place_call("+492311234567", "Jürgen Müller", talk_s=3)
    await sim.settle()
    for c in clients:
        await c.until(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == placed.uniqueid)
    joins = [[f["Uniqueid"] for f in c.events("QueueCallerJoin")] for c in clients]
    assert joins == [[placed.uniqueid]] * 3
    assert {c.events("QueueCallerJoin")[0]["CallerIDName"] for c in clients} == {"Jürgen Müller"}


async def test_several_actions_in_one_packet_are_answered_in_order(client: AmiClient) -> None:
    client.writer.write(
        b"Action: Ping\r\nActionID: one\r\n\r\n"
        b"Action: Ping\r\nActionID: two\r\n\r\n"
        b"Action: Nope\r\nActionID: three\r\n\r\n"
    )
    ids: list[str] = []
    while len(ids) < 3:
        frame = await client.read_frame()
        if "Response" in frame:
            ids.append(frame["ActionID"])
    assert ids == ["one", "two", "three"]


async def test_actions_with_bare_lf_line_ends_are_understood(client: AmiClient) -> None:
    client.writer.write(b"Action: Ping\nActionID: lf\n\n")
    response = await client.response("lf")
    assert response["Ping"] == "Pong"
