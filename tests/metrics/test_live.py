"""The live counters agree with kpi.py to the call; queue member state; waiting callers; the AMI time line."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

import pytest

from tests.support.helpers import TRACES
from uhd_telephony.ami.events import AmiEvent, QueueMemberEvent
from uhd_telephony.ami.snapshot import QueueMember, Snapshot
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallEvent, CallOffered
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.live import OTHER, WAIT_BUCKETS, CallCounters, EventClock, waiting_callers
from uhd_telephony.metrics.members import MemberState
from uhd_telephony.simulator.render import render_calls
from uhd_telephony.sla.calendar import WEEKDAYS, Calendar

# open five minutes in every ten, every day: about half of any stretch of calls entered outside business hours
FIVE_IN_TEN = [f"{h:02d}:{m:02d}-{h:02d}:{m + 5:02d}" for h in range(24) for m in range(0, 60, 10)]
PATCHY = Calendar.from_config({"hours": dict.fromkeys(WEEKDAYS, FIVE_IN_TEN)})


@pytest.mark.slow
@pytest.mark.parametrize("calendar", [None, PATCHY], ids=["around-the-clock", "business-hours"])
def test_counters_fed_by_domain_events_agree_with_kpi_to_the_call(calendar: Calendar | None) -> None:
    # thousands of interleaved calls of three tenants with every outcome and blind transfers to 2nd level
    rendered = render_calls(1500, seed=7, concurrency=10, agents=6, tenants=3)
    counters = CallCounters()
    if calendar is not None:
        counters.calendars = {f"tenant{n}": calendar for n in (1, 2, 3)}
    ended: list[CallRecord] = []

    def publish(events: list[CallEvent]) -> None:
        for event in events:
            counters(event)
            if isinstance(event, CallEnded):
                ended.append(event.call)

    tracker = CallTracker()
    pipeline = CallPipeline(tracker, publish, clock=lambda: tracker.now)  # replayed: the capture's own time
    pipeline.feed(rendered.data)
    pipeline.flush()
    assert len(ended) == len(rendered.truth)

    by_tenant: dict[str, list[CallRecord]] = defaultdict(list)
    for record in ended:
        by_tenant[record.tenant].append(record)
    assert len(by_tenant) == 3
    transfers = 0
    for tenant, records in by_tenant.items():
        want = kpi.call_kpis(records, calendar=calendar)
        queues = [q for (t, _), q in counters.queues.items() if t == tenant]
        got = {
            "offered": sum(q.offered for q in queues),
            "answered": sum(q.answered for q in queues),
            "abandoned": sum(q.abandoned for q in queues),
            "short_abandons": sum(q.short_abandoned for q in queues),
            "timed_out": sum(q.timed_out for q in queues),
            "closed": sum(q.closed for q in queues),
            "outside_hours": sum(q.outside_hours for q in queues),
            "transfers_in": sum(q.transferred_in for q in queues),
            "reaction_count": sum(q.wait.count for q in queues),
            "within_sl": sum(q.wait.counts[i] for q in queues for i, b in enumerate(WAIT_BUCKETS) if b <= 20),
            "talk_count": sum(q.talk.count for q in queues),
        }
        assert got == {
            "offered": want.offered,
            "answered": want.answered,
            "abandoned": want.abandoned,
            "short_abandons": want.short_abandons,
            "timed_out": want.timed_out,
            "closed": want.closed,
            "outside_hours": want.outside_hours,
            "transfers_in": want.transfers_in,
            "reaction_count": want.reaction_time.count,
            "within_sl": want.answered_within_service_level,
            "talk_count": want.talk_time.count,
        }
        assert want.reaction_time.mean is not None and want.talk_time.mean is not None
        wait_sum = sum(q.wait.sum for q in queues)
        assert math.isclose(wait_sum / want.reaction_time.count, want.reaction_time.mean, rel_tol=1e-9)
        talk_sum = sum(q.talk.sum for q in queues)
        assert math.isclose(talk_sum / want.talk_time.count, want.talk_time.mean, rel_tol=1e-9)
        transfers += want.transfers_in
        if calendar is not None:  # both sides split the calls, and some of each side
            assert want.offered > 100 and want.outside_hours - want.closed > 100
    assert transfers > 0  # the render had transfers, and both sides saw them
    outcomes = {str(r.outcome) for r in ended}
    assert {"answered", "transferred", "abandoned", "short_abandon", "timeout"} <= outcomes


def record(n: int, *, tenant: str = "klinikum-nord", queue: str = "hotline", entered: float = 1000.0) -> CallRecord:
    return CallRecord(f"{n}@{queue}", f"l{n}", str(n), queue, tenant, entered, caller_number="+492319860572")


def test_each_stay_is_counted_once_whatever_events_arrive() -> None:
    counters = CallCounters()
    call = record(1)
    counters(CallOffered(call.snapshot(), 1000))
    counters(CallOffered(call.snapshot(), 1000))  # a repeated offer of the same stay
    call.answered_at, call.wait_s = 1012.0, 12.0
    counters(CallAnswered(call.snapshot(), 1012))
    call.outcome, call.talk_s = Outcome.ANSWERED, 30.0
    counters(CallEnded(call.snapshot(), 1042))
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.offered, q.answered, q.wait.count, q.talk.count, q.talk.sum) == (1, 1, 1, 1, 30.0)


def test_a_stay_first_seen_at_its_end_is_offered_and_answered_then() -> None:
    # AgentComplete of a call never seen connecting: the tracker ends it answered without CallAnswered
    counters = CallCounters()
    call = record(1)
    call.answered_at, call.wait_s, call.talk_s, call.outcome = 1005.0, 5.0, 60.0, Outcome.ANSWERED
    counters(CallEnded(call, 1065))
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.offered, q.answered, q.wait.count, q.talk.count) == (1, 1, 1, 1)


def test_calls_restored_after_a_restart_are_not_counted_again() -> None:
    counters = CallCounters()
    waiting, talking = record(1), record(2)
    talking.answered_at, talking.wait_s = 1003.0, 3.0
    counters.restore([waiting, talking])  # the previous process counted their offer and the answer
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.offered, q.answered) == (0, 0)  # the series exist at 0 from the start
    talking.outcome, talking.talk_s = Outcome.ANSWERED, 50.0
    counters(CallEnded(talking, 1053))
    waiting.answered_at, waiting.wait_s = 1030.0, 30.0
    counters(CallAnswered(waiting.snapshot(), 1030))
    assert (q.offered, q.answered, q.wait.count, q.talk.count) == (0, 1, 1, 1)


def test_unanswered_outcomes_and_closed_calls() -> None:
    counters = CallCounters()
    for n, outcome in enumerate(
        [Outcome.ABANDONED, Outcome.SHORT_ABANDON, Outcome.TIMEOUT, Outcome.OVERFLOW, Outcome.REFUSED], start=1
    ):
        call = record(n)
        counters(CallOffered(call.snapshot(), 1000))
        # a short abandon waited less than the (default) contract's 5 s: the counters reclassify by the wait
        call.outcome, call.wait_s = outcome, 2.0 if outcome == Outcome.SHORT_ABANDON else 10.0
        counters(CallEnded(call, 1010))
    closed = record(9)
    closed.outcome = Outcome.CLOSED
    counters(CallEnded(closed, 1000))  # a closed call has no CallOffered
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.offered, q.abandoned, q.short_abandoned, q.timed_out, q.closed, q.answered) == (5, 1, 1, 2, 1, 0)


# Monday to Friday from 06:30 (Europe/Berlin); 1 March 2026 is a Sunday
HOURS = Calendar.from_config({"hours": {day: ["06:30-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}})


def berlin(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=kpi.TIMEZONE).timestamp()


def answered_stay(counters: CallCounters, call: CallRecord, wait_s: float = 8.0) -> None:
    counters(CallOffered(call.snapshot(), call.entered_at))
    call.answered_at, call.wait_s = call.entered_at + wait_s, wait_s
    counters(CallAnswered(call.snapshot(), call.answered_at))
    call.outcome, call.talk_s = Outcome.ANSWERED, 60.0
    counters(CallEnded(call, call.answered_at + 60))


def test_a_stay_entered_outside_the_calendars_business_hours_counts_only_as_outside_hours() -> None:
    counters = CallCounters(calendars={"klinikum-nord": HOURS})
    answered_stay(counters, record(1, entered=berlin(2, 6, 0)))  # Monday 06:00, hours from 06:30
    answered_stay(counters, record(2, entered=berlin(1, 10, 0)))  # Sunday
    answered_stay(counters, record(3, entered=berlin(2, 6, 29, 59)), wait_s=90)  # answered at 06:31: still outside
    answered_stay(counters, record(4, entered=berlin(2, 6, 30)))  # open
    answered_stay(counters, record(5, tenant="klinikum-sued", entered=berlin(1, 3, 0)))  # no calendar: 24/7
    nord = counters.queues[("klinikum-nord", "hotline")]
    assert (nord.outside_hours, nord.offered, nord.answered, nord.wait.count, nord.talk.count) == (3, 1, 1, 1, 1)
    assert nord.closed == 0
    sued = counters.queues[("klinikum-sued", "hotline")]
    assert (sued.outside_hours, sued.offered, sued.answered) == (0, 1, 1)


def test_outside_hours_is_decided_at_the_first_event_and_kept_to_the_end() -> None:
    counters = CallCounters(calendars={"klinikum-nord": HOURS})
    late = record(1, entered=berlin(2, 16, 59, 50))  # in business hours, abandoned after closing time
    early = record(2, entered=berlin(2, 6, 25))  # outside, abandoned once the hotline is open
    for call in (late, early):
        counters(CallOffered(call.snapshot(), call.entered_at))
    counters.calendars = {}  # a calendar changed meanwhile (24/7 now): the stays keep their decision
    for call in (late, early):
        call.outcome, call.wait_s = Outcome.ABANDONED, 600.0
        counters(CallEnded(call, call.entered_at + 600))
    rebuilt = record(3, entered=berlin(1, 12, 0))  # first seen at its end (rebuilt by the tracker): its entry decides
    counters.calendars = {"klinikum-nord": HOURS}
    rebuilt.answered_at, rebuilt.wait_s, rebuilt.talk_s, rebuilt.outcome = (
        berlin(1, 12, 1),
        60.0,
        30.0,
        Outcome.ANSWERED,
    )
    counters(CallEnded(rebuilt, berlin(1, 12, 2)))
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.offered, q.abandoned, q.outside_hours, q.answered, q.wait.count, q.talk.count) == (1, 1, 2, 0, 0, 0)


def test_closed_calls_count_as_closed_and_outside_hours_whatever_the_calendar() -> None:
    counters = CallCounters(calendars={"klinikum-nord": HOURS})
    for n, entered in enumerate((berlin(2, 10, 0), berlin(1, 10, 0), berlin(2, 3, 0)), start=1):
        closed = record(n, entered=entered)  # the dialplan closed it (HotlineClosed), in hours or not
        closed.outcome, closed.wait_s = Outcome.CLOSED, 0.0
        counters(CallEnded(closed, entered))
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.closed, q.outside_hours, q.offered) == (3, 3, 0)


def test_a_restored_stay_outside_hours_counts_nothing_more_at_its_end() -> None:
    counters = CallCounters(calendars={"klinikum-nord": HOURS})
    night, day = record(1, entered=berlin(3, 2, 0)), record(2, entered=berlin(3, 9, 0))
    counters.restore([night, day])
    for call in (night, day):
        call.outcome, call.wait_s = Outcome.TIMEOUT, 300.0
        counters(CallEnded(call, call.entered_at + 300))
    q = counters.queues[("klinikum-nord", "hotline")]
    assert (q.offered, q.outside_hours, q.timed_out) == (0, 0, 1)


def test_a_transfer_from_a_stay_outside_hours_flags_the_second_stay_in_hours() -> None:
    counters = CallCounters(calendars={"klinikum-nord": HOURS})
    first = record(1, entered=berlin(2, 6, 20))  # queued before 06:30, answered by an early agent
    counters(CallOffered(first.snapshot(), first.entered_at))
    first.answered_at, first.wait_s = berlin(2, 6, 21), 60.0
    counters(CallAnswered(first.snapshot(), first.answered_at))
    first.outcome, first.talk_s, first.transferred_to = Outcome.TRANSFERRED, 840.0, "s@backoffice-in"
    counters(CallEnded(first, berlin(2, 6, 35)))
    second = CallRecord("1@backoffice", "l1", "1", "backoffice", "klinikum-nord", berlin(2, 6, 35))
    counters(CallOffered(second, second.entered_at))
    hotline = counters.queues[("klinikum-nord", "hotline")]
    assert (hotline.outside_hours, hotline.offered, hotline.answered, hotline.talk.count) == (1, 0, 0, 0)
    backoffice = counters.queues[("klinikum-nord", "backoffice")]
    assert (backoffice.offered, backoffice.transferred_in, backoffice.outside_hours) == (1, 1, 0)


def test_a_blind_transfer_flags_the_second_stay() -> None:
    counters = CallCounters()
    first = record(1)
    counters(CallOffered(first.snapshot(), 1000))
    first.answered_at, first.wait_s = 1002.0, 2.0
    counters(CallAnswered(first.snapshot(), 1002))
    first.outcome, first.talk_s, first.transferred_to = Outcome.TRANSFERRED, 40.0, "s@backoffice-in"
    counters(CallEnded(first, 1042))
    second = CallRecord("1@backoffice", "l1", "1", "backoffice", "klinikum-nord", 1042.0)
    counters(CallOffered(second, 1042))
    assert counters.queues[("klinikum-nord", "backoffice")].transferred_in == 1
    assert counters.queues[("klinikum-nord", "hotline")].transferred_in == 0


def test_tenant_and_queue_pairs_are_capped() -> None:
    counters = CallCounters(max_pairs=2)
    for n in range(5):
        counters(CallOffered(record(n, tenant=f"t{n}"), 1000))
    assert set(counters.queues) == {("t0", "hotline"), ("t1", "hotline"), (OTHER, OTHER)}
    assert counters.queues[(OTHER, OTHER)].offered == 3
    assert counters.pair_of("t4", "hotline") == (OTHER, OTHER) and counters.pair_of("t0", "hotline") == (
        "t0",
        "hotline",
    )


def test_callers_waiting_and_the_longest_wait() -> None:
    waiting1, waiting2 = record(1, entered=100.0), record(2, entered=130.0)
    answered = record(3, entered=50.0)
    answered.answered_at = 60.0
    refused = record(4, entered=10.0)
    refused.wait_s = 0.0  # refused at the door, finalised after the grace period
    other_queue = record(5, queue="backoffice", entered=140.0)
    calls = [waiting1, waiting2, answered, refused, other_queue]
    known = [("klinikum-nord", "hotline"), ("klinikum-sued", "hotline")]
    got = waiting_callers(calls, 160.0, lambda t, q: (t, q), known=known)
    assert got == {
        ("klinikum-nord", "hotline"): (2, 60.0),
        ("klinikum-sued", "hotline"): (0, 0.0),
        ("klinikum-nord", "backoffice"): (1, 20.0),
    }


def test_ami_time_runs_on_from_the_latest_event() -> None:
    clock = EventClock()
    assert clock.now(5000.0) == 5000.0  # no event yet: our own clock
    clock.observe(AmiEvent(1000.0), received=5000.0)  # Asterisk's clock is 4000 s behind ours
    clock.observe(AmiEvent(999.0), received=5001.0)  # an older Timestamp does not move it back
    assert clock.now(5010.0) == 1010.0
    assert clock.now(4990.0) == 1000.0


def member_event(
    kind: str, interface: str, *, status: int = 1, paused: bool = False, queue: str = "hotline"
) -> QueueMemberEvent:
    return QueueMemberEvent(1.0, kind, queue, interface, interface, status, paused, "", False, "dynamic")


def test_queue_members_logged_in_and_paused() -> None:
    members = MemberState()
    members.apply(member_event("added", "PJSIP/101"))
    members.apply(member_event("added", "PJSIP/102"))
    members.apply(member_event("added", "PJSIP/103", queue="backoffice"))
    members.apply(member_event("pause", "PJSIP/102", paused=True))
    members.apply(member_event("status", "PJSIP/101", status=2))  # in use: still logged in
    members.apply(member_event("added", "PJSIP/104", status=5, paused=True))  # phone unregistered
    agents = members.by_queue()
    assert (agents["hotline"].members, agents["hotline"].logged_in, agents["hotline"].paused) == (3, 2, 1)
    assert (agents["backoffice"].logged_in, agents["backoffice"].paused) == (1, 0)
    members.apply(member_event("removed", "PJSIP/102"))
    assert members.by_queue()["hotline"].paused == 0
    # a resync replaces everything with Asterisk's QueueStatus answer
    members.resynced(Snapshot(0.0, members=[QueueMember("hotline", "PJSIP/201", "Bob", 1, True, "lunch", False, "")]))
    assert members.by_queue() == {"hotline": type(agents["hotline"])(1, 1, 1)}


def test_member_state_from_a_real_asterisk_trace_through_the_pipeline() -> None:
    members = MemberState()
    seen: list[tuple[int, int]] = []

    class Watch:
        def observe(self, event: AmiEvent, received: float) -> None:
            if isinstance(event, QueueMemberEvent):
                agents = members.by_queue()["hotline"]
                seen.append((agents.logged_in, agents.paused))

        def resynced(self, snapshot: Snapshot) -> None:
            pass

    tracker = CallTracker()
    pipeline = CallPipeline(tracker, lambda events: None, clock=lambda: tracker.now)
    pipeline.observers.extend([members, Watch()])
    pipeline.feed((TRACES / "g_members.ami").read_bytes())
    # QueuePause of 101..105 while the dynamic member 106 takes a call, then all unpaused and 106 removed
    assert (6, 5) in seen
    assert members.by_queue()["hotline"] == type(members.by_queue()["hotline"])(5, 5, 0)


def test_a_failing_observer_costs_no_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def observe(self, event: AmiEvent, received: float) -> None:
            raise RuntimeError("bug")

        def resynced(self, snapshot: Snapshot) -> None:
            raise RuntimeError("bug")

    ended: list[CallEvent] = []
    tracker = CallTracker()
    pipeline = CallPipeline(tracker, ended.extend, clock=lambda: tracker.now)
    pipeline.observers.append(Broken())
    pipeline.feed((TRACES / "a_answered.ami").read_bytes())
    pipeline.flush()
    pipeline.resync(Snapshot(0.0))
    assert [e.call.outcome for e in ended if isinstance(e, CallEnded)] == [Outcome.ANSWERED]
    assert pipeline.observer_errors > 10
    assert len([r for r in caplog.records if "observer" in r.getMessage()]) == 1  # logged once, then counted
