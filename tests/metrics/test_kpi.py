"""The KPI definitions on hand-built calls and tickets with known answers."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.kpi import call_kpis, percentile, ticket_fact, ticket_kpis
from uhd_telephony.sla.calendar import Calendar

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=kpi.TIMEZONE).timestamp()  # a Monday, 08:00 in Berlin
_ids = count(1)


def stay(
    outcome: Outcome | None,
    *,
    wait: float | None = None,
    talk: float | None = None,
    linkedid: str | None = None,
    queue: str = "hotline",
    at: float = T0,
) -> CallRecord:
    n = next(_ids)
    call = CallRecord(f"{n}@{queue}", linkedid or f"l{n}", str(n), queue, "klinikum-nord", at)
    call.outcome = outcome
    call.wait_s = wait
    call.talk_s = talk
    if outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED):
        call.answered_at = at + (wait or 0)
    return call


def test_short_abandons_leave_the_denominator_of_every_ratio() -> None:
    calls = [stay(Outcome.ANSWERED, wait=w, talk=60) for w in (5, 10, 15, 20, 25, 40)]
    calls += [stay(Outcome.ABANDONED, wait=30), stay(Outcome.ABANDONED, wait=50)]
    calls += [stay(Outcome.SHORT_ABANDON, wait=2), stay(Outcome.SHORT_ABANDON, wait=1)]
    k = call_kpis(calls)
    assert (k.offered, k.answered, k.abandoned, k.short_abandons, k.base) == (10, 6, 2, 2, 8)
    assert k.reachability == 6 / 8
    assert k.service_level == 4 / 8  # waits of 5, 10, 15 and 20 s: "within 20 s" includes 20
    assert k.abandon_rate == 2 / 8
    assert k.answered_within_service_level == 4


def test_calls_outside_business_hours_are_counted_apart_and_in_no_ratio() -> None:
    calls = [stay(Outcome.ANSWERED, wait=3), stay(Outcome.CLOSED, at=T0 + 13 * 3600), stay(Outcome.CLOSED)]
    k = call_kpis(calls)
    assert (k.offered, k.outside_hours, k.closed, k.base, k.reachability) == (1, 2, 2, 1, 1.0)
    assert k.outcomes == {"answered": 1, "closed": 2}
    assert k.outside_hours_by_weekday_hour[0][8] == 1 and k.outside_hours_by_weekday_hour[0][21] == 1
    assert sum(map(sum, k.offered_by_weekday_hour)) == 1


# Monday to Friday 06:30-17:00, Saxony's holidays (Buß- und Bettag, Wednesday 18.11.2026), one extra closed day
CALENDAR = Calendar.from_config(
    {"hours": {d: ["06:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}, "holidays": {"state": "SN"},
     "closed": ["2026-11-20"]}
)  # fmt: skip


def berlin(day: int, hh: int, mm: int, ss: float = 0.0) -> float:
    return datetime(2026, 11, day, hh, mm, tzinfo=kpi.TIMEZONE).timestamp() + ss


def test_the_calendar_decides_outside_business_hours_and_those_stays_are_in_no_ratio() -> None:
    inside = [
        stay(Outcome.ANSWERED, wait=10, talk=100, at=berlin(2, 6, 30)),  # Monday 06:30:00: opening time is inside
        stay(Outcome.ABANDONED, wait=40, at=berlin(2, 16, 59, 59.999999)),  # the last microsecond
        stay(Outcome.SHORT_ABANDON, wait=2, at=berlin(3, 12, 0)),
    ]
    outside = [
        stay(Outcome.ANSWERED, wait=5, talk=300, at=berlin(2, 6, 29, 59.5)),  # half a second early: answered anyway
        stay(Outcome.ABANDONED, wait=90, at=berlin(2, 17, 0)),  # closing time is outside
        stay(Outcome.ANSWERED, wait=1, talk=60, at=berlin(7, 10, 0)),  # Saturday
        stay(Outcome.TIMEOUT, wait=300, at=berlin(18, 10, 0)),  # Buß- und Bettag in Saxony
        stay(Outcome.ANSWERED, wait=2, talk=20, at=berlin(20, 10, 0)),  # an extra closed day
        stay(Outcome.CLOSED, at=berlin(2, 22, 0)),  # the dialplan: closed
        stay(Outcome.CLOSED, at=berlin(4, 10, 0)),  # closed by the dialplan in business hours: still closed
    ]
    k = call_kpis([*inside, *outside], calendar=CALENDAR)
    assert (k.offered, k.answered, k.abandoned, k.short_abandons, k.timed_out) == (3, 1, 1, 1, 0)
    assert (k.base, k.reachability, k.service_level, k.abandon_rate) == (2, 0.5, 0.5, 0.5)
    assert (k.outside_hours, k.closed, k.queued_outside_hours, k.answered_outside_hours) == (7, 2, 5, 3)
    assert k.reaction_time == kpi.Distribution(1, 10.0, 10, 10) and k.talk_time.mean == 100.0
    assert sum(map(sum, k.offered_by_weekday_hour)) == 3 and sum(map(sum, k.outside_hours_by_weekday_hour)) == 7
    assert k.outside_hours_by_weekday_hour[0][6] == 1 and k.offered_by_weekday_hour[0][6] == 1  # 06:29 and 06:30
    assert k.outcomes == {"abandoned": 2, "answered": 4, "closed": 2, "short_abandon": 1, "timeout": 1}
    # no calendar: around the clock, only the dialplan's closed calls are outside business hours
    assert call_kpis([*inside, *outside]).offered == 8
    for c in [*inside, *outside]:
        assert kpi.is_outside_hours(c.outcome, c.entered_at, CALENDAR) == (c in outside)
    assert not kpi.is_outside_hours(None, berlin(7, 10, 0), CALENDAR)  # in progress: not classified yet


def test_a_transfer_after_closing_time_is_outside_hours_and_a_transfer_in_only_in_hours() -> None:
    before = stay(Outcome.TRANSFERRED, wait=5, talk=60, linkedid="late", at=berlin(2, 16, 58))
    after = stay(Outcome.ANSWERED, wait=5, talk=60, linkedid="late", queue="2nd-level", at=berlin(2, 17, 0, 1))
    early = stay(Outcome.TRANSFERRED, wait=5, talk=60, linkedid="early", at=berlin(3, 6, 28))
    opened = stay(Outcome.ANSWERED, wait=5, talk=60, linkedid="early", queue="2nd-level", at=berlin(3, 6, 30))
    k = call_kpis([before, after, early, opened], calendar=CALENDAR)
    assert (k.offered, k.outside_hours, k.answered_outside_hours, k.transfers_in, k.conversations) == (2, 2, 2, 1, 2)
    hotline = call_kpis([before, after, early, opened], calendar=CALENDAR, exclude_transfers_in=True)
    assert (hotline.offered, hotline.outside_hours, hotline.transfers_in) == (1, 2, 1)


def test_business_spans_are_exactly_what_in_business_hours_accepts() -> None:
    start = datetime(2026, 10, 1, tzinfo=kpi.TIMEZONE)  # a DST change (25 October) and the 18th in the month
    end = datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)
    spans = kpi.business_spans(CALENDAR, start, end)
    assert spans is not None and all(s < e for s, e in spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))  # sorted, disjoint, not touching
    assert datetime(2026, 11, 18, 6, 30, tzinfo=kpi.TIMEZONE) not in [s for s, _ in spans]  # the holiday
    assert (spans[0][0], spans[-1][1]) == (
        datetime(2026, 10, 1, 6, 30, tzinfo=kpi.TIMEZONE),
        datetime(2026, 11, 30, 17, 0, tzinfo=kpi.TIMEZONE),
    )
    edges = [t.timestamp() + d for s, e in spans for t in (s, e) for d in (-1e-6, 0.0, 1e-6)]
    rng = random.Random(7)
    instants = edges + [rng.uniform(start.timestamp(), end.timestamp()) for _ in range(3000)]
    for ts in instants:
        at = datetime.fromtimestamp(ts, UTC)
        assert kpi.in_business_hours(ts, CALENDAR) == any(s <= at < e for s, e in spans), at
    # clipped to the period; none for around the clock
    noon, one = datetime.fromtimestamp(berlin(2, 12, 0), UTC), datetime.fromtimestamp(berlin(2, 13, 0), UTC)
    assert kpi.business_spans(CALENDAR, noon, one) == [(noon, one)]
    weekend = datetime(2026, 11, 7, tzinfo=kpi.TIMEZONE), datetime(2026, 11, 9, tzinfo=kpi.TIMEZONE)
    assert kpi.business_spans(CALENDAR, *weekend) == []
    assert kpi.business_spans(None, start, end) is None
    assert kpi.business_spans(Calendar.around_the_clock(), start, end) is None


def test_refused_exit_key_callback_and_unknown_are_offered_and_not_answered() -> None:
    calls = [stay(o, wait=0) for o in (Outcome.REFUSED, Outcome.EXIT_KEY, Outcome.CALLBACK, Outcome.UNKNOWN)]
    calls.append(stay(Outcome.ANSWERED, wait=12))
    k = call_kpis(calls)
    assert (k.offered, k.answered, k.abandoned, k.timed_out, k.base) == (5, 1, 0, 0, 5)
    assert k.reachability == 1 / 5


def test_timeouts_and_overflows_are_timed_out() -> None:
    k = call_kpis([stay(Outcome.TIMEOUT, wait=60), stay(Outcome.OVERFLOW, wait=4), stay(Outcome.ANSWERED, wait=1)])
    assert (k.offered, k.timed_out, k.answered, k.reachability) == (3, 2, 1, 1 / 3)


def test_a_transferred_call_is_two_queue_stays_and_the_second_is_flagged() -> None:
    first = stay(Outcome.TRANSFERRED, wait=8, talk=90, linkedid="conv-1")
    second = stay(Outcome.ANSWERED, wait=30, talk=200, linkedid="conv-1", queue="backoffice", at=T0 + 100)
    other = stay(Outcome.ABANDONED, wait=40, at=T0 + 5)
    # any order: call_kpis orders the stays by queue entry
    k = call_kpis([second, other, first])
    assert (k.offered, k.answered, k.transfers_in, k.conversations) == (3, 2, 1, 2)
    assert k.reaction_time.count == 2 and k.talk_time.mean == 145
    hotline = call_kpis([second, other, first], exclude_transfers_in=True)
    assert (hotline.offered, hotline.answered, hotline.transfers_in, hotline.conversations) == (2, 1, 1, 2)
    assert hotline.reachability == 1 / 2 and hotline.transfers_in_excluded


def test_a_caller_who_calls_again_is_not_a_transfer() -> None:
    k = call_kpis([stay(Outcome.ANSWERED, wait=1, linkedid="a"), stay(Outcome.ANSWERED, wait=1, linkedid="b")])
    assert k.transfers_in == 0 and k.conversations == 2


def test_an_empty_period_has_no_ratios() -> None:
    k = call_kpis([])
    assert (k.offered, k.base, k.reachability, k.service_level, k.abandon_rate) == (0, 0, None, None, None)
    assert k.reaction_time == kpi.Distribution(0, None, None, None)
    body = k.to_dict()
    assert body["reachability"] is None and body["reaction_time_s"] == {
        "count": 0,
        "mean": None,
        "median": None,
        "p90": None,
    }


def test_only_short_abandons_is_an_empty_base() -> None:
    k = call_kpis([stay(Outcome.SHORT_ABANDON, wait=1)])
    assert (k.offered, k.base, k.reachability) == (1, 0, None)


def test_calls_in_progress_count_nowhere() -> None:
    k = call_kpis([stay(None), stay(Outcome.ANSWERED, wait=3)])
    assert (k.offered, k.in_progress, k.reachability) == (1, 1, 1.0)


def test_reaction_time_is_the_wait_of_answered_calls_only() -> None:
    calls = [stay(Outcome.ANSWERED, wait=w) for w in (2, 4, 6, 8, 10, 12, 14, 16, 18, 100)]
    calls += [stay(Outcome.ABANDONED, wait=500), stay(Outcome.TIMEOUT, wait=600)]
    r = call_kpis(calls).reaction_time
    assert (r.count, r.mean, r.median, r.p90) == (10, 19.0, 10, 18)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([15, 20, 35, 40, 50], 5, 15),
        ([15, 20, 35, 40, 50], 30, 20),
        ([15, 20, 35, 40, 50], 40, 20),
        ([15, 20, 35, 40, 50], 50, 35),
        ([15, 20, 35, 40, 50], 100, 50),
        ([4, 1, 3, 2], 50, 2),  # the median of an even count is the lower middle value
        (list(range(1, 11)), 90, 9),  # ceil(0.9 * 10) = 9: exactly, no float rounding up to 10
        (list(range(1, 12)), 90, 10),  # ceil(0.9 * 11) = 10
        ([7.5], 90, 7.5),
        ([], 90, None),
    ],
)
def test_percentiles_are_nearest_rank(values: list[float], p: int, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_a_percentile_outside_1_to_100_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_service_level_threshold_is_inclusive_and_configurable() -> None:
    calls = [stay(Outcome.ANSWERED, wait=w) for w in (20.0, 20.001, 30.0)]
    assert call_kpis(calls).answered_within_service_level == 1
    assert call_kpis(calls, service_level_s=30).service_level == 1.0


def test_calls_by_weekday_and_hour_are_in_berlin_time() -> None:
    winter = datetime(2026, 3, 1, 23, 30, tzinfo=UTC).timestamp()  # Monday 00:30 in Berlin (CET)
    summer = datetime(2026, 7, 1, 6, 15, tzinfo=UTC).timestamp()  # Wednesday 08:15 in Berlin (CEST)
    grid = call_kpis([stay(Outcome.ANSWERED, wait=1, at=winter), stay(Outcome.ABANDONED, at=summer)])
    assert grid.offered_by_weekday_hour[0][0] == 1 and grid.offered_by_weekday_hour[2][8] == 1
    assert sum(map(sum, grid.offered_by_weekday_hour)) == 2


def test_talk_time_is_the_mean_over_answered_and_transferred_stays() -> None:
    calls = [stay(Outcome.ANSWERED, wait=1, talk=100), stay(Outcome.TRANSFERRED, wait=1, talk=50)]
    calls.append(stay(Outcome.ABANDONED, wait=10))
    assert call_kpis(calls).talk_time == kpi.Distribution(2, 75.0, 50, 100)


# -- tickets --------------------------------------------------------------------------------------------------

C0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return C0 + timedelta(minutes=n)


def test_routing_beyond_first_level_forwards_and_an_sla_escalation_does_not() -> None:
    tickets = [
        # routed to 1st level and nothing else: not forwarded
        ticket_fact("t", C0, "kis", 3, "phone", [("routed", "1st_level", minutes(1))]),
        # routed to 2nd level after 12 minutes (the 1st-level routing before does not count)
        ticket_fact(
            "t", C0, "kis", 2, "phone", [("routed", "1st_level", minutes(1)), ("routed", "2nd_level", minutes(12))]
        ),
        # an SLA warning after 30 minutes, then routed to a partner: forwarded at the routing, escalated apart
        ticket_fact(
            "t",
            C0,
            "pacs",
            1,
            "web",
            [("routed", "partner:pacs-vendor", minutes(45)), ("escalated", None, minutes(30))],
        ),
        # an SLA breach alone: escalated (the managers were told), not forwarded
        ticket_fact("t", C0, "hardware", 4, "phone", [("escalated", None, minutes(90))]),
        # other history entries are no forwarding
        ticket_fact("t", C0, "none", None, "mail", [("classified", "kis/login", minutes(2)), ("comment", None, C0)]),
    ]
    k = ticket_kpis(tickets)
    assert (k.created, k.routed, k.escalated, k.forwarded) == (5, 2, 2, 2)
    assert k.by_category == {"hardware": 1, "kis": 2, "none": 1, "pacs": 1}
    assert k.by_priority == {"1": 1, "2": 1, "3": 1, "4": 1, "none": 1}
    assert k.by_channel == {"mail": 1, "phone": 3, "web": 1}
    assert k.routed_by_category == {"kis": 1, "pacs": 1}
    assert k.escalated_by_category == {"hardware": 1, "pacs": 1}
    assert k.forwarded_by_category == {"kis": 1, "pacs": 1}
    assert k.escalation_time == kpi.Distribution(2, 28.5 * 60.0, 12 * 60.0, 45 * 60.0)
    assert tickets[2].escalation_us == 45 * 60 * 1_000_000
    assert tickets[3].escalation_us is None and tickets[3].escalated_at == minutes(90)
    assert not kpi.is_forwarding("escalated", None) and kpi.is_forwarding("routed", "partner:pacs-vendor")


def test_no_tickets_no_escalation_time() -> None:
    k = ticket_kpis([])
    assert (k.created, k.forwarded, k.escalation_time.mean, k.escalation_time.p90) == (0, 0, None, None)


def test_top_level_category_of_a_path() -> None:
    assert kpi.top_level("kis/login/sso") == "kis"
    assert kpi.top_level(None) == kpi.top_level("") == "none"


def test_callers_who_left_at_a_major_incidents_announcement_are_never_offered() -> None:
    """incident_subscribed and incident_left never entered a queue: apart, in no ratio, in business hours or not."""
    queued = [stay(Outcome.ANSWERED, wait=5, talk=60), stay(Outcome.ABANDONED, wait=40)]
    announced = [
        stay(Outcome.INCIDENT_SUBSCRIBED, wait=0),
        stay(Outcome.INCIDENT_LEFT, wait=0),
        stay(Outcome.INCIDENT_LEFT, wait=0, at=berlin(7, 10, 0)),  # Saturday by the calendar: still not outside
    ]
    k = call_kpis([*queued, *announced], calendar=CALENDAR)
    assert (k.offered, k.answered, k.abandoned, k.base, k.service_level) == (2, 1, 1, 2, 0.5)
    assert (k.left_at_announcement, k.subscribed_at_announcement, k.outside_hours, k.closed) == (3, 1, 0, 0)
    assert k.outcomes == {"answered": 1, "abandoned": 1, "incident_left": 2, "incident_subscribed": 1}
    assert k.conversations == 2 and sum(map(sum, k.offered_by_weekday_hour)) == 2
    assert sum(map(sum, k.outside_hours_by_weekday_hour)) == 0
    for outcome in (Outcome.INCIDENT_SUBSCRIBED, Outcome.INCIDENT_LEFT):
        assert not kpi.is_offered(outcome) and kpi.is_at_announcement(outcome)
    assert kpi.is_offered(Outcome.ANSWERED) and not kpi.is_at_announcement(Outcome.CLOSED)
    without = call_kpis(queued, calendar=CALENDAR)
    assert (without.offered, without.service_level, without.reaction_time) == (k.offered, k.service_level,
                                                                               k.reaction_time)  # fmt: skip
