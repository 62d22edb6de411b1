"""AMI actions against the simulated PBX over TCP: list replies, member management, Originate, Hangup, transfer."""

from __future__ import annotations

from uhd_telephony.simulator import AmiSimulator

from .conftest import AmiClient


async def read_list(client: AmiClient, action: str, complete: str, **headers: str) -> tuple[dict, list[dict]]:
    aid = client.send(action, **headers)
    ack = await client.response(aid)
    items = []
    while True:
        frame = await client.read_frame()
        if frame.get("ActionID") != aid:
            continue  # a broadcast event in between
        items.append(frame)
        if frame.get("Event") == complete:
            return ack, items


async def test_queue_status_during_a_live_call(sim: AmiSimulator, client: AmiClient) -> None:
    for iface in ("PJSIP/101", "PJSIP/102", "PJSIP/103", "PJSIP/104", "PJSIP/105"):
        sim.pause_member(iface, reason="Meeting")
    waiting = sim.place_call("+492311234567", "Zoë Weiß")
    await sim.advance(12)
    ack, items = await read_list(client, "QueueStatus", "QueueStatusComplete", Queue="hotline")
    assert ack["Response"] == "Success" and ack["EventList"] == "start"
    assert ack["Message"] == "Queue status will follow"
    assert all(f["ActionID"] == ack["ActionID"] for f in items)
    kinds = [f["Event"] for f in items]
    assert kinds == ["QueueParams"] + ["QueueMember"] * 5 + ["QueueEntry", "QueueStatusComplete"]
    params, entry, complete = items[0], items[-2], items[-1]
    assert params["Queue"] == "hotline" and params["Strategy"] == "rrmemory" and params["Calls"] == "1"
    member = items[1]
    for key in ("Name", "Location", "StateInterface", "Membership", "Penalty", "CallsTaken", "LastCall",
                "LastPause", "LoginTime", "InCall", "Status", "Paused", "PausedReason", "Wrapuptime"):  # fmt: skip
        assert key in member
    assert member["Paused"] == "1" and member["PausedReason"] == "Meeting" and "Timestamp" not in member
    assert entry["Uniqueid"] == waiting.uniqueid and entry["Channel"] == waiting.channel
    assert entry["CallerIDName"] == "Zoë Weiß" and entry["Position"] == "1" and entry["Wait"] == "12"
    for key in ("Queue", "ConnectedLineNum", "ConnectedLineName", "Priority", "CallerIDNum"):
        assert key in entry
    assert complete["EventList"] == "Complete" and complete["ListItems"] == "7"


async def test_core_show_channels_during_a_talk(sim: AmiSimulator, client: AmiClient) -> None:
    placed = sim.place_call("+492311234567", "Jürgen Müller", talk_s=600)
    await sim.advance(75)
    ack, items = await read_list(client, "CoreShowChannels", "CoreShowChannelsComplete")
    assert ack["Message"] == "Channels will follow"
    channels = {f["Channel"]: f for f in items if f["Event"] == "CoreShowChannel"}
    assert items[-1]["ListItems"] == "2" == str(len(channels))
    caller = channels[placed.channel]
    assert caller["Uniqueid"] == placed.uniqueid and caller["Linkedid"] == placed.linkedid
    assert caller["Application"] == "Queue" and caller["ApplicationData"].startswith("hotline,")
    assert caller["Duration"] == "00:01:15" and caller["BridgeId"]
    assert caller["Exten"] == placed.dialled and caller["CallerIDName"] == "Jürgen Müller"
    (agent,) = (f for name, f in channels.items() if name != placed.channel)
    assert agent["Channel"].startswith("PJSIP/101-") and agent["Linkedid"] == placed.linkedid
    assert agent["BridgeId"] == caller["BridgeId"]
    for key in ("ChannelState", "ChannelStateDesc", "ConnectedLineNum", "Language", "AccountCode", "Context",
                "Priority", "ApplicationData"):  # fmt: skip
        assert key in agent
    # the raw frame puts the ActionID right after the Event line
    raw = next(r for r in client.raw if r.startswith(b"Event: CoreShowChannel\r\n"))
    assert raw.split(b"\r\n")[1].startswith(b"ActionID: ")


async def test_queue_summary(sim: AmiSimulator, client: AmiClient) -> None:
    sim.pause_member("PJSIP/101")
    _, items = await read_list(client, "QueueSummary", "QueueSummaryComplete", Queue="hotline")
    summary = items[0]
    assert summary["Event"] == "QueueSummary" and summary["LoggedIn"] == "5" and summary["Available"] == "4"
    assert items[-1]["ListItems"] == "1"


async def test_queue_pause_replies_before_its_events(client: AmiClient) -> None:
    aid = client.send("QueuePause", Interface="PJSIP/102", Paused="true", Queue="hotline", Reason="Rückruf")
    frames = [await client.read_frame() for _ in range(3)]
    assert frames[0] == {"Response": "Success", "ActionID": aid, "Message": "Interface paused successfully"}
    assert frames[1]["Event"] == "DeviceStateChange" and frames[1]["Device"] == "Queue:hotline_pause_PJSIP/102"
    assert frames[1]["State"] == "INUSE"
    pause = frames[2]
    assert pause["Event"] == "QueueMemberPause" and pause["Interface"] == "PJSIP/102"
    assert pause["Paused"] == "1" and pause["PausedReason"] == "Rückruf" and pause["Privilege"] == "agent,all"
    response = await client.action("QueuePause", Interface="PJSIP/102", Paused="false")
    assert response["Message"] == "Interface unpaused successfully"
    unpause = await client.until(lambda f: f.get("Event") == "QueueMemberPause")
    assert unpause["Paused"] == "0" and unpause["PausedReason"] == ""
    response = await client.action("QueuePause", Interface="PJSIP/999", Paused="true")
    assert response["Response"] == "Error" and response["Message"] == "Interface not found"


async def test_queue_add_penalty_remove(client: AmiClient) -> None:
    response = await client.action(
        "QueueAdd", Queue="hotline", Interface="PJSIP/110", MemberName="Tina Temp", Penalty="2", Paused="false"
    )
    assert response["Message"] == "Added interface to queue"
    added = await client.until(lambda f: f.get("Event") == "QueueMemberAdded")
    assert added["MemberName"] == "Tina Temp" and added["Membership"] == "dynamic" and added["Penalty"] == "2"
    assert (await client.action("QueueAdd", Queue="hotline", Interface="PJSIP/110"))["Message"] == (
        "Unable to add interface: Already there"
    )
    response = await client.action("QueuePenalty", Interface="PJSIP/110", Penalty="0", Queue="hotline")
    assert response["Message"] == "Interface penalty set successfully"
    assert (await client.until(lambda f: f.get("Event") == "QueueMemberPenalty"))["Penalty"] == "0"
    response = await client.action("QueueRemove", Queue="hotline", Interface="PJSIP/110")
    assert response["Message"] == "Removed interface from queue"
    assert (await client.until(lambda f: f.get("Event") == "QueueMemberRemoved"))["Interface"] == "PJSIP/110"
    response = await client.action("QueueRemove", Queue="hotline", Interface="PJSIP/110")
    assert response["Response"] == "Error" and response["Message"] == "Unable to remove interface: Not there"


async def test_originate_callback_rings_the_agent_then_dials_the_number(sim: AmiSimulator, client: AmiClient) -> None:
    aid = client.send(
        "Originate", Channel="PJSIP/103", Context="callbacks", Exten="+4930111222", Priority="1",
        CallerID='"Hotline" <4000>', Timeout="30000", Async="true",
    )  # fmt: skip
    response = await client.response(aid)
    assert response["Response"] == "Success" and response["Message"] == "Originate successfully queued"
    newchannel = await client.until(lambda f: f.get("Event") == "Newchannel")
    assert newchannel["Channel"].startswith("PJSIP/103-")
    await sim.settle()
    result = await client.until(lambda f: f.get("Event") == "OriginateResponse")
    assert result["ActionID"] == aid and result["Response"] == "Success" and result["Reason"] == "4"
    assert result["Channel"] == newchannel["Channel"] and result["Uniqueid"] == newchannel["Uniqueid"]
    dial = await client.until(lambda f: f.get("Event") == "DialBegin")
    assert dial["Channel"] == newchannel["Channel"] and dial["DestChannel"].startswith("PJSIP/trunk-")
    assert dial["DialString"] == "+4930111222@trunk" and dial["DestLinkedid"] == newchannel["Uniqueid"]
    await client.until(lambda f: f.get("Event") == "Hangup" and f.get("Channel") == newchannel["Channel"])
    await client.drain()
    kinds = [f.get("Event") for f in client.frames]
    assert kinds.index("OriginateResponse") < kinds.index("BridgeEnter") < kinds.index("BridgeDestroy")
    # the agent's phone is a queue member: the queue sees it ring and talk
    statuses = [f["Status"] for f in client.events("QueueMemberStatus") if f["Interface"] == "PJSIP/103"]
    assert statuses == ["6", "2", "1"]


async def test_originate_to_a_busy_phone_fails(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_member("PJSIP/104", busy=True)
    aid = client.send("Originate", Channel="PJSIP/104", Context="callbacks", Exten="0231999", Async="true")
    await client.response(aid)
    await sim.settle()
    result = await client.until(lambda f: f.get("Event") == "OriginateResponse")
    assert result["Response"] == "Failure" and result["Reason"] == "5" and result["Channel"] == "PJSIP/104"
    assert (await client.action("Originate", Context="x", Exten="1"))["Message"] == "Channel not specified"


async def test_hangup_action_on_a_waiting_caller_is_an_abandon(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_member("PJSIP/101", never_answer=True)
    placed = sim.place_call("+492311234567", "Klaus Weber")
    await sim.advance(5)
    response = await client.action("Hangup", Channel=placed.channel)
    assert response["Message"] == "Channel Hungup"
    await client.until(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == placed.uniqueid)
    assert [r["outcome"] for r in sim.truth()] == ["abandoned"]
    assert (await client.action("Hangup", Channel="PJSIP/nope-1"))["Message"] == "No such channel"


async def test_blind_transfer_action_moves_the_caller_to_backoffice(sim: AmiSimulator, client: AmiClient) -> None:
    placed = sim.place_call("+492311234567", "Maria Fischer", talk_s=600)
    await sim.advance(5)
    connect = await client.until(lambda f: f.get("Event") == "AgentConnect")
    response = await client.action("BlindTransfer", Channel=connect["DestChannel"], Context="backoffice-in", Exten="s")
    assert response["Message"] == "Transfer succeeded"
    transfer = await client.until(lambda f: f.get("Event") == "BlindTransfer")
    assert transfer["TransfererChannel"] == connect["DestChannel"]
    assert transfer["TransfereeUniqueid"] == placed.uniqueid and transfer["Context"] == "backoffice-in"
    complete = await client.until(lambda f: f.get("Event") == "AgentComplete")
    assert complete["Reason"] == "transfer"
    join = await client.until(lambda f: f.get("Event") == "QueueCallerJoin")
    assert join["Queue"] == "backoffice" and join["Uniqueid"] == placed.uniqueid
    await sim.advance(5)
    sim.hangup(placed.channel)  # the caller hangs up while talking to Bob
    await sim.settle()
    outcomes = [(r["queue"], r["outcome"], r["ended_by"]) for r in sim.truth()]
    assert outcomes == [("hotline", "transferred", "transfer"), ("backoffice", "answered", "caller")]
