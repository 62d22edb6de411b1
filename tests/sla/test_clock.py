"""The SLA clock of one ticket, pure: running spans from the status history, deadlines, what fires when."""

from __future__ import annotations

from datetime import timedelta

from tests.sla.conftest import MONDAY_9, berlin
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.clock import Deadline, Facts, Kind, Policy, Target, deadlines, due, pending, running_spans, used

HOURS = Calendar.from_config({"hours": {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
P3 = Policy(3, response=timedelta(hours=2), resolution=timedelta(hours=8))


def at(hour: int, minute: int = 0, day: int = 2) -> object:
    return berlin(2026, 3, day, hour, minute)


def test_the_clock_runs_while_there_is_work_and_stands_while_waiting_or_resolved() -> None:
    facts = Facts(
        created_at=MONDAY_9,
        status="in_progress",
        changes=(
            (at(9, 5), "in_progress"), (at(10), "waiting"), (at(11), "in_progress"), (at(12), "resolved"),
            (at(14), "reopened"), (at(14, 1), "in_progress"),
        ),
    )  # fmt: skip
    assert running_spans(facts) == [(MONDAY_9, at(10)), (at(11), at(12)), (at(14), None)]
    assert used(HOURS, running_spans(facts), at(16)) == timedelta(hours=4)


def test_a_status_change_recorded_with_an_earlier_time_does_not_run_the_clock_backwards() -> None:
    facts = Facts(created_at=MONDAY_9, status="in_progress", changes=((at(10), "waiting"), (at(9, 30), "in_progress")))
    assert running_spans(facts) == [(MONDAY_9, at(10)), (at(10), None)]


def test_deadlines_of_the_targets_not_met() -> None:
    fresh = Facts(created_at=MONDAY_9, status="new")
    found = deadlines(fresh, P3, HOURS)
    assert [(d.target, d.kind, d.at) for d in found] == [
        (Target.RESPONSE, Kind.WARNING, at(10, 30)), (Target.RESPONSE, Kind.BREACH, at(11)),
        (Target.RESOLUTION, Kind.WARNING, at(15)), (Target.RESOLUTION, Kind.BREACH, at(17)),
    ]  # fmt: skip
    responded = Facts(created_at=MONDAY_9, status="in_progress", first_response_at=at(9, 10))
    assert {d.target for d in deadlines(responded, P3, HOURS)} == {Target.RESOLUTION}
    waiting = Facts(created_at=MONDAY_9, status="waiting", changes=((at(10), "waiting"),), first_response_at=at(9))
    assert deadlines(waiting, P3, HOURS) == []  # standing still short of every threshold: no instant yet
    resolved = Facts(created_at=MONDAY_9, status="resolved", changes=((at(10), "resolved"),))
    assert deadlines(resolved, P3, HOURS) == []


def test_a_threshold_crossed_before_the_pause_keeps_its_instant() -> None:
    late = Facts(created_at=MONDAY_9, status="waiting", changes=((at(16), "waiting"),), first_response_at=at(9))
    assert [(d.kind, d.at) for d in deadlines(late, P3, HOURS)] == [(Kind.WARNING, at(15))]


def test_around_the_clock_and_the_warning_share() -> None:
    p1 = Policy(1, timedelta(minutes=15), timedelta(hours=4), warn_share=0.5, around_the_clock=True)
    saturday_night = berlin(2026, 3, 7, 23, 0)
    found = deadlines(Facts(created_at=saturday_night, status="new"), p1, HOURS)
    assert [d.at - saturday_night for d in found] == [
        timedelta(minutes=7, seconds=30), timedelta(minutes=15), timedelta(hours=2), timedelta(hours=4)
    ]  # fmt: skip


def test_what_fires_when() -> None:
    w = Deadline(Target.RESOLUTION, Kind.WARNING, at(15), timedelta(hours=6))
    b = Deadline(Target.RESOLUTION, Kind.BREACH, at(17), timedelta(hours=8))
    assert due([w, b], at(16)) == [w]
    assert due([w, b], at(17)) == [b]  # both reached: the breach alone, the warning is moot
    assert pending([w, b], {("warning", "resolution")}) == [b]
    assert pending([w, b], {("breach", "resolution")}) == []  # no warning after its breach
