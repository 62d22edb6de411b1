"""Every real Asterisk 22 capture, replayed: the outcomes its README and queue_log truth state."""

from __future__ import annotations

import pytest

from tests.support.helpers import trace_bytes, trace_names, trace_truth
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.tracker import CallTracker

EXPECTED_OUTCOMES = {
    "a_answered": ["answered"],
    "b_abandoned": ["abandoned"],
    "c_overflow": ["timeout"],
    "d_ringnoanswer": ["answered"],
    "f_transfer": ["transferred", "answered"],
    "g_members": ["answered"],
    "h_anonymous": ["answered", "answered", "answered"],
    "i_abandon_ringing": ["abandoned"],
}


def _shown(value: str) -> str:
    return "" if value == "<unknown>" else value


def test_every_trace_has_an_expectation() -> None:
    assert sorted(EXPECTED_OUTCOMES) == trace_names()


@pytest.mark.parametrize("name", trace_names())
def test_trace_matches_queue_log_truth(name: str) -> None:
    # threshold 0: no short abandons, so outcomes read exactly like Asterisk's queue_log
    result = replay_bytes(trace_bytes(name), CallTracker(short_abandon_s=0))
    truth = trace_truth(name)
    assert [str(r.outcome) for r in result.records] == EXPECTED_OUTCOMES[name]
    assert len(result.records) == len(truth)
    assert result.in_progress == []
    for record, expected in zip(result.records, truth, strict=True):
        assert record.uniqueid == expected["uniqueid"]
        assert record.linkedid == expected["linkedid"]
        assert record.queue == expected["queue"]
        # Asterisk's placeholder for "no caller ID" is never stored as a number or a name
        assert record.caller_number == _shown(expected["caller_number"])
        assert record.caller_name == _shown(expected["caller_name"])
        assert str(record.outcome) == expected["outcome"]
        assert record.agent == expected["agent"]
        # queue_log counts whole seconds; the frames' Timestamps are microseconds
        assert record.wait_s is not None and abs(record.wait_s - expected["wait_s"]) <= 1
        if expected["talk_s"] is None:
            assert record.talk_s is None
        else:
            assert record.talk_s is not None and abs(record.talk_s - expected["talk_s"]) <= 1
        if "ended_by" in expected:
            assert record.ended_by == expected["ended_by"]
        assert record.entered_at < record.ended_at  # type: ignore[operator]
        assert record.tenant == "default"


@pytest.mark.parametrize("name", ["b_abandoned", "i_abandon_ringing"])
def test_short_abandon_threshold_decides(name: str) -> None:
    (record,) = replay_bytes(trace_bytes(name), CallTracker(short_abandon_s=5)).records
    assert record.wait_s is not None and record.wait_s < 5
    assert record.outcome == "short_abandon"
    (record,) = replay_bytes(trace_bytes(name), CallTracker(short_abandon_s=3)).records
    assert record.outcome == "abandoned"


def test_timeout_is_told_from_abandon_by_what_follows() -> None:
    (record,) = replay_bytes(trace_bytes("c_overflow")).records
    assert record.outcome == "timeout"
    assert record.queue_status == "TIMEOUT"
    assert record.callback_requested is True


def test_ring_no_answer_attempts_are_kept() -> None:
    (record,) = replay_bytes(trace_bytes("d_ringnoanswer")).records
    results = [(a.member_name, a.result) for a in record.ring_attempts]
    assert results[-1] == ("Agent Ben", "answered")
    assert ("Agent Anna", "noanswer") in results
    noanswer = next(a for a in record.ring_attempts if a.result == "noanswer")
    assert noanswer.ended_at is not None and 14 <= noanswer.ended_at - noanswer.started_at <= 16


def test_abandon_while_ringing_cancels_the_ring() -> None:
    (record,) = replay_bytes(trace_bytes("i_abandon_ringing")).records
    assert [(a.member_name, a.result) for a in record.ring_attempts] == [("Agent David", "cancelled")]
    assert record.agent is None


def test_transfer_gives_two_calls_one_linkedid() -> None:
    first, second = replay_bytes(trace_bytes("f_transfer")).records
    assert first.linkedid == second.linkedid
    assert first.call_id != second.call_id
    assert first.transferred_to == "s@backoffice-in"
    assert first.ended_by == "transfer"


@pytest.mark.parametrize("name", trace_names())
def test_one_byte_reads_give_the_same_records(name: str) -> None:
    whole = replay_bytes(trace_bytes(name)).records
    trickled = replay_bytes(trace_bytes(name), chunk=1).records
    assert [r.to_dict() for r in trickled] == [r.to_dict() for r in whole]


@pytest.mark.parametrize("name", trace_names())
def test_every_frame_twice_changes_nothing(name: str) -> None:
    data = trace_bytes(name)
    banner, _, body = data.partition(b"\r\n")
    frames = body.split(b"\r\n\r\n")
    doubled = banner + b"\r\n" + b"".join(f + b"\r\n\r\n" + f + b"\r\n\r\n" for f in frames[:-1] if f)
    once = replay_bytes(data)
    twice = replay_bytes(doubled)
    assert [r.to_dict() for r in twice.records] == [r.to_dict() for r in once.records]
    assert twice.tracker.duplicates > 0


def test_whole_capture_replayed_twice_in_one_stream_stays_one_record_per_call() -> None:
    data = trace_bytes("a_answered")
    _banner, _, body = data.partition(b"\r\n")
    result = replay_bytes(data + body)
    assert len(result.records) == 1


def test_all_traces_concatenated() -> None:
    stream = b"".join(trace_bytes(n).partition(b"\r\n")[2] for n in trace_names())
    result = replay_bytes(b"Asterisk Call Manager/11.0.0\r\n" + stream)
    assert len(result.records) == sum(len(trace_truth(n)) for n in trace_names())
    assert result.in_progress == []
