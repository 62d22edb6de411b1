"""The OLA clock as pure arithmetic (``sla.ola``): stints from a ticket's history rows, who responds for a group,
the pauses it shares with the SLA, and each routing's outcome against its group's targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.clock import Kind, Policy, Target, deadlines
from uhd_telephony.sla.ola import Event, current_stint, members, outcome, stints

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
ALWAYS = Calendar.around_the_clock()
POLICY = Policy(3, timedelta(hours=1), timedelta(hours=4))
PARTNER, OTHER_PARTNER = "partner:medisoft", "partner:other"
ACTS_FOR = members({"partner:7": PARTNER, "partner:8": OTHER_PARTNER})


class History:
    """History rows in the order they happened, ``minutes`` after T0."""

    def __init__(self) -> None:
        self.ids = count(1)
        self.events: list[Event] = []

    def add(self, minutes: float, action: str, actor: str = "agent:3", field: str | None = None,
            new: str | None = None) -> History:  # fmt: skip
        self.events.append(Event(next(self.ids), T0 + timedelta(minutes=minutes), action, actor, field, new))
        return self

    def routed(self, minutes: float, group: str) -> History:
        return self.add(minutes, "routed", field="support_group", new=group)

    def status(self, minutes: float, status: str, actor: str = "api:x") -> History:
        return self.add(minutes, "status", actor, "status", status)

    def comment(self, minutes: float, actor: str) -> History:
        return self.add(minutes, "comment", actor, "public")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_stint_starts_at_each_routing_and_ends_at_the_next() -> None:
    h = History().status(5, "in_progress").routed(10, PARTNER).routed(70, "2nd_level").routed(90, PARTNER)
    found = stints(h.events, ACTS_FOR)
    assert [(s.group, s.start, s.end) for s in found] == [
        (PARTNER, at(10), at(70)), ("2nd_level", at(70), at(90)), (PARTNER, at(90), None),
    ]  # fmt: skip
    assert [s.routed_id for s in found] == [2, 3, 4]  # each routing's history row: the stint's identity
    assert current_stint(found, PARTNER) is found[-1] and current_stint(found, "2nd_level") is None
    assert found[0].changes == ((at(10), "in_progress"),)  # the status it was routed in


def test_only_the_group_responds_for_itself() -> None:
    h = History().routed(0, PARTNER).comment(5, "partner:8").comment(6, "agent:3").status(7, "waiting", "api:x")
    assert stints(h.events, ACTS_FOR)[0].responded_at is None  # another partner, an agent, the interface
    h.comment(9, "partner:7")
    assert stints(h.events, ACTS_FOR)[0].responded_at == at(9)
    # the helpdesk's own group: any of its accounts
    own = History().routed(0, "2nd_level").comment(3, "partner:7").add(4, "assigned", "agent:5", "agent", "5")
    assert stints(own.events, ACTS_FOR)[0].responded_at == at(4)


def test_the_group_clock_pauses_with_the_sla_and_routing_away_stops_it() -> None:
    h = History().routed(0, PARTNER).status(10, "in_progress").status(20, "waiting").status(50, "in_progress")
    stint = stints(h.events, ACTS_FOR)[0]
    assert stint.spans() == [(at(0), at(20)), (at(50), None)]
    found = {(d.target, d.kind): d.at for d in deadlines(stint.facts(), POLICY, ALWAYS)}
    assert found[(Target.RESPONSE, Kind.WARNING)] == at(45 + 30)  # 45 min on the clock, 30 min standing still
    assert found[(Target.RESOLUTION, Kind.BREACH)] == at(240 + 30)
    h.routed(100, "2nd_level")
    stopped = stints(h.events, ACTS_FOR)[0]
    assert stopped.spans() == [(at(0), at(20)), (at(50), at(100))] and not stopped.open
    # routed in while waiting: the group's clock waits too
    waiting = History().status(0, "waiting").routed(5, PARTNER).status(30, "in_progress")
    assert stints(waiting.events, ACTS_FOR)[0].spans() == [(at(30), None)]


def test_the_resolution_ends_the_stint_and_a_reopening_does_not_restart_it() -> None:
    h = History().routed(0, PARTNER).status(30, "resolved", "partner:7").status(40, "reopened", "agent:3")
    stint = stints(h.events, ACTS_FOR)[0]
    assert (stint.resolved_at, stint.responded_at, stint.open) == (at(30), at(30), False)
    assert stint.spans() == [(at(0), at(30))]
    assert deadlines(stint.facts(), POLICY, ALWAYS) == []  # both met: nothing due


def test_outcomes_met_missed_and_undecided() -> None:
    def one(h: History, when: float) -> tuple[bool | None, bool | None, float, float]:
        o = outcome(stints(h.events, ACTS_FOR)[0], POLICY, ALWAYS, at(when))
        return (
            o.response_met,
            o.resolution_met,
            o.response_used / timedelta(minutes=1),
            o.resolution_used / timedelta(minutes=1),
        )

    # in time: responded after 30 min, resolved after 3 h
    assert one(History().routed(0, PARTNER).comment(30, "partner:7").status(180, "resolved"), 600) == (
        True, True, 30, 180,
    )  # fmt: skip
    # late: both targets passed first (the waiting time does not count)
    late = History().routed(0, PARTNER).status(10, "waiting").status(70, "in_progress").comment(140, "partner:7")
    assert one(late.status(400, "resolved"), 600) == (False, False, 80, 340)
    # still running short of its targets: undecided; past them: missed
    assert one(History().routed(0, PARTNER), 30) == (None, None, 30, 30)
    assert one(History().routed(0, PARTNER), 300) == (False, False, 300, 300)
    # routed away before the response was due: undecided; after: missed
    assert one(History().routed(0, PARTNER).routed(20, "2nd_level"), 600) == (None, None, 20, 20)
    assert one(History().routed(0, PARTNER).routed(90, "2nd_level"), 600) == (False, None, 90, 90)
