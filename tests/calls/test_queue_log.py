"""calls/queue_log.py: Asterisk 22 queue_log lines → the call records the live tracker makes of the same calls."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from uhd_telephony.calls.queue_log import MAX_OPEN_S, CallAssembler, QueueLogLine, parse_line, read_lines
from uhd_telephony.calls.records import CallRecord, Outcome

DATA = Path(__file__).resolve().parent.parent / "data" / "queue-log"
T = 1796642163


def tenant(dialled: str, queue: str) -> str:
    return {"hotline": "klinikum-nord"}.get(queue, "default") if not dialled else f"by-number:{dialled}"


def assemble(*lines: str, short_abandon_s: float = 5.0) -> tuple[list[CallRecord], CallAssembler]:
    assembler = CallAssembler(tenant_of=tenant, short_abandon_s=short_abandon_s)
    out: list[CallRecord] = []
    offset = 0
    for text in lines:
        raw = (text + "\n").encode()
        line = parse_line(raw, offset)
        offset += len(raw)
        assert line is not None, text
        record = assembler.feed(line)
        if record is not None:
            out.append(record)
    return out, assembler


def enter(uid: str, t: int = T, caller: str = "+495115178410", pos: int = 1, queue: str = "hotline") -> str:
    return f"{t}|{uid}|{queue}|NONE|ENTERQUEUE||{caller}|{pos}"


def test_a_line_is_split_into_its_fields() -> None:
    line = parse_line(b"1796642165|1796642163.104|hotline|Agent Emma|CONNECT|2|1796642163.106|2\n", 100)
    assert line == QueueLogLine(
        1796642165.0, "1796642163.104", "hotline", "Agent Emma", "CONNECT", ("2", "1796642163.106", "2"), 100, 172
    )
    assert line.number(0) == 2 and line.number(7) == 0 and line.field(1) == "1796642163.106"


@pytest.mark.parametrize(
    "raw", [b"", b"\n", b"garbage\n", b"x|y|z|a|b\n", b"1796642165|1|q|a|\n", b"-5|1|q|a|CONNECT|1\n"]
)
def test_what_is_not_a_queue_log_line_is_none(raw: bytes) -> None:
    assert parse_line(raw) is None


def test_answered_by_the_agent_completeagent() -> None:
    (call,), _ = assemble(
        enter("1.100"),
        f"{T + 3}|1.100|hotline|Agent David|CONNECT|3|1.102|2",
        f"{T + 12}|1.100|hotline|Agent David|COMPLETEAGENT|3|9|1",
    )
    assert call.call_id == "1.100@hotline" and call.uniqueid == call.linkedid == "1.100"
    assert call.outcome == Outcome.ANSWERED and call.ended_by == "agent"
    assert call.agent == "Agent David" and call.agent_interface is None
    assert (call.entered_at, call.answered_at, call.ended_at) == (T, T + 3, T + 12)
    assert (call.wait_s, call.talk_s) == (3, 9)
    assert call.caller_number == "+495115178410" and call.position == 1
    assert call.tenant == "klinikum-nord" and call.backfilled and not call.resynced
    (attempt,) = call.ring_attempts
    assert (attempt.member_name, attempt.result, attempt.started_at, attempt.ended_at) == (
        "Agent David",
        "answered",
        T + 1,
        T + 3,
    )


def test_answered_and_the_caller_hung_up_completecaller() -> None:
    (call,), _ = assemble(
        enter("1.104"),
        f"{T + 2}|1.104|hotline|Agent Emma|CONNECT|2|1.106|2",
        f"{T + 12}|1.104|hotline|Agent Emma|COMPLETECALLER|2|10|2",
    )
    assert call.outcome == Outcome.ANSWERED and call.ended_by == "caller" and call.talk_s == 10


def test_an_agent_without_member_name_is_its_interface() -> None:
    (call,), _ = assemble(
        enter("1.1"),
        f"{T + 2}|1.1|hotline|PJSIP/101|CONNECT|2|1.2|1",
        f"{T + 5}|1.1|hotline|PJSIP/101|COMPLETEAGENT|2|3|1",
    )
    assert call.agent == call.agent_interface == "PJSIP/101"


@pytest.mark.parametrize(
    ("wait", "threshold", "outcome"),
    [(4, 5.0, Outcome.SHORT_ABANDON), (5, 5.0, Outcome.ABANDONED), (4, 3.0, Outcome.ABANDONED), (0, 0.0, "abandoned")],
)
def test_abandon_is_short_below_the_threshold(wait: int, threshold: float, outcome: str) -> None:
    (call,), _ = assemble(
        enter("1.176", T), f"{T + wait}|1.176|hotline|NONE|ABANDON|7|7|{wait}", short_abandon_s=threshold
    )
    assert call.outcome == outcome and call.wait_s == wait and call.ended_at == T + wait
    assert call.agent is None and call.talk_s is None and call.ended_by is None


def test_exit_with_timeout_is_a_timeout() -> None:
    (call,), _ = assemble(enter("1.226"), f"{T + 15}|1.226|hotline|NONE|EXITWITHTIMEOUT|4|14|15")
    assert call.outcome == Outcome.TIMEOUT and call.queue_status == "TIMEOUT" and call.wait_s == 15


def test_exit_with_key_is_exit_key() -> None:
    (call,), _ = assemble(enter("1.232"), f"{T + 3}|1.232|hotline|NONE|EXITWITHKEY|1|11|17|3")
    assert call.outcome == Outcome.EXIT_KEY and call.wait_s == 3 and not call.callback_requested


def test_exit_empty_is_an_overflow() -> None:
    (call,), _ = assemble(enter("1.9"), f"{T + 8}|1.9|hotline|NONE|EXITEMPTY|1|1|8")
    assert call.outcome == Outcome.OVERFLOW and call.queue_status == "LEAVEEMPTY" and call.wait_s == 8


def test_ring_no_answer_and_ring_canceled_are_ring_attempts() -> None:
    (abandoned, answered), _ = assemble(
        enter("1.240"),
        enter("1.286", T + 1),
        f"{T + 15}|1.240|hotline|Agent Sören|RINGNOANSWER|15000",
        f"{T + 16}|1.240|hotline|Agent Ben|RINGNOANSWER|0",
        f"{T + 20}|1.240|hotline|Agent Ben|CONNECT|20|1.320|4",
        f"{T + 21}|1.286|hotline|Agent Hülya|RINGCANCELED|1000",
        f"{T + 21}|1.286|hotline|NONE|ABANDON|3|20|20",
        f"{T + 38}|1.240|hotline|Agent Ben|COMPLETEAGENT|20|18|18",
    )
    assert [(a.member_name, a.result, a.ended_at - a.started_at) for a in answered.ring_attempts] == [
        ("Agent Sören", "noanswer", 15),
        ("Agent Ben", "busy", 0),
        ("Agent Ben", "answered", 4),
    ]
    assert answered.agent == "Agent Ben" and answered.wait_s == 20 and answered.talk_s == 18
    assert [(a.member_name, a.result) for a in abandoned.ring_attempts] == [("Agent Hülya", "cancelled")]
    assert abandoned.outcome == Outcome.ABANDONED


@pytest.mark.parametrize(
    ("line", "to"),
    [
        ("BLINDTRANSFER|2000|from-internal|3|40|1", "2000@from-internal"),
        ("TRANSFER|2000|from-internal|3|40|1", "2000@from-internal"),
        ("ATTENDEDTRANSFER|BRIDGE|5d2f3c9a-bridge|3|40|1", "Bridge"),
        ("ATTENDEDTRANSFER|APP|Voicemail|3|40|1", "App"),
        ("ATTENDEDTRANSFER|LINK|PJSIP/101-01|PJSIP/102-02|3|40|1", "Link"),
    ],
)
def test_transfers_end_the_call_as_transferred(line: str, to: str) -> None:
    (call,), _ = assemble(
        enter("1.5"),
        f"{T + 3}|1.5|hotline|Agent Anna|CONNECT|3|1.6|1",
        f"{T + 43}|1.5|hotline|Agent Anna|{line}",
        # app_queue writes no COMPLETE line after a transfer; one that came anyway would not end the call twice
        f"{T + 44}|1.5|hotline|Agent Anna|COMPLETEAGENT|3|41|1",
    )
    assert call.outcome == Outcome.TRANSFERRED and call.ended_by == "transfer" and call.transferred_to == to
    assert (call.wait_s, call.talk_s, call.agent) == (3, 40, "Agent Anna")


def test_member_and_queue_events_are_ignored() -> None:
    calls, assembler = assemble(
        "1796642162|MANAGER|hotline|Local/106@agents/n|ADDMEMBER|",
        "1796642163|NONE|hotline|Agent Greta|PAUSE|Pause",
        "1796642174|NONE|NONE|Agent Anna|PAUSEALL|Mittagspause",
        "1796642208|NONE|hotline|Agent Anna|UNPAUSE|",
        "1796642306|MANAGER|hotline|Local/106@agents/n|REMOVEMEMBER|",
        "1796642306|NONE|NONE|NONE|QUEUESTART|",
        "1796642306|NONE|NONE|NONE|CONFIGRELOAD|",
        "1796642307|1.7|hotline|Agent Anna|AGENTLOGIN|PJSIP/101",
    )
    assert calls == [] and assembler.open == {} and assembler.stats.ignored == 8


def test_a_call_in_progress_at_the_end_is_not_recorded_and_holds_the_mark() -> None:
    lines = [
        enter("1.1", T),
        enter("1.2", T + 1),
        f"{T + 2}|1.1|hotline|NONE|ABANDON|1|1|2",
        f"{T + 3}|1.2|hotline|Agent Anna|CONNECT|2|1.3|1",
    ]
    calls, assembler = assemble(*lines)
    assert [c.call_id for c in calls] == ["1.1@hotline"]
    assert list(assembler.open) == ["1.2@hotline"]
    end = sum(len(line) + 1 for line in lines)
    # the next read starts at the second ENTERQUEUE, so that call is read whole
    assert assembler.resume_offset(end) == len(lines[0]) + 1
    # ... unless it has been open for longer than any call lasts
    assembler.last_time = T + 1 + MAX_OPEN_S
    assert assembler.resume_offset(end) == end


def test_an_end_line_without_its_enterqueue_rebuilds_the_call_from_its_times() -> None:
    (answered, abandoned, transferred), assembler = assemble(
        f"{T + 20}|1.1|hotline|Agent Ivo|COMPLETECALLER|4|16|2",
        f"{T + 20}|1.2|hotline|NONE|ABANDON|1|1|6",
        f"{T + 20}|1.3|hotline|Agent Ivo|BLINDTRANSFER|200|ctx|5|10|1",
    )
    assert (answered.entered_at, answered.answered_at, answered.wait_s, answered.talk_s) == (T, T + 4, 4, 16)
    assert answered.agent == "Agent Ivo" and answered.outcome == Outcome.ANSWERED
    assert (abandoned.entered_at, abandoned.wait_s, abandoned.outcome) == (T + 14, 6, Outcome.ABANDONED)
    assert transferred.entered_at == T + 5 and transferred.answered_at == T + 10
    assert assembler.stats.orphans == 3
    # a ring line of a call never seen entering says nothing useful
    calls, assembler = assemble(f"{T}|1.9|hotline|Agent Ivo|RINGNOANSWER|1000")
    assert calls == [] and assembler.open == {}


def test_the_same_channel_entering_the_same_queue_again_is_a_second_call() -> None:
    calls, _ = assemble(
        enter("1.1", T),
        f"{T + 2}|1.1|hotline|NONE|EXITWITHKEY|1|1|1|2",
        enter("1.1", T + 5),
        f"{T + 7}|1.1|hotline|NONE|ABANDON|1|1|2",
        enter("1.1", T + 8, queue="second-level"),
        f"{T + 9}|1.1|second-level|NONE|ABANDON|1|1|1",
    )
    assert [c.call_id for c in calls] == ["1.1@hotline", "1.1@hotline#2", "1.1@second-level"]


def test_tenant_and_dialled_number_from_a_did_line() -> None:
    (call,), _ = assemble(
        f"{T}|1.1|NONE|NONE|DID|+495119876543",
        enter("1.1"),
        f"{T + 2}|1.1|hotline|NONE|ABANDON|1|1|2",
    )
    assert call.dialled == "+495119876543" and call.tenant == "by-number:+495119876543"


def test_an_empty_caller_id_reads_as_in_ami() -> None:
    (call,), _ = assemble(enter("1.1", caller=""), f"{T + 2}|1.1|hotline|NONE|ABANDON|1|1|2")
    assert call.caller_number == "<unknown>"


def test_non_utf8_bytes_are_read_as_cp1252() -> None:
    line = parse_line(b"1796642163|1.1|hotline|Agent S\xf6ren|CONNECT|2|1.2|1\n")
    assert line is not None and line.agent == "Agent Sören"
    line = parse_line(b"1796642163|1.1|hotline|Agent \x81\x00X|CONNECT|2|1.2|1\n")
    assert line is not None and line.agent == "Agent \ufffdX"


def test_the_reader_leaves_a_truncated_last_line_for_the_next_read() -> None:
    data = b"1|a|q|NONE|ENTERQUEUE||1|1\n2|a|q|NONE|ABANDON|1|1|1\n3|b|q|NONE|ENTERQ"
    lines = list(read_lines(io.BytesIO(data), 0))
    assert [offset for offset, _ in lines] == [0, 27]
    assert sum(len(raw) for _, raw in lines) == data.rindex(b"\n") + 1
    # reading from a mark in the middle starts there
    assert [raw[:1] for _, raw in read_lines(io.BytesIO(data), 27)] == [b"2"]


def test_the_reader_skips_an_overlong_line() -> None:
    data = b"1|a|q|NONE|ENTERQUEUE||1|1\n" + b"x" * 200_000 + b"\n2|a|q|NONE|ABANDON|1|1|1\n"
    lines = list(read_lines(io.BytesIO(data), 0))
    assert [raw[:1] for _, raw in lines] == [b"1", b"2"]
    assert lines[1][0] == data.index(b"2|a")


def test_the_real_asterisk_queue_log_gives_its_truth() -> None:
    truth = {t["uniqueid"]: t for t in json.loads((DATA / "soak_c120.truth.json").read_text(encoding="utf-8"))}
    assembler = CallAssembler(tenant_of=tenant, short_abandon_s=0)
    calls: list[CallRecord] = []
    with open(DATA / "soak_c120.queue_log", "rb") as f:
        for offset, raw in read_lines(f, 0):
            line = parse_line(raw, offset)
            assert line is not None
            record = assembler.feed(line)
            if record is not None:
                calls.append(record)
    assert assembler.open == {} and assembler.stats.orphans == 0
    assert sorted(c.uniqueid for c in calls) == sorted(truth)
    named = {"exitwithkey": "exit_key"}
    for call in calls:
        expected = truth[call.uniqueid]
        assert call.outcome == named.get(expected["outcome"], expected["outcome"])
        assert call.agent == expected["agent"] and call.wait_s == expected["wait_s"]
        assert call.talk_s == expected["talk_s"] and call.caller_number == expected["caller_number"]
        if "ended_by" in expected:
            assert call.ended_by == expected["ended_by"]
