"""The matcher and the callback recorder on the store (SQLite and PostgreSQL): reached by calling again inside and
outside the window, by a callback the caller answered, anonymous callers never, another tenant's call never,
duplicate answers once, a catch-up after downtime, and figures that survive retention exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.privacy.rows import World
from tests.support.webapp import TENANT_A, TENANT_B
from uhd_telephony.calls.domain import CallbackAnswered
from uhd_telephony.metrics import report
from uhd_telephony.metrics.reachback import reach_figures
from uhd_telephony.privacy.retention import Retention
from uhd_telephony.privacy.rules import callbacks, calls
from uhd_telephony.reachback.matcher import ReachbackMatcher
from uhd_telephony.reachback.recorder import CallbackRecorder

A, B = TENANT_A, TENANT_B
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
MIN = timedelta(minutes=1)


async def lost(world: World, tenant: str, at: datetime, number: str, **extra: Any) -> int:
    values: dict[str, Any] = {"outcome": "abandoned", "answered_at": None, "talk_s": None, "wait_s": 35.0,
                              "ended_at": at + timedelta(seconds=35)}  # fmt: skip
    return await world.call(tenant, at, number=number, **(values | extra))


async def answered(world: World, tenant: str, at: datetime, number: str) -> int:
    return await world.call(tenant, at, number=number, answered_at=at + timedelta(seconds=20))


def matcher(world: World, now: datetime) -> ReachbackMatcher:
    return ReachbackMatcher(world.db, clock=lambda: now)


async def reach(world: World, row_id: int) -> tuple[Any, ...]:
    row = await world.row(calls, row_id)
    return row.reach, row.reached_at, row.reach_s


async def test_a_caller_who_calls_again_and_gets_through_within_the_window_is_reached(world: World) -> None:
    inside = await lost(world, A, T0, "+492319860572")
    again = T0 + timedelta(minutes=90)
    await answered(world, A, again, "0231 9860572")  # the same phone, written as a person dials it
    outside = await lost(world, A, T0, "+4930123456")
    await answered(world, A, T0 + timedelta(hours=2, minutes=5), "+4930123456")  # 2 h after the end: too late
    await world.call(A, T0 - MIN * 2, number="+4930123456")  # answered BEFORE the lost stay ended: no reach either
    assert await matcher(world, T0 + timedelta(hours=5)).scan_once() >= 2
    kind, at, seconds = await reach(world, inside)
    assert kind == "call_again" and at == again + timedelta(seconds=20)
    assert seconds == (again + timedelta(seconds=20) - (T0 + timedelta(seconds=35))).total_seconds()
    assert await reach(world, outside) == ("open", None, None)


async def test_anonymous_callers_are_never_reached_and_other_outcomes_are_no_lost_stays(world: World) -> None:
    anonymous = await lost(world, A, T0, "anonymous")
    await answered(world, A, T0 + MIN * 10, "anonymous")
    short = await lost(world, A, T0, "+4922100077", outcome="short_abandon", wait_s=2.0)
    closed = await lost(world, A, T0, "+4922100078", outcome="closed")
    first = await world.call(A, T0, number="+4922100079", outcome="transferred")
    transfer_in = await lost(world, A, T0 + MIN, "+4922100079", linkedid=f"l{first}")
    await matcher(world, T0 + timedelta(hours=5)).scan_once()
    assert (await reach(world, anonymous))[0] == "anonymous"
    for row_id in (short, closed, transfer_in):
        assert (await reach(world, row_id))[0] == "excluded"


async def test_an_answered_call_of_another_tenant_with_the_same_number_never_counts(world: World) -> None:
    mine = await lost(world, A, T0, "+4922100001")
    await answered(world, B, T0 + MIN * 10, "+4922100001")
    theirs = await lost(world, B, T0 + MIN * 30, "+4922100001")
    await matcher(world, T0 + timedelta(hours=5)).scan_once()
    assert (await reach(world, mine))[0] == "open"
    assert (await reach(world, theirs))[0] == "open"  # B's earlier answer came before B's own lost stay


async def test_a_callback_the_caller_answered_reaches_them_once_and_one_closed_by_hand_does_not(world: World) -> None:
    reached = await lost(world, A, T0, "+4989000001")
    by_hand = await lost(world, A, T0, "+4989000002")
    entry = await world.callback(A, T0 + timedelta(seconds=35), status="dialing", number="+4989000001")
    await world.callback(A, T0 + timedelta(seconds=35), status="done", number="+4989000002")  # no proof
    woken: list[int] = []
    recorder = CallbackRecorder(world.db, on_recorded=lambda: woken.append(1))
    answer = T0 + timedelta(minutes=30)
    event = CallbackAnswered(entry, A, answer.timestamp(), "PJSIP/trunk-0001", "9.1")
    await recorder(event)
    await recorder(event)  # the same UserEvent twice
    await recorder(CallbackAnswered(entry, A, (answer + MIN).timestamp(), resynced=True))  # later: no change
    await recorder(CallbackAnswered(entry, B, (answer - MIN).timestamp()))  # another tenant's: no change
    assert (recorder.recorded, recorder.ignored, woken) == (1, 3, [1])
    assert (await world.row(callbacks, entry)).reached_at == answer
    await matcher(world, T0 + timedelta(hours=5)).scan_once()
    kind, at, seconds = await reach(world, reached)
    assert (kind, at) == ("callback", answer) and seconds == 30 * 60 - 35
    assert (await reach(world, by_hand))[0] == "open"


async def test_an_answer_the_database_could_not_take_is_kept_and_stored_before_the_next_scan(world: World) -> None:
    row = await lost(world, A, T0, "+4989000003")
    entry = await world.callback(A, T0, status="dialing", number="+4989000003")
    recorder = CallbackRecorder(world.db)
    event = CallbackAnswered(entry, A, (T0 + MIN * 5).timestamp())

    async def broken(_: CallbackAnswered) -> bool:
        raise ConnectionError("database away")

    recorder.record = broken  # type: ignore[method-assign]
    await recorder(event)
    assert list(recorder.pending) == [entry]
    del recorder.record  # the database is back
    scan = ReachbackMatcher(world.db, clock=lambda: T0 + timedelta(hours=1), before_scan=recorder.retry)
    await scan.scan_once()
    assert recorder.pending == {} and (await reach(world, row))[0] == "callback"


async def test_a_restart_catches_up_from_the_store_and_a_second_scan_changes_nothing(world: World) -> None:
    row = await lost(world, A, T0, "+4922100002")
    first = matcher(world, T0 + timedelta(minutes=30))
    await first.scan_once()
    assert (await reach(world, row))[0] == "open"
    # the service was down for two days; the answered call of that time was written to the store afterwards
    await answered(world, A, T0 + timedelta(minutes=60), "+4922100002")
    later = matcher(world, T0 + timedelta(days=2))  # a new process: looks back over its whole lookback
    assert await later.scan_once() >= 1
    assert (await reach(world, row))[0] == "call_again"
    before = await world.dump()
    assert await later.scan_once() == 0
    assert await world.dump() == before


async def test_figures_agree_between_the_period_figures_and_the_report_and_survive_retention(world: World) -> None:
    numbers = ["+492319860572", "+4930123456", "anonymous", "+4922100009"]
    for i, number in enumerate(numbers):
        await lost(world, A, T0 + MIN * i, number)
    await answered(world, A, T0 + MIN * 20, "+492319860572")
    entry = await world.callback(A, T0 + MIN, status="dialing", number="+4930123456")
    await CallbackRecorder(world.db)(CallbackAnswered(entry, A, (T0 + MIN * 50).timestamp()))
    await lost(world, B, T0, "+4922100009")
    await matcher(world, T0 + timedelta(hours=5)).scan_once()

    day = await reach_figures(world.db, A, T0 - timedelta(hours=9), T0 + timedelta(hours=15))
    f = day.total
    assert (f.lost, f.identified, f.anonymous, f.call_again, f.callback, f.lost_callers) == (4, 3, 1, 1, 1, 2)
    assert f.rate == 2 / 3
    assert f.time_to_reach.count == 2 and f.time_to_reach.median == 20 * 60 + 20 - 35
    built = report.to_json(await report.build(world.db, A, "2026-12", now=T0 + timedelta(days=40)))
    assert {k: v for k, v in built["reached_back"].items() if k != "window_s"} == day.to_dict()
    assert built["reached_back"]["window_s"] == 7200
    december = await report.build(world.db, A, "2026-12", now=T0)
    assert "Zurückerreichte Anrufer" in report.to_csv(december)
    html = await report.to_html(december)
    assert 'id="reachback-rate"' in html and "66,7" in html and "2 Std." in html  # rate and window in words

    # six months later retention cuts the numbers to their area: every figure of December stays as it was
    went = await Retention(world.db, clock=lambda: T0 + timedelta(days=200)).apply([A, B])
    assert any(d.data_class.code == "call_numbers" and d.count for d in went)
    assert (await world.row(calls, 1)).caller_number.endswith("***")
    await matcher(world, T0 + timedelta(days=200)).scan_once()
    again = report.to_json(await report.build(world.db, A, "2026-12", now=T0 + timedelta(days=40)))
    assert again["reached_back"] == built["reached_back"]


async def test_metrics_shows_the_days_figures_per_tenant_read_in_the_background(world: World) -> None:
    from uhd_telephony.metrics.service import MetricsService

    now = datetime.now(UTC)
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0) + timedelta(hours=1))
    await lost(world, A, start, "+492319860572")
    await answered(world, A, start + MIN * 5, "+492319860572")
    await lost(world, A, start, "anonymous")
    await lost(world, B, start, "+4930123456")
    await matcher(world, now).scan_once()
    service = MetricsService(db=world.db)
    before = await service.render()
    assert b"uhd_lost_stays_today" not in before  # nothing read yet: a scrape never reads the database
    await service.refresh()
    text = (await service.render()).decode()
    assert 'uhd_lost_stays_reached_today{by="call_again",tenant="klinikum-nord"} 1.0' in text
    assert 'uhd_lost_stays_today{tenant="klinikum-nord"} 2.0' in text
    assert 'uhd_lost_callers_today{tenant="klinikum-nord"} 1.0' in text
    assert 'uhd_lost_callers_today{tenant="klinikum-sued"} 1.0' in text
    assert 'uhd_metrics_source_age_seconds{source="reached"}' in text
