"""The AMI client over real TCP against the scripted fake manager port."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from typing import Any

import pytest

from tests.ami.conftest import SECRET, MakeClient, Recorder
from tests.ami.fake_ami import FULLY_BOOTED, FakeAmi, frame
from tests.support.helpers import eventually
from uhd_telephony.ami.client import AmiClient
from uhd_telephony.ami.events import chan_vars
from uhd_telephony.ami.frames import EventFilter
from uhd_telephony.ami.protocol import AmiAction, message_fields
from uhd_telephony.ami.snapshot import ChannelInfo, QueueEntry, QueueMember
from uhd_telephony.errors import AmiError, AmiNotConnected
from uhd_telephony.settings import Settings

WRONG_SECRET = "wrong-Secret-99"


def newchannel(channel: str, name: str = "Anna Schmidt") -> bytes:
    return frame(("Event", "Newchannel"), ("Channel", channel), ("Uniqueid", "1.1"), ("CallerIDName", name))


async def connected(make_client: MakeClient, **kwargs: Any) -> tuple[AmiClient, Recorder]:
    client, rec = make_client(**kwargs)
    await client.start()
    await client.wait_connected(2)
    await eventually(lambda: rec.connects == 1)
    return client, rec


async def test_logs_in_and_delivers_events(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    login = fake_ami.actions[0]
    assert (login["Action"], login["Username"], login["Events"]) == ("Login", "uhd", "on")

    before = time.time()
    await fake_ami.push(newchannel("PJSIP/100-00000001"))
    await eventually(lambda: bool(rec.named("Newchannel")))
    fields, received_at = rec.events[-1]
    assert fields == {
        "Event": "Newchannel",
        "Channel": "PJSIP/100-00000001",
        "Uniqueid": "1.1",
        "CallerIDName": "Anna Schmidt",
    }
    assert before <= received_at <= time.time()
    assert rec.named("FullyBooted")  # the tracker filter passes it on too

    status = client.status
    assert status.connected and status.authenticated and status.healthy and not status.closed
    assert status.logins == 1 and status.reconnects == 0 and status.last_error is None
    assert status.connected_since is not None and status.last_event_at is not None
    assert status.last_event_at >= before and status.decoder.events >= 2
    assert json.loads(json.dumps(status.as_dict()))["healthy"] is True  # ready for the health endpoint

    await asyncio.sleep(0.3)
    assert rec.connects == 1  # FullyBooted came with the login: one resync, no second one
    assert client.status.ping_rtt_s is not None and fake_ami.count("Ping") >= 1


async def test_wrong_secret_is_reported_clearly_and_retried_with_backoff(
    fake_ami: FakeAmi, make_client: MakeClient, ami_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, rec = make_client(ami_settings.with_overrides(ami_secret=WRONG_SECRET))
    await client.start()
    await eventually(lambda: client.status.auth_failures >= 4)
    status = client.status
    assert not status.authenticated and not status.healthy
    assert status.last_error == "authentication failed"
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})
    await client.close()
    assert rec.connects == 0 and rec.disconnects == []

    # exactly one line per failed attempt: ERROR, naming host, port and user, no traceback, no secret
    ours = [r for r in caplog.records if r.name.startswith("uhd_telephony") and r.levelno >= logging.WARNING]
    assert len(ours) == client.status.auth_failures
    for record in ours:
        text = record.getMessage()
        assert record.levelno == logging.ERROR and record.exc_info is None
        assert f"127.0.0.1:{fake_ami.port}" in text and "'uhd'" in text and "authentication failed" in text
        assert WRONG_SECRET not in text and SECRET not in text

    # capped exponential backoff (0.05 s doubling, at most 0.4 s), jitter within the top quarter
    delays = [float(m.group(1)) for r in ours if (m := re.search(r"retrying in ([0-9.]+) s", r.getMessage()))]
    for n, delay in enumerate(delays):
        ceiling = min(0.4, 0.05 * 2**n)
        assert 0.75 * ceiling - 0.01 <= delay <= ceiling + 0.01
    opened = [conn.opened_at for conn in fake_ami.connections]
    for n, (a, b) in enumerate(itertools.pairwise(opened)):
        assert b - a >= delays[n] - 0.01  # the server really saw the pauses: no hammering


async def test_secret_never_in_logs_or_reprs(
    fake_ami: FakeAmi, make_client: MakeClient, ami_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good, _ = make_client()
    bad, _ = make_client(ami_settings.with_overrides(ami_secret=WRONG_SECRET))
    await good.start()
    await bad.start()
    await good.wait_connected(2)
    await eventually(lambda: bad.status.auth_failures >= 2)
    await good.send_action({"Action": "Ping"})
    fake_ami.drop()  # a reconnect logs in again
    await eventually(lambda: good.status.logins == 2)
    login = AmiAction({"Action": "Login", "Username": "uhd", "Secret": SECRET})
    await good.close()
    await bad.close()

    assert caplog.records  # DEBUG records were captured
    logged = caplog.text + "".join(str(r.args) + (r.exc_text or "") for r in caplog.records)
    shown = [good, bad, good.status, bad.status, good.status.as_dict(), ami_settings, login]
    for secret in (SECRET, WRONG_SECRET):
        assert secret not in logged
        for obj in shown:
            assert secret not in repr(obj)
    assert f"Secret: {SECRET}" in str(login)  # only the wire form carries it


async def test_latin1_name_arrives_decoded(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    await fake_ami.push(b"Event: Newchannel\r\nChannel: PJSIP/1\r\nCallerIDName: J\xfcrgen M\xfcller\r\n\r\n")
    await eventually(lambda: bool(rec.named("Newchannel")))
    assert rec.named("Newchannel")[0]["CallerIDName"] == "Jürgen Müller"
    assert client.status.decoder.fallback_decoded == 1


async def test_utf8_character_split_across_reads_survives(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    data = newchannel("PJSIP/2", "Jürgen Müller")
    cut = data.index("ü".encode()) + 1  # between the two bytes of the first "ü"
    received = client.status.decoder.bytes
    await fake_ami.push(data[:cut])
    await eventually(lambda: client.status.decoder.bytes == received + cut)  # the first half was read alone
    assert not rec.named("Newchannel")
    await fake_ami.push(data[cut:])
    await eventually(lambda: bool(rec.named("Newchannel")))
    assert rec.named("Newchannel")[0]["CallerIDName"] == "Jürgen Müller"


async def test_garbage_oversized_and_unread_frames_are_counted_and_skipped(
    fake_ami: FakeAmi, make_client: MakeClient
) -> None:
    client, rec = await connected(make_client)
    before = client.status.decoder
    await fake_ami.push(b"this is no AMI frame\r\n\r\n")
    await fake_ami.push(b"Event: Newchannel\r\nChannel: PJSIP/huge\r\nJunk: " + b"x" * 70_000 + b"\r\n\r\n")
    await fake_ami.push(
        frame(("Event", "VarSet"), ("Channel", "PJSIP/3"), ("Variable", "NOBODY_READS"), ("Value", "1"))
    )
    await fake_ami.push(frame(("Event", "Hangup"), ("Channel", "PJSIP/after"), ("Cause", "16")))
    await eventually(lambda: bool(rec.named("Hangup")))
    after = client.status.decoder
    assert after.malformed == before.malformed + 1
    assert after.oversized == before.oversized + 1
    assert after.skipped == before.skipped + 1
    assert not rec.named("Newchannel") and not rec.named("VarSet")
    assert rec.named("Hangup") == [{"Event": "Hangup", "Channel": "PJSIP/after", "Cause": "16"}]
    assert len(fake_ami.connections) == 1 and client.status.connected


async def test_truncated_frame_at_disconnect_does_not_leak(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    received = client.status.decoder.bytes
    await fake_ami.push(b"Event: Newchannel\r\nChannel: PJSIP/half\r\nCallerIDN")
    await eventually(lambda: client.status.decoder.bytes > received)  # the half frame reached the client
    fake_ami.drop()
    await eventually(lambda: rec.connects == 2)
    await fake_ami.push(frame(("Event", "Hangup"), ("Channel", "PJSIP/next"), ("Cause", "16")))
    await eventually(lambda: bool(rec.named("Hangup")))
    assert rec.named("Hangup") == [{"Event": "Hangup", "Channel": "PJSIP/next", "Cause": "16"}]
    assert not rec.named("Newchannel")
    assert client.status.decoder.malformed == 0


async def test_peer_that_stops_answering_is_detected_and_replaced(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    await eventually(lambda: client.status.ping_rtt_s is not None)
    hung = fake_ami.current
    fake_ami.mute()
    muted_at = asyncio.get_running_loop().time()
    await eventually(lambda: hung.closed_at is not None)
    assert hung.closed_at is not None
    assert hung.closed_at - muted_at <= 0.2 + 0.2 + 0.15  # ping interval + ping timeout + slack
    await eventually(lambda: rec.connects == 2)
    assert len(rec.disconnects) == 1 and "no Pong within 0.2 s" in rec.disconnects[0]
    assert client.status.healthy and client.status.logins == 2


async def test_dropped_connection_reconnects_with_backoff_and_resyncs(
    fake_ami: FakeAmi, make_client: MakeClient
) -> None:
    snapshots = []
    rec = Recorder()

    async def resync(client: object) -> None:
        rec.connects += 1
        snapshots.append(await client.snapshot())  # type: ignore[attr-defined]

    client, _ = make_client(recorder=rec, on_connect=resync)
    await client.start()
    await eventually(lambda: len(snapshots) == 1)
    fake_ami.drop()
    await eventually(lambda: len(snapshots) == 2)
    first, second = fake_ami.connections
    assert first.closed_at is not None and second.opened_at - first.closed_at >= 0.75 * 0.05 - 0.005
    status = client.status
    assert status.logins == 2 and status.reconnects >= 1 and status.healthy
    assert len(rec.disconnects) == 1
    assert [len(s.members) for s in snapshots] == [1, 1]


async def test_action_in_flight_fails_and_is_not_resent(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    fake_ami.hold.add("Originate")
    originate = {"Action": "Originate", "Channel": "Local/101@agents", "Exten": "s", "Context": "x", "Async": "true"}
    pending = asyncio.create_task(client.send_action(originate, timeout=5))
    await eventually(lambda: fake_ami.count("Originate") == 1)
    fake_ami.drop()
    with pytest.raises(AmiNotConnected, match="not re-sent"):
        await pending
    await eventually(lambda: rec.connects == 2)
    await client.send_action({"Action": "Ping"})
    await asyncio.sleep(0.3)  # panoramisk re-sends on the FullyBooted after a reconnect: give it the chance
    assert fake_ami.count("Originate") == 1
    assert [a["Action"] for a in fake_ami.connections[1].actions if a["Action"] != "Ping"] == ["Login"]


async def test_close_during_pending_reconnect_stays_closed(
    fake_ami: FakeAmi, make_client: MakeClient, ami_settings: Settings
) -> None:
    slow = ami_settings.with_overrides(ami_reconnect_min_s=0.5, ami_reconnect_max_s=1.0)
    client, _ = await connected(make_client, settings=slow)
    fake_ami.drop()
    await eventually(lambda: not client.status.connected)
    await client.close()
    await asyncio.sleep(0.8)
    assert len(fake_ami.connections) == 1
    status = client.status
    assert status.closed and not status.connected and not status.healthy
    with pytest.raises(RuntimeError):
        await client.start()
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})


async def test_close_during_pending_login_stays_closed(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    fake_ami.silent = True  # accepts, never answers the Login
    client, _ = make_client()
    await client.start()
    await eventually(lambda: fake_ami.count("Login") == 1)
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 0.3
    await eventually(lambda: fake_ami.connections[0].closed_at is not None)
    await asyncio.sleep(0.6)  # longer than the login timeout plus a backoff
    assert len(fake_ami.connections) == 1


async def test_close_right_after_start_never_connects(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, _ = make_client()
    await client.start()
    await client.close()
    await client.close()  # idempotent
    await asyncio.sleep(0.2)
    assert fake_ami.connections == []


async def test_close_before_start_and_twice(make_client: MakeClient) -> None:
    client, _ = make_client()
    await client.close()
    await client.close()
    assert client.status.closed
    with pytest.raises(RuntimeError):
        await client.start()


async def test_close_from_on_disconnect_stops_the_supervisor(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    async def give_up(client: object, reason: str) -> None:
        await client.close()  # type: ignore[attr-defined]

    client, _ = await connected(make_client, on_disconnect=give_up)
    fake_ami.drop()
    await asyncio.sleep(0.4)
    assert len(fake_ami.connections) == 1 and client.status.closed


async def test_raising_on_event_is_counted_and_the_connection_survives(
    fake_ami: FakeAmi, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def on_event(fields: dict[str, str], received_at: float) -> None:
        if fields.get("Channel") == "PJSIP/boom":
            raise RuntimeError("tracker bug")
        seen.append(fields.get("Channel", ""))

    client, _ = await connected(make_client, on_event=on_event)
    # both frames in one TCP write: the second is delivered by the same data_received call
    await fake_ami.push(newchannel("PJSIP/boom") + newchannel("PJSIP/fine"))
    await eventually(lambda: "PJSIP/fine" in seen)
    assert client.status.callback_errors == 1
    assert len(fake_ami.connections) == 1 and client.status.healthy
    failures = [r for r in caplog.records if "on_event callback failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


async def test_raising_on_connect_is_counted_and_the_connection_survives(
    fake_ami: FakeAmi, make_client: MakeClient
) -> None:
    async def broken(client: object) -> None:
        raise RuntimeError("resync bug")

    client, _ = make_client(on_connect=broken)
    await client.start()
    await client.wait_connected(2)
    await eventually(lambda: client.status.hook_errors == 1)
    await asyncio.sleep(0.3)  # pings keep going
    assert client.status.healthy and len(fake_ami.connections) == 1


async def test_async_on_event_is_refused(make_client: MakeClient, fake_ami: FakeAmi) -> None:
    async def handler(fields: dict[str, str], received_at: float) -> None:
        pass

    with pytest.raises(TypeError, match="synchronous"):
        make_client(on_event=handler)

    # a sync callable that hands back a coroutine is counted, and the coroutine closed (no orphan task)
    client, _ = await connected(make_client, on_event=lambda fields, at: handler(fields, at))
    await fake_ami.push(newchannel("PJSIP/4"))
    await eventually(lambda: client.status.callback_errors >= 2)  # FullyBooted and Newchannel
    assert client.status.healthy


async def test_snapshot_returns_entries_members_and_channels(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    before = time.time()
    snap = await client.snapshot()
    assert before <= snap.taken_at <= time.time()
    assert snap.entries == [
        QueueEntry(
            queue="hotline",
            channel="Local/60@callers-00000000;1",
            uniqueid="1795733173.0",
            linkedid="1795733173.0",
            caller_number="+4923198601000",
            caller_name="Anna Schmidt",
            position=1,
            wait_s=12,
        )
    ]
    assert snap.members == [
        QueueMember(
            queue="hotline",
            interface="Local/101@agents/n",
            member_name="Agent Jürgen",
            status=2,
            paused=True,
            paused_reason="Rückruf",
            in_call=True,
            membership="static",
        )
    ]
    assert [c.channel for c in snap.channels] == ["Local/60@callers-00000000;1", "Local/101@agents-00000001;1"]
    first: ChannelInfo = snap.channels[0]
    assert first.queue == "hotline" and first.duration_s == 65 and first.bridge_id == ""
    assert snap.channels[1].duration_s == 42
    # list events answer an action: they do not reach on_event
    assert not rec.named("QueueMember") and not rec.named("CoreShowChannel")


async def test_list_reply_headers_chanvariable_and_empty_last_header(
    fake_ami: FakeAmi, make_client: MakeClient
) -> None:
    client, _ = await connected(make_client)
    reply = await client.send_action({"Action": "CoreShowChannels"}, as_list=True)
    assert isinstance(reply, list)
    assert reply[0]["Response"] == "Success" and reply[-1]["Event"] == "CoreShowChannelsComplete"
    two, one = (m for m in reply if m.get("Event") == "CoreShowChannel")
    # always one str, several joined by newlines (panoramisk gives a str for one and a list for several)
    assert two["ChanVariable"] == "UHD_TENANT=klinikum\nUHD_VIP=1"
    assert one["ChanVariable"] == "UHD_TENANT=klinikum"
    assert chan_vars(message_fields(two)) == {"UHD_TENANT": "klinikum", "UHD_VIP": "1"}
    # the empty last header (BridgeId) is kept
    assert "BridgeId" in one and one["BridgeId"] == ""


async def test_send_action_errors(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, _ = await connected(make_client)
    fake_ami.errors["QueueAdd"] = "Unable to add interface: Already there"
    with pytest.raises(AmiError, match="Already there") as raised:
        await client.send_action({"Action": "QueueAdd", "Queue": "hotline", "Interface": "Local/106@agents/n"})
    assert raised.value.details["response"]["Message"] == "Unable to add interface: Already there"

    # an error to a list action resolves at once (panoramisk waits for a list end that never comes)
    fake_ami.errors["QueueStatus"] = "Permission denied"
    started = time.monotonic()
    with pytest.raises(AmiError, match="Permission denied"):
        await client.send_action({"Action": "QueueStatus"}, as_list=True)
    assert time.monotonic() - started < 0.3

    fake_ami.hold.add("Status")
    with pytest.raises(AmiError, match="no reply to Status"):
        await client.send_action({"Action": "Status"}, timeout=0.1)

    with pytest.raises(AmiError, match="line break"):
        await client.send_action({"Action": "Originate", "CallerID": "x\r\nAction: Hangup"})
    assert fake_ami.count("Originate") == 0
    with pytest.raises(ValueError):
        await client.send_action({"Action": "Logoff"})
    assert client.status.healthy


async def test_originate_replies_sync_and_async(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, _ = await connected(make_client)
    base = {"Action": "Originate", "Channel": "Local/101@agents", "Context": "x", "Exten": "s", "Priority": "1"}
    # synchronous: panoramisk's reply heuristics would raise KeyError('async') on "successfully queued"
    reply = await client.send_action(base)
    assert not isinstance(reply, list) and reply["Message"] == "Originate successfully queued"
    replies = await client.send_action({**base, "Async": "true"})
    assert isinstance(replies, list) and [m.get("Event", "") for m in replies] == ["", "OriginateResponse"]


async def test_send_action_before_login_raises(make_client: MakeClient) -> None:
    client, _ = make_client()
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})
    with pytest.raises(AmiNotConnected):
        await client.wait_connected(0.01)


async def test_shutdown_event_is_a_disconnect(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    client, rec = await connected(make_client)
    await fake_ami.push(
        frame(("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Cleanly"), ("Restart", "True"))
        + newchannel("PJSIP/behind-shutdown")
    )
    await eventually(lambda: rec.connects == 2)
    assert rec.named("Shutdown") and not rec.named("Newchannel")
    assert "Asterisk shut down" in rec.disconnects[0]
    assert client.status.logins == 2


async def test_shutdown_is_acted_on_even_when_the_filter_drops_it(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    _, rec = await connected(make_client, event_filter=EventFilter({"Hangup"}))
    assert not rec.named("FullyBooted")  # not forwarded, but it still triggered the resync
    await fake_ami.push(frame(("Event", "Shutdown"), ("Shutdown", "Cleanly"), ("Restart", "True")))
    await eventually(lambda: rec.connects == 2)
    assert not rec.named("Shutdown")


async def test_late_fully_booted_triggers_a_second_resync(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    fake_ami.send_fully_booted = False  # Asterisk still starting when we log in
    client, rec = make_client()
    await client.start()
    await client.wait_connected(2)
    logged_in = time.monotonic()
    await eventually(lambda: rec.connects == 1)
    assert time.monotonic() - logged_in >= 0.4  # waited ami_action_timeout_s for FullyBooted first
    await fake_ami.push(FULLY_BOOTED)
    await eventually(lambda: rec.connects == 2)
    assert client.status.logins == 1


async def test_no_filter_passes_every_event(fake_ami: FakeAmi, make_client: MakeClient) -> None:
    _, rec = await connected(make_client, event_filter=None)
    await fake_ami.push(frame(("Event", "SuccessfulAuth"), ("AccountID", "uhd")))
    await eventually(lambda: bool(rec.named("SuccessfulAuth")))
