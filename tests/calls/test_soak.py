"""A real Asterisk 22 soak of 120 queue calls (tests/data/queue-log): the replay equals Asterisk's queue_log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.tracker import CallTracker

DATA = Path(__file__).resolve().parent.parent / "data" / "queue-log"
# the one frame of the capture that names no caller channel: the completion of 1796642229.376 (Agent Anna, hold
# 26 s, talk 7 s), sent after that caller's channel had hung up already, without its channel block
PHANTOM = (
    b"Event: AgentComplete\r\nPrivilege: agent,all\r\nTimestamp: 1796642262.278597\r\nQueue: hotline\r\n"
    b"Interface: Local/101@agents/n\r\nMemberName: Agent Anna\r\nHoldTime: 26\r\nTalkTime: 7\r\nReason: agent\r\n\r\n"
)
# our outcomes in queue_log's words: a key press that asked for a callback is still EXITWITHKEY there
QUEUE_LOG_WORD = {
    Outcome.ANSWERED: "answered",
    Outcome.TRANSFERRED: "transferred",
    Outcome.ABANDONED: "abandoned",
    Outcome.SHORT_ABANDON: "abandoned",
    Outcome.TIMEOUT: "timeout",
    Outcome.EXIT_KEY: "exitwithkey",
    Outcome.CALLBACK: "exitwithkey",
}


def _truth() -> list[dict[str, Any]]:
    return json.loads((DATA / "soak_c120.truth.json").read_text(encoding="utf-8"))


def _capture() -> bytes:
    return (DATA / "soak_c120.ami").read_bytes()


def _shown(value: str) -> str:
    return "" if value == "<unknown>" else value


def assert_matches_queue_log(records: list[CallRecord], truth: list[dict[str, Any]]) -> None:
    assert len(records) == len(truth)
    by_id = {f"{t['uniqueid']}@{t['queue']}": t for t in truth}
    assert sorted(r.call_id for r in records) == sorted(by_id)
    for record in records:
        expected = by_id[record.call_id]
        assert record.outcome is not None
        assert QUEUE_LOG_WORD[record.outcome] == expected["outcome"], record.call_id
        assert (record.agent or None) == (expected["agent"] or None), record.call_id
        assert record.wait_s is not None and abs(record.wait_s - expected["wait_s"]) <= 1, record.call_id
        if expected["talk_s"] is None:
            assert record.talk_s is None
        else:
            assert record.talk_s is not None and abs(record.talk_s - expected["talk_s"]) <= 1, record.call_id
        assert record.caller_number == _shown(expected["caller_number"])
        assert record.caller_name == _shown(expected["caller_name"])
        assert record.entered_at <= (record.answered_at or record.entered_at) <= record.ended_at  # type: ignore[operator]


def test_the_capture_holds_the_phantom_agent_complete() -> None:
    assert _capture().count(PHANTOM) == 1


@pytest.mark.parametrize("chunk", [64 * 1024, 97])
def test_the_soak_replays_to_exactly_the_queue_log(chunk: int) -> None:
    result = replay_bytes(_capture(), CallTracker(short_abandon_s=0), chunk=chunk)
    assert result.in_progress == []
    assert_matches_queue_log(result.records, _truth())
    counts = Counter(QUEUE_LOG_WORD[r.outcome] for r in result.records if r.outcome is not None)
    assert counts == Counter(t["outcome"] for t in _truth())
    assert result.tracker.orphans == 0
    # the phantom completes the call it belongs to (queue + interface + answer time), never a call of its own
    (completed,) = [r for r in result.records if r.call_id == "1796642229.376@hotline"]
    assert completed.ended_by == "agent"


def test_an_agent_complete_without_a_caller_channel_never_makes_a_call() -> None:
    tracker = CallTracker()
    assert replay_bytes(b"Asterisk Call Manager/11.0.0\r\n" + PHANTOM, tracker).records == []
    assert tracker.calls == {} and tracker.stats.ignored == 1


def test_a_repeated_phantom_after_its_call_completed_is_ignored() -> None:
    data = _capture().replace(PHANTOM, PHANTOM + PHANTOM, 1)
    result = replay_bytes(data, CallTracker(short_abandon_s=0))
    assert_matches_queue_log(result.records, _truth())
    assert result.tracker.ignored == 1 and result.in_progress == []
