"""The tracker against the simulator's ground truth: thousands of interleaved calls, every field that matters."""

from __future__ import annotations

from typing import Any

import pytest

from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.simulator.render import render_calls


def match(records: list[CallRecord], truth: list[dict[str, Any]], latin1: bool = False) -> list[str]:
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in truth:
        by_key.setdefault((t["uniqueid"], t["queue"]), []).append(t)
    problems = []
    for rec in records:
        candidates = by_key.get((rec.uniqueid, rec.queue), [])
        t = min(candidates, key=lambda t: abs(t["entered_at"] - rec.entered_at), default=None)
        if t is None or abs(t["entered_at"] - rec.entered_at) > 0.001:
            problems.append(f"{rec.call_id}: no such call in the truth")
            continue
        got = (str(rec.outcome), rec.agent, rec.linkedid, rec.tenant, rec.callback_requested, rec.caller_name)
        name = t["caller_name"]
        if latin1:  # a misconfigured system sends what Latin-1 cannot encode as "?"
            name = name.encode("latin-1", "replace").decode("latin-1")
        want = (t["outcome"], t["agent"], t["linkedid"], t["tenant"], t["callback_requested"], name)
        if got != want:
            problems.append(f"{rec.call_id}: {got} != {want}")
        if abs((rec.wait_s or 0) - (t["wait_s"] or 0)) > 0.002:
            problems.append(f"{rec.call_id}: wait {rec.wait_s} != {t['wait_s']}")
        if t["talk_s"] is not None and (rec.talk_s is None or abs(rec.talk_s - t["talk_s"]) > 0.002):
            problems.append(f"{rec.call_id}: talk {rec.talk_s} != {t['talk_s']}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "tenants", "latin1"), [(7, 1, False), (11, 3, False), (5, 2, True)])
def test_every_simulated_call_is_recorded_as_it_happened(seed: int, tenants: int, latin1: bool) -> None:
    rendered = render_calls(1000, seed=seed, concurrency=12, tenants=tenants, latin1=latin1)
    result = replay_bytes(rendered.data, CallTracker(short_abandon_s=0))
    assert len(result.records) == len(rendered.truth)
    assert match(result.records, rendered.truth, latin1) == []
    assert result.in_progress == [] and result.tracker.orphans == 0
    outcomes = {str(r.outcome) for r in result.records}
    assert {"answered", "abandoned"} <= outcomes


@pytest.mark.slow
def test_burst_of_a_thousand_concurrent_calls() -> None:
    rendered = render_calls(1000, seed=3, concurrency=1000)
    tracker = CallTracker(short_abandon_s=0)
    result = replay_bytes(rendered.data, tracker)
    assert len(result.records) == len(rendered.truth) >= 1000
    assert match(result.records, rendered.truth) == []
    assert tracker.calls == {}
