"""The tracker on synthetic streams: the outcomes and faults the real traces do not show."""

from __future__ import annotations

import dataclasses

import pytest

from uhd_telephony.ami.names import USEREVENT_CALLBACK, USEREVENT_CLOSED, VAR_TENANT, VAR_VIP
from uhd_telephony.ami.snapshot import Snapshot
from uhd_telephony.calls import domain
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.records import CallRecord, RingAttempt
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.tracker import CallTracker

from .factory import Caller, frame

T0 = 1_795_000_000.0


def run(data: bytes, tracker: CallTracker | None = None) -> list[CallRecord]:
    return replay_bytes(data, tracker or CallTracker()).records


def collect(tracker: CallTracker) -> tuple[CallPipeline, list[domain.CallEvent]]:
    seen: list[domain.CallEvent] = []
    return CallPipeline(tracker, seen.extend, clock=lambda: tracker.now), seen


def test_answered_call_emits_offered_ringing_answered_ended_in_order() -> None:
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(Caller("1.1").answered_call(T0))
    assert [e.name for e in seen] == ["CallOffered", "AgentRinging", "CallAnswered", "CallEnded"]
    ended = seen[-1].call
    assert ended.outcome == "answered" and ended.agent == "Agent Anna" and ended.agent_interface == "PJSIP/101"
    assert ended.wait_s == 3.001 and ended.talk_s == 29.999
    assert tracker.calls == {}


def test_latin1_caller_name_arrives_intact() -> None:
    c = Caller("1.2", name="Jürgen Müller")
    data = c.answered_call(T0).replace("Jürgen Müller".encode(), "Jürgen Müller".encode("latin-1"))
    (record,) = run(data)
    assert record.caller_name == "Jürgen Müller"


def test_refused_at_join_is_offered_and_not_reached() -> None:
    c = Caller("1.3")
    (record,) = run(c.newchannel(T0) + c.queue_app(T0 + 0.1) + c.varset(T0 + 0.1, "QUEUESTATUS", "JOINEMPTY"))
    assert record.outcome == "refused" and record.queue == "hotline" and record.queue_status == "JOINEMPTY"
    assert record.wait_s == 0


def test_leaving_an_empty_queue_is_overflow_not_abandon() -> None:
    c = Caller("1.4")
    data = (
        c.join(T0)
        + c.abandon(T0 + 12, 12)
        + c.leave(T0 + 12.001)
        + c.varset(T0 + 12.002, "QUEUESTATUS", "LEAVEEMPTY")
        + c.hangup(T0 + 20)
    )
    (record,) = run(data)
    assert record.outcome == "overflow" and record.wait_s == 12


def test_exit_with_key_and_callback_request() -> None:
    key = Caller("1.5")
    (record,) = run(key.join(T0) + key.leave(T0 + 7) + key.hangup(T0 + 30))
    assert record.outcome == "exit_key" and record.wait_s == 7
    cb = Caller("1.6")
    (record,) = run(cb.join(T0) + cb.leave(T0 + 7) + cb.userevent(T0 + 7.1, USEREVENT_CALLBACK, Reason="KEY"))
    assert record.outcome == "callback" and record.callback_requested


def test_timeout_with_callback_request_stays_a_timeout() -> None:
    c = Caller("1.7")
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(
        c.join(T0)
        + c.abandon(T0 + 60, 60)
        + c.leave(T0 + 60)
        + c.varset(T0 + 60, "QUEUESTATUS", "TIMEOUT")
        + c.userevent(T0 + 60.01, USEREVENT_CALLBACK, Queue="hotline", Reason="TIMEOUT")
        + c.hangup(T0 + 60.02)
    )
    assert [e.name for e in seen] == ["CallOffered", "CallbackRequested", "CallTimedOut", "CallEnded"]
    assert seen[-1].call.outcome == "timeout" and seen[-1].call.callback_requested


def test_channel_living_on_after_timeout_is_finalised_after_grace() -> None:
    # the overflow branch sends the caller to voicemail: no Hangup for minutes
    c = Caller("1.8")
    tracker = CallTracker(grace_s=2)
    pipeline, seen = collect(tracker)
    pipeline.feed(c.join(T0) + c.abandon(T0 + 60, 60) + c.varset(T0 + 60, "QUEUESTATUS", "TIMEOUT"))
    assert not any(isinstance(e, domain.CallEnded) for e in seen)
    assert tracker.tick() == []  # no time has passed on the Asterisk clock
    pipeline.feed(Caller("9.9").newchannel(T0 + 63))  # any later event moves the clock
    (ended,) = [e for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.call.outcome == "timeout" and ended.call.ended_at == T0 + 60


def test_hotline_closed_is_its_own_record() -> None:
    c = Caller("1.9")
    (record,) = run(c.newchannel(T0) + c.userevent(T0 + 1, USEREVENT_CLOSED, Queue="hotline", Tenant="klinikum-a"))
    assert record.outcome == "closed" and record.tenant == "klinikum-a" and record.queue == "hotline"


def test_tenant_from_variable_then_number_then_queue_then_default() -> None:
    numbers = {"+49 231 98600": "klinikum-a"}
    queues = {"hotline-b": "klinikum-b"}
    by_var = Caller("2.1", dialled="999")
    data = by_var.newchannel(T0) + by_var.varset(T0, VAR_TENANT, "klinikum-c") + by_var.varset(T0, VAR_VIP, "1")
    data += by_var.answered_call(T0 + 1)
    by_number = Caller("2.2", dialled="+4923198600")
    by_queue = Caller("2.3", dialled="555", queue="hotline-b")
    nothing = Caller("2.4", dialled="555")
    for c in (by_number, by_queue, nothing):
        data += c.answered_call(T0 + 1)
    records = run(data, CallTracker(tenant_numbers=numbers, tenant_queues=queues))
    assert {r.uniqueid: r.tenant for r in records} == {
        "2.1": "klinikum-c",
        "2.2": "klinikum-a",
        "2.3": "klinikum-b",
        "2.4": "default",
    }
    assert records[0].variables == {VAR_TENANT: "klinikum-c", VAR_VIP: "1"}


def test_orphan_connect_and_complete_make_a_record_from_hold_and_talk_time() -> None:
    # the service started mid-call and saw only the end of it
    c = Caller("3.1")
    (record,) = run(c.complete(T0 + 100, hold=20, talk=80))
    assert record.outcome == "answered" and record.resynced
    assert record.entered_at == T0 and record.answered_at == T0 + 20 and record.wait_s == 20
    tracker = CallTracker()
    records = run(c.connect(T0 + 20, hold=20) + c.complete(T0 + 100, 20, 80) + c.hangup(T0 + 100), tracker)
    assert len(records) == 1 and tracker.stats.orphans == 1


def test_orphan_ring_events_are_counted_and_ignored() -> None:
    tracker = CallTracker()
    c = Caller("3.2")
    assert run(c.called(T0) + c.ring_no_answer(T0 + 15, 15000) + c.leave(T0 + 16), tracker) == []
    assert tracker.stats.orphans == 2 and tracker.calls == {}


def test_agent_complete_after_caller_hangup_keeps_who_ended() -> None:
    c = Caller("3.3")
    data = c.join(T0) + c.connect(T0 + 5, 5) + c.hangup(T0 + 50) + c.complete(T0 + 50.001, 5, 45, reason="caller")
    (record,) = run(data)
    assert record.outcome == "answered" and record.ended_by == "caller" and record.ended_at == T0 + 50.001


def test_lost_agent_complete_is_finalised_from_the_hangup_after_grace() -> None:
    c = Caller("3.4")
    tracker = CallTracker(grace_s=2)
    pipeline, seen = collect(tracker)
    pipeline.feed(c.join(T0) + c.connect(T0 + 5, 5) + c.hangup(T0 + 50))
    assert tracker.calls
    pipeline.flush()
    (ended,) = [e for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.call.outcome == "answered" and ended.call.ended_at == T0 + 50 and ended.call.talk_s == 45


def test_asterisk_clock_behind_ours_does_not_end_calls_between_leave_and_connect() -> None:
    c = Caller("3.5")
    tracker = CallTracker(grace_s=2)
    wall = [T0 + 3600.0]  # our clock is an hour ahead of Asterisk's
    pipeline = CallPipeline(tracker, lambda events: None, clock=lambda: wall[0])
    pipeline.feed(c.join(T0) + c.leave(T0 + 3))
    wall[0] += 0.5
    pipeline.tick()
    assert tracker.calls, "finalised before AgentConnect could arrive"
    pipeline.feed(c.connect(T0 + 3.001, 3))
    assert next(iter(tracker.calls.values())).answered_at == T0 + 3.001
    wall[0] += 3
    pipeline.tick()
    assert tracker.calls  # answered and talking: nothing to expire


def test_garbage_and_malformed_frames_are_skipped() -> None:
    c = Caller("3.6")
    junk = b"\x00\xff\xfe garbage\r\n\r\nEvent: QueueCallerJoin\r\nTimestamp: not-a-number\r\n\r\n"
    junk += b"Event: AgentConnect\r\nHoldTime: x\r\n\r\n" + b"no colon here at all\r\n\r\n"
    result = replay_bytes(junk + c.answered_call(T0))
    assert [r.uniqueid for r in result.records] == ["3.6"]
    assert result.frames.malformed >= 2


def test_oversized_frame_is_dropped_and_the_stream_recovers() -> None:
    c = Caller("3.7")
    huge = b"Event: VarSet\r\nValue: " + b"x" * 70_000 + b"\r\n\r\n"
    result = replay_bytes(huge + c.answered_call(T0), chunk=4096)
    assert result.frames.oversized == 1
    assert [r.uniqueid for r in result.records] == ["3.7"]


@pytest.mark.slow
def test_memory_stays_bounded_over_many_calls() -> None:
    tracker = CallTracker(max_finished=1000, max_channels=500)
    pipeline, seen = collect(tracker)
    for i in range(5000):
        c = Caller(f"{T0 + i:.0f}.{i}")
        pipeline.feed(c.answered_call(T0 + i * 10))
        # an agent leg whose Hangup we never see
        pipeline.feed(frame("Newchannel", Timestamp=f"{T0 + i * 10:.6f}", Channel=f"PJSIP/101-{i}", Uniqueid=f"a{i}"))
    pipeline.flush()
    assert sum(isinstance(e, domain.CallEnded) for e in seen) == 5000
    assert tracker.calls == {} and tracker._deadlines == {} and tracker._exits == {}
    assert len(tracker._finished) <= 1000 and len(tracker._channels) <= 500


def snapshot(taken_at: float, *items: dict[str, str]) -> Snapshot:
    snap = Snapshot(taken_at)
    snap.add_all(items)
    return snap


def test_resync_after_gap_answers_ends_and_adds_calls() -> None:
    answered_in_gap, gone_in_gap, still_waiting = Caller("4.1"), Caller("4.2"), Caller("4.3")
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(answered_in_gap.join(T0) + gone_in_gap.join(T0 + 1) + still_waiting.join(T0 + 2))
    new_waiting = Caller("4.4")
    snap = snapshot(
        T0 + 30,
        {"Event": "QueueMember", "Queue": "hotline", "Name": "Agent Anna", "Location": "PJSIP/101"},
        {"Event": "QueueEntry", "Queue": "hotline", "Uniqueid": "4.3", "Channel": still_waiting.channel, "Wait": "28"},
        {
            "Event": "QueueEntry",
            "Queue": "hotline",
            "Uniqueid": "4.4",
            "Channel": new_waiting.channel,
            "Wait": "5",
            "CallerIDNum": "+4930111",
            "CallerIDName": "Neu",
        },
        {
            "Event": "CoreShowChannel",
            "Channel": answered_in_gap.channel,
            "Uniqueid": "4.1",
            "Linkedid": "4.1",
            "Application": "Queue",
            "ApplicationData": "hotline,r,,,60",
            "BridgeId": "b1",
            "Duration": "00:00:30",
        },
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/101-00000007",
            "Uniqueid": "4.1a",
            "Linkedid": "4.1",
            "Application": "AppQueue",
            "BridgeId": "b1",
            "Duration": "00:00:12",
        },
    )
    pipeline.resync(snap)
    events = [(e.name, e.call.uniqueid) for e in seen if e.name != "CallOffered" or e.call.uniqueid == "4.4"]
    assert ("CallAnswered", "4.1") in events and ("CallEnded", "4.2") in events and ("CallOffered", "4.4") in events
    answered = tracker.calls["4.1@hotline"]
    assert answered.agent == "Agent Anna" and answered.answered_at == T0 + 18 and answered.resynced
    gone = next(e.call for e in seen if isinstance(e, domain.CallEnded))
    assert gone.uniqueid == "4.2" and gone.outcome == "unknown" and gone.resynced
    assert tracker.calls["4.4@hotline"].entered_at == T0 + 25
    assert tracker.calls["4.3@hotline"].entered_at == T0 + 2  # unchanged, exact time kept
    # the stream resumes: the answered call ends normally, once
    pipeline.feed(answered_in_gap.complete(T0 + 60, 18, 42) + answered_in_gap.hangup(T0 + 60))
    ended = [e.call.uniqueid for e in seen if isinstance(e, domain.CallEnded)]
    assert ended == ["4.2", "4.1"]


def test_restart_restores_open_calls_then_resync_confirms_them() -> None:
    c = Caller("5.1")
    first = CallTracker()
    pipeline, seen = collect(first)
    pipeline.feed(c.join(T0) + c.connect(T0 + 4, 4))
    stored = [e.call for e in seen][-1]  # what the store holds: the answered snapshot
    second = CallTracker()
    second.restore([stored])
    pipeline2, seen2 = collect(second)
    snap = snapshot(
        T0 + 10,
        {
            "Event": "CoreShowChannel",
            "Channel": c.channel,
            "Uniqueid": "5.1",
            "Application": "Queue",
            "ApplicationData": "hotline",
            "BridgeId": "b",
            "Duration": "00:00:10",
        },
    )
    pipeline2.resync(snap)
    assert seen2 == []  # nothing new: the call is known and still talking
    pipeline2.feed(c.complete(T0 + 20, 4, 16) + c.hangup(T0 + 20))
    (ended,) = [e for e in seen2 if isinstance(e, domain.CallEnded)]
    assert ended.call.entered_at == T0 and ended.call.answered_at == T0 + 4 and ended.call.talk_s == 16


def _restored_answered(answered_at: float) -> CallRecord:
    return CallRecord(
        call_id="9.1@hotline",
        linkedid="9.1",
        uniqueid="9.1",
        queue="hotline",
        tenant="klinikum-nord",
        entered_at=answered_at - 10,
        answered_at=answered_at,
        wait_s=10.0,
        agent="Agent Anna",
        agent_interface="PJSIP/101",
    )


def test_a_call_gone_during_a_restart_never_ends_before_it_was_answered() -> None:
    # the record was answered on Asterisk's clock, which runs ahead of this machine's: the snapshot's own time
    # (this machine's) is before the answer
    tracker = CallTracker()
    tracker.restore([_restored_answered(T0 + 100)])
    (ended,) = [e for e in tracker.resync(Snapshot(taken_at=T0 + 50)) if isinstance(e, domain.CallEnded)]
    call = ended.call
    assert call.outcome == "answered" and call.resynced
    assert call.entered_at <= call.answered_at <= call.ended_at  # type: ignore[operator]
    assert call.talk_s == 0.0


def test_the_snapshot_is_placed_on_asterisks_clock_by_the_pongs_timestamp() -> None:
    tracker = CallTracker()
    tracker.restore([_restored_answered(T0 + 100)])
    snap = Snapshot(taken_at=T0 + 50)
    snap.asterisk_time = T0 + 160  # Pong: Asterisk's own time when the snapshot was taken
    (ended,) = [e for e in tracker.resync(snap) if isinstance(e, domain.CallEnded)]
    assert ended.call.ended_at == T0 + 160 and ended.call.talk_s == 60.0


def test_a_resynced_call_learns_its_tenant_and_hotline_from_the_channel_variables() -> None:
    tracker = CallTracker(tenant_queues={"hotline": "klinikum-nord"})
    snap = Snapshot(taken_at=T0)
    snap.add_all(
        [
            {"Event": "QueueEntry", "Queue": "hotline", "Uniqueid": "7.1", "Channel": "PJSIP/trunk-1", "Wait": "12"},
            {
                "Event": "CoreShowChannel",
                "Channel": "PJSIP/trunk-1",
                "Uniqueid": "7.1",
                "Linkedid": "7.1",
                "Exten": "s",  # a dialplan label, not the number dialled
                "Application": "Queue",
                "ApplicationData": "hotline,r,,,180",
                "ChanVariable": "UHD_TENANT=klinikum-sued\nUHD_HOTLINE=+498941407000\nUHD_USER_ID=42\nUHD_VIP=",
            },
        ]
    )
    (offered,) = tracker.resync(snap)
    call = tracker.calls["7.1@hotline"]
    assert isinstance(offered, domain.CallOffered) and call.resynced
    assert (call.tenant, call.dialled, call.entered_at) == ("klinikum-sued", "+498941407000", T0 - 12)
    assert call.variables == {"UHD_TENANT": "klinikum-sued", "UHD_HOTLINE": "+498941407000", "UHD_USER_ID": "42"}


def test_an_abandon_of_a_caller_never_seen_is_no_call_of_the_fallback_tenant() -> None:
    tracker = CallTracker()
    unseen = Caller("8.1")
    result = replay_bytes(b"Asterisk Call Manager/11.0.0\r\n" + unseen.abandon(T0 + 20, hold=20), tracker)
    assert result.records == [] and tracker.calls == {} and tracker.stats.ignored == 1


def test_an_abandon_of_a_caller_never_seen_counts_when_the_event_names_its_tenant() -> None:
    tracker = CallTracker()
    unseen = Caller("8.2")
    raw = unseen.abandon(T0 + 20, hold=20).replace(
        b"Queue: hotline\r\n", b"ChanVariable: UHD_TENANT=klinikum-nord\r\nQueue: hotline\r\n", 1
    )
    pipeline, seen = collect(tracker)
    pipeline.feed(raw)
    pipeline.flush()
    (ended,) = [e for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.call.tenant == "klinikum-nord" and ended.call.outcome == "abandoned"


def test_an_agent_connect_after_the_callers_hangup_leaves_nothing_in_progress() -> None:
    tracker = CallTracker()
    unseen = Caller("8.3")
    pipeline, _ = collect(tracker)
    pipeline.feed(unseen.hangup(T0 + 30) + unseen.connect(T0 + 30.1, hold=20))
    assert tracker.calls == {} and tracker.stats.ignored == 1


def test_a_caller_who_abandoned_just_before_the_connection_dropped_is_abandoned_after_the_resync() -> None:
    # QueueCallerAbandon and QueueCallerLeave arrived, then the connection dropped before the Hangup; the resync
    # comes within the grace period (T0 + 9 < T0 + 8 + grace): the caller is gone from the snapshot, but the
    # tracker knows how and when it left: abandoned after its real 8 s wait, not "unknown" at the snapshot time
    gone, waiting = Caller("10.1"), Caller("10.2")
    tracker = CallTracker(grace_s=2.0)
    pipeline, seen = collect(tracker)
    pipeline.feed(gone.newchannel(T0 - 1) + gone.join(T0) + waiting.join(T0 + 1))
    pipeline.feed(gone.abandon(T0 + 8, hold=8) + gone.leave(T0 + 8.001))
    assert set(tracker.calls) == {"10.1@hotline", "10.2@hotline"}  # nothing final before Hangup or grace
    snap = snapshot(
        T0 + 9,
        {"Event": "QueueEntry", "Queue": "hotline", "Uniqueid": "10.2", "Channel": waiting.channel, "Wait": "8"},
    )
    pipeline.resync(snap)
    (ended,) = [e.call for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.uniqueid == "10.1"
    assert (ended.outcome, ended.wait_s, ended.ended_at) == ("abandoned", 8.0, T0 + 8)
    assert [e.call.uniqueid for e in seen if isinstance(e, domain.CallAbandoned)] == ["10.1"]
    assert set(tracker.calls) == {"10.2@hotline"}
    # the Hangup that was lost, or a late duplicate of the abandon, changes nothing
    pipeline.feed(gone.abandon(T0 + 8, hold=8) + gone.hangup(T0 + 8.01))
    assert sum(isinstance(e, domain.CallEnded) for e in seen) == 1


def test_a_queue_timeout_seen_before_the_connection_dropped_stays_a_timeout_after_the_resync() -> None:
    # Queue() gave up (QueueCallerAbandon, Leave, QUEUESTATUS=TIMEOUT); the caller channel lives on in the
    # dialplan's overflow branch when the snapshot is taken: a timeout with its real wait, not "unknown"
    c = Caller("10.3")
    tracker = CallTracker(grace_s=2.0)
    pipeline, seen = collect(tracker)
    pipeline.feed(c.newchannel(T0 - 1) + c.join(T0))
    pipeline.feed(c.abandon(T0 + 30, hold=30) + c.leave(T0 + 30.001) + c.varset(T0 + 30.002, "QUEUESTATUS", "TIMEOUT"))
    snap = snapshot(
        T0 + 31,
        {
            "Event": "CoreShowChannel",
            "Channel": c.channel,
            "Uniqueid": "10.3",
            "Linkedid": "10.3",
            "Application": "UserEvent",
            "ApplicationData": "CallbackRequested",
            "Duration": "00:00:32",
        },
    )
    pipeline.resync(snap)
    (ended,) = [e.call for e in seen if isinstance(e, domain.CallEnded)]
    assert (ended.outcome, ended.wait_s, ended.ended_at) == ("timeout", 30.0, T0 + 30)
    assert tracker.calls == {}


def test_events_read_before_the_resync_ran_are_newer_than_its_lists() -> None:
    # The lists are answered while events keep coming on the same connection: those read in the same read as the
    # lists' last answer reach the tracker before the resync does. The snapshot was taken at T0 + 10 (the Pong's
    # time, before the lists); then a caller joined, one answered caller hung up and one waiting caller abandoned.
    waiting, joined, answered, abandoned = Caller("11.1"), Caller("11.2"), Caller("11.3"), Caller("11.4")
    tracker = CallTracker(grace_s=2.0)
    pipeline, seen = collect(tracker)
    pipeline.feed(waiting.join(T0) + answered.join(T0 + 1) + abandoned.join(T0 + 2) + answered.connect(T0 + 5, 4))
    snap = snapshot(
        T0 + 10.5,
        {"Event": "QueueEntry", "Queue": "hotline", "Uniqueid": "11.1", "Channel": waiting.channel, "Wait": "10"},
        {"Event": "QueueEntry", "Queue": "hotline", "Uniqueid": "11.4", "Channel": abandoned.channel, "Wait": "8"},
        {
            "Event": "CoreShowChannel",
            "Channel": answered.channel,
            "Uniqueid": "11.3",
            "Linkedid": "11.3",
            "Application": "Queue",
            "ApplicationData": "hotline",
            "BridgeId": "b1",
            "Duration": "00:00:10",
        },
        {"Event": "CoreShowChannel", "Channel": "PJSIP/101-1", "Uniqueid": "11.3a", "BridgeId": "b1"},
    )
    snap.asterisk_time = T0 + 10
    pipeline.feed(
        joined.join(T0 + 11)
        + answered.complete(T0 + 11.5, 4, 6, reason="caller")
        + answered.hangup(T0 + 11.5)
        + abandoned.abandon(T0 + 12, hold=10)
        + abandoned.hangup(T0 + 12)
    )
    before = len(seen)
    pipeline.resync(snap)
    assert seen[before:] == []  # nothing ended "unknown", nothing rebuilt from the older lists
    assert set(tracker.calls) == {"11.1@hotline", "11.2@hotline"}
    assert not tracker.calls["11.2@hotline"].resynced and tracker.calls["11.2@hotline"].entered_at == T0 + 11
    ended = {e.call.uniqueid: e.call.outcome for e in seen if isinstance(e, domain.CallEnded)}
    assert ended == {"11.3": "answered", "11.4": "abandoned"}
    # without Asterisk's time the snapshot cannot be placed among the events: the lists decide
    blind = snapshot(T0 + 10.5)
    pipeline.resync(blind)
    assert [e.call.uniqueid for e in seen[before:] if isinstance(e, domain.CallEnded)] == ["11.1", "11.2"]


def test_a_fullybooted_without_timestamp_does_not_run_the_clock_ahead_of_asterisk() -> None:
    # Asterisk 22 sends FullyBooted at login without a Timestamp: the receive time (this machine's clock, a minute ahead
    # of Asterisk's here) must not finalise a caller who is being answered as having left with a key
    tracker = CallTracker(grace_s=2.0)
    pipeline, seen = collect(tracker)
    pipeline.on_fields({"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}, T0 + 60)
    caller = Caller("6.1")
    pipeline.feed(caller.answered_call(T0 + 0.5))
    pipeline.flush()
    outcomes = [e.call.outcome for e in seen if isinstance(e, domain.CallEnded)]
    assert any(isinstance(e, domain.CallAnswered) for e in seen) and outcomes == ["answered"]


def test_a_snapshot_is_an_independent_copy_of_every_field() -> None:
    call = CallRecord("1.1@hotline", "1.1", "1.1", "hotline", "t", T0, channel="PJSIP/t-1", caller_name="Anna",
                      answered_at=T0 + 3, ring_attempts=[RingAttempt("PJSIP/101", "Anna", T0 + 1)],
                      variables={"UHD_VIP": "1"}, resynced=True, backfilled=True)  # fmt: skip
    copy = call.snapshot()
    assert copy == call and copy is not call
    assert dataclasses.asdict(copy) == dataclasses.asdict(call)
    call.ring_attempts[0].result = "answered"
    call.ring_attempts.append(RingAttempt("PJSIP/102", "Ben", T0 + 2))
    call.variables["UHD_VIP"] = "0"
    assert copy.ring_attempts == [RingAttempt("PJSIP/101", "Anna", T0 + 1)] and copy.variables == {"UHD_VIP": "1"}
