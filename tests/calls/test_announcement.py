"""A major incident's announcement before the queue, as the tracker follows it (dialplan [uhd-incident]): a caller
who hangs up there is a record of its own, never offered; one who goes on queues as ever."""

from __future__ import annotations

import pytest

from uhd_telephony.ami import names
from uhd_telephony.calls import domain
from uhd_telephony.calls.records import ANNOUNCEMENT_OUTCOMES, CallRecord, Outcome
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.tracker import CallTracker

from .factory import Caller
from .test_tracker import T0, collect, snapshot

QUEUE = "hotline-klinikum-nord"
TENANT = "klinikum-nord"


def caller(uniqueid: str, **kwargs: str) -> Caller:
    return Caller(uniqueid, queue=QUEUE, **kwargs)


def dialled(c: Caller, t: float, incident: str = "7") -> bytes:
    """Up to the announcement: the channel, the hotline's variables, the lookup's, the UserEvent."""
    return (
        c.newchannel(t)
        + c.varset(t + 0.1, names.VAR_TENANT, TENANT)
        + c.varset(t + 0.2, names.VAR_INCIDENT, incident)
        + c.varset(t + 0.2, names.VAR_INCIDENT_PROMPT, "custom/uhd-incident-generic")
        + c.announced(t + 0.5)
    )


def run(data: bytes, tracker: CallTracker | None = None) -> tuple[list[CallRecord], list[domain.CallEvent]]:
    tracker = tracker or CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(data)
    pipeline.flush()
    return [e.call for e in seen if isinstance(e, domain.CallEnded)], seen


def test_a_caller_who_hangs_up_during_the_announcement_is_incident_left() -> None:
    c = caller("10.1")
    tracker = CallTracker()
    (record,), seen = run(dialled(c, T0) + c.hangup(T0 + 9), tracker)

    assert record.outcome == Outcome.INCIDENT_LEFT and record.outcome in ANNOUNCEMENT_OUTCOMES
    assert (record.tenant, record.queue, record.call_id) == (TENANT, QUEUE, f"10.1@{QUEUE}")
    assert (record.entered_at, record.ended_at, record.wait_s) == (T0 + 0.5, T0 + 9, 0.0)
    assert record.answered_at is None and record.caller_number == c.number and record.linkedid == "10.1"
    assert record.variables[names.VAR_INCIDENT] == "7"
    # never offered: no CallOffered, no CallAbandoned (no callback entry), only its end
    assert [e.name for e in seen] == ["CallEnded"]
    assert tracker.stats.offered == 0 and tracker.stats.finished == 1


def test_a_caller_who_pressed_the_key_is_incident_subscribed() -> None:
    c = caller("10.2")
    (record,), _ = run(dialled(c, T0) + c.announced(T0 + 12, "subscribed") + c.hangup(T0 + 16))

    assert record.outcome == Outcome.INCIDENT_SUBSCRIBED
    assert (record.entered_at, record.ended_at) == (T0 + 0.5, T0 + 16)


def test_a_caller_who_goes_on_into_the_queue_is_an_ordinary_call() -> None:
    c = caller("10.3")
    data = dialled(c, T0) + c.queue_app(T0 + 14) + c.answered_call(T0 + 15)
    (record,), seen = run(data)

    assert record.outcome == Outcome.ANSWERED and record.entered_at == T0 + 15
    assert record.variables[names.VAR_INCIDENT] == "7"  # the report can tell it met an open incident
    assert [e.name for e in seen] == ["CallOffered", "AgentRinging", "CallAnswered", "CallEnded"]


def test_a_queue_stay_ended_before_the_hangup_is_the_only_record() -> None:
    """Overflow after the announcement: the channel lives on after Queue() and hangs up later; no second record."""
    c = caller("10.4")
    data = (
        dialled(c, T0)
        + c.queue_app(T0 + 14)
        + c.join(T0 + 14)
        + c.abandon(T0 + 74, 60)
        + c.leave(T0 + 74)
        + c.varset(T0 + 74, names.VAR_QUEUESTATUS, "TIMEOUT")
        + c.userevent(T0 + 74.1, names.USEREVENT_CALLBACK, Queue=QUEUE, Reason="TIMEOUT")
        + c.hangup(T0 + 80)
    )
    (record,), _ = run(data)

    assert record.outcome == Outcome.TIMEOUT and record.callback_requested


def test_refused_at_the_door_after_the_announcement_is_refused_only() -> None:
    c = caller("10.5")
    data = dialled(c, T0) + c.queue_app(T0 + 14) + c.varset(T0 + 14, "QUEUESTATUS", "JOINEMPTY") + c.hangup(T0 + 20)
    (record,), _ = run(data)

    assert record.outcome == Outcome.REFUSED


def test_a_repeated_userevent_counts_once() -> None:
    c = caller("10.6")
    tracker = CallTracker()
    data = dialled(c, T0) + c.announced(T0 + 0.5) + c.announced(T0 + 3)  # the same frame twice, and a repeat
    data += c.announced(T0 + 12, "subscribed") + c.announced(T0 + 12, "subscribed") + c.hangup(T0 + 16)
    (record,), _ = run(data, tracker)

    assert record.outcome == Outcome.INCIDENT_SUBSCRIBED and record.entered_at == T0 + 0.5
    assert tracker.stats.duplicates == 3
    # and a Hangup repeated after the record: nothing more
    (again,), _ = run(dialled(c, T0) + c.hangup(T0 + 9) + c.hangup(T0 + 9))
    assert again.outcome == Outcome.INCIDENT_LEFT


@pytest.mark.parametrize(
    "headers",
    [{"Queue": QUEUE, "Stage": "played"}, {"Queue": QUEUE}, {"Queue": QUEUE, "Stage": "Announced"}],
    ids=["unknown-stage", "no-stage", "case"],
)
def test_a_userevent_of_another_stage_marks_nothing(headers: dict[str, str]) -> None:
    c = caller("10.7")
    tracker = CallTracker()
    data = c.newchannel(T0) + c.userevent(T0 + 1, names.USEREVENT_INCIDENT, **headers) + c.hangup(T0 + 5)
    records, _ = run(data, tracker)

    assert records == [] and tracker.stats.ignored == 1


def test_without_uhd_tenant_the_tenant_comes_from_the_hotline_number() -> None:
    c = caller("10.8", dialled="+4923198605000")
    tracker = CallTracker(tenant_numbers={"+4923198605000": "klinikum-nord"})
    (record,), _ = run(c.newchannel(T0) + c.announced(T0 + 1) + c.hangup(T0 + 4), tracker)

    assert record.tenant == "klinikum-nord" and record.dialled == "+4923198605000"


def test_calls_of_two_tenants_keep_their_tenants() -> None:
    a, b = caller("10.9"), Caller("10.10", queue="hotline-klinikum-sued")
    data = dialled(a, T0) + b.newchannel(T0) + b.varset(T0, names.VAR_TENANT, "klinikum-sued") + b.announced(T0 + 1)
    data += b.hangup(T0 + 3) + a.hangup(T0 + 4)
    records, _ = run(data)

    assert {(r.uniqueid, r.tenant, r.queue) for r in records} == {
        ("10.9", TENANT, QUEUE),
        ("10.10", "klinikum-sued", "hotline-klinikum-sued"),
    }


# --- the AMI connection drops mid-announcement ---------------------------------------------------------------


def _alive(c: Caller, application: str = "Read") -> dict[str, str]:
    return {
        "Event": "CoreShowChannel",
        "Channel": c.channel,
        "Uniqueid": c.uniqueid,
        "Linkedid": c.linkedid,
        "Application": application,
        "Duration": "00:00:20",
        "ChanVariable": f"{names.VAR_TENANT}={TENANT}",
    }


@pytest.mark.parametrize(("subscribed", "outcome"), [(False, "incident_left"), (True, "incident_subscribed")])
def test_a_caller_gone_while_the_tracker_was_blind_is_recorded_at_the_resync(subscribed: bool, outcome: str) -> None:
    c = caller("11.1")
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(dialled(c, T0) + (c.announced(T0 + 8, "subscribed") if subscribed else b""))
    # the connection drops; the caller hangs up meanwhile; after the reconnect Asterisk lists no such channel
    pipeline.resync(snapshot(T0 + 30))

    (ended,) = [e.call for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.outcome == outcome and ended.resynced and ended.tenant == TENANT
    assert (ended.entered_at, ended.ended_at, ended.channel, ended.linkedid) == (T0 + 0.5, T0 + 30, c.channel, "11.1")
    assert tracker.stats.offered == 0
    # the Hangup that comes late (a straggler) adds nothing
    pipeline.feed(c.hangup(T0 + 31))
    assert sum(isinstance(e, domain.CallEnded) for e in seen) == 1


def test_a_caller_still_listening_after_the_reconnect_is_followed_on() -> None:
    c = caller("11.2")
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(dialled(c, T0))
    pipeline.resync(snapshot(T0 + 20, _alive(c)))
    assert seen == []
    pipeline.feed(c.announced(T0 + 21, "subscribed") + c.hangup(T0 + 25))

    (ended,) = [e.call for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.outcome == "incident_subscribed" and not ended.resynced and ended.ended_at == T0 + 25


def test_a_caller_who_queued_during_the_gap_is_the_queue_stay_not_an_announcement() -> None:
    c = caller("11.3")
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(dialled(c, T0))
    waiting = {"Event": "QueueEntry", "Queue": QUEUE, "Uniqueid": "11.3", "Channel": c.channel, "Wait": "5"}
    pipeline.resync(snapshot(T0 + 30, waiting, _alive(c, "Queue")))
    pipeline.feed(c.abandon(T0 + 40, 15) + c.leave(T0 + 40) + c.hangup(T0 + 40))
    pipeline.flush()

    (ended,) = [e.call for e in seen if isinstance(e, domain.CallEnded)]
    assert ended.outcome == "abandoned" and ended.queue == QUEUE
    assert seen[0].name == "CallOffered"


def test_an_announcement_newer_than_the_snapshot_is_left_to_its_events() -> None:
    c = caller("11.4")
    tracker = CallTracker()
    pipeline, seen = collect(tracker)
    pipeline.feed(c.newchannel(T0 + 40) + c.announced(T0 + 41))  # read before the resync ran, newer than its lists
    snap = snapshot(T0 + 50)
    snap.asterisk_time = T0 + 35
    pipeline.resync(snap)
    assert seen == []
    pipeline.feed(c.hangup(T0 + 45))
    assert [e.call.outcome for e in seen] == ["incident_left"]


def test_replay_of_a_capture_cut_mid_announcement_records_nothing_in_progress() -> None:
    """A capture ending while the caller listens: no record is invented (the channel never hung up)."""
    c = caller("11.5")
    result = replay_bytes(dialled(c, T0), CallTracker())
    assert result.records == []
