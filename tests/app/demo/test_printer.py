"""The demo's terminal: every line stamped with the wall clock, whatever the accelerated PBX clock says."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from uhd_telephony.app.demo.desk import wall_clock
from uhd_telephony.app.demo.runner import CallPrinter
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.calls.records import CallRecord, Outcome

WALL = datetime(2026, 12, 7, 11, 5, 33, tzinfo=UTC)  # 12:05:33 in Berlin


def test_call_lines_carry_the_wall_clock_not_the_demo_clock() -> None:
    out = io.StringIO()
    printer = CallPrinter(out, clock=lambda: WALL)
    # the simulated PBX runs ten times faster: its call is hours ahead of the wall clock
    pbx = WALL.timestamp() + 5 * 3600
    call = CallRecord(call_id="1.1@hotline", uniqueid="1.1", linkedid="1.1", queue="hotline", tenant="klinikum-nord",
                      entered_at=pbx, caller_number="+492319860572", caller_name="MUELLER J")  # fmt: skip
    printer(CallOffered(call, pbx))
    call.answered_at, call.agent, call.wait_s = pbx + 12, "Anna Becker", 12.0
    printer(CallAnswered(call, pbx + 12))
    call.ended_at, call.talk_s, call.outcome = pbx + 60, 48.0, Outcome.ANSWERED
    printer(CallEnded(call, pbx + 60))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    expected = wall_clock(WALL)
    assert all(line.startswith(expected + "  ") for line in lines), lines
    assert "talk 48 s" in lines[2]  # durations stay on the demo clock, as the header says
    assert printer.outcomes == {"answered": 1}


def test_the_desk_and_escalation_lines_use_the_same_column() -> None:
    assert wall_clock(WALL) == WALL.astimezone().strftime("%H:%M:%S")
    now = datetime.now().astimezone().strftime("%H:%M")
    assert wall_clock()[:5] in {now, datetime.now().astimezone().strftime("%H:%M")}
