"""Offline rendering: fast, reproducible, realistic, and its ground truth agrees with its own byte stream."""

from __future__ import annotations

import collections
import itertools
import time

from uhd_telephony.ami.frames import FrameDecoder
from uhd_telephony.simulator import Scenario, render_calls

from .conftest import split_stream


def test_a_thousand_calls_render_in_well_under_a_few_seconds() -> None:
    started = time.perf_counter()
    rendered = render_calls(1000, seed=1, concurrency=6)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"{elapsed:.2f} s"
    assert rendered.calls == 1000
    outcomes = collections.Counter(r["outcome"] for r in rendered.truth)
    assert outcomes["answered"] > 500 and outcomes["abandoned"] > 20
    assert outcomes["transferred"] > 5 and outcomes["timeout"] > 0
    # the transfers' second leg is a record of its own: one record per caller per queue
    assert len(rendered.truth) == 1000 + outcomes["transferred"]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    one = render_calls(40, seed=11)
    assert render_calls(40, seed=11).data == one.data
    assert render_calls(40, seed=12).data != one.data


def test_truth_agrees_with_the_stream() -> None:
    rendered = render_calls(200, seed=5, concurrency=5)
    frames = split_stream(rendered.data)
    events = [f for f in frames if "Event" in f]
    stamps = [float(f["Timestamp"]) for f in events if "Timestamp" in f]
    assert stamps == sorted(stamps), "timestamps must increase"
    joins = collections.Counter(f["Uniqueid"] for f in events if f["Event"] == "QueueCallerJoin")
    connects = {}
    for f in events:
        if f["Event"] == "AgentConnect":
            connects[(f["Uniqueid"], f["Queue"])] = f
    per_call = collections.Counter(r["uniqueid"] for r in rendered.truth)
    assert joins == per_call
    for record in rendered.truth:
        connect = connects.get((record["uniqueid"], record["queue"]))
        if record["outcome"] in ("answered", "transferred"):
            assert connect is not None and connect["MemberName"] == record["agent"]
            assert int(connect["HoldTime"]) == int(record["wait_s"])
        else:
            assert connect is None
    # concurrent calls interleave: some caller's events sit between another caller's Join and Hangup
    order = [f.get("Uniqueid") for f in events if f["Event"] in ("QueueCallerJoin", "Hangup")]
    assert any(a != b for a, b in itertools.pairwise(order))


def test_volume_is_mostly_varset_and_newexten() -> None:
    rendered = render_calls(100, seed=2)
    kinds = collections.Counter(f.get("Event") for f in split_stream(rendered.data))
    answered = sum(1 for r in rendered.truth if r["outcome"] == "answered")
    assert (kinds["VarSet"] + kinds["Newexten"]) / sum(kinds.values()) > 0.5
    assert rendered.frames / len(rendered.truth) > 100
    assert kinds["AgentConnect"] >= answered


def test_the_project_decoder_reads_it_and_latin1_needs_its_fallback() -> None:
    scenario = Scenario(rate_per_hour=400, agents=3, agi_lookup=True, anonymous_share=0.0)
    utf8 = render_calls(60, seed=4, scenario=scenario)
    events: list[dict[str, str]] = []
    decoder = FrameDecoder(events.append)
    decoder.feed(utf8.data)
    assert decoder.banner == "Asterisk Call Manager/11.0.0"
    assert decoder.stats.malformed == 0 and decoder.stats.fallback_decoded == 0
    names = {e.get("CallerIDName") for e in events if e.get("Event") == "QueueCallerJoin"}
    assert names & {"Jürgen Müller", "Zoë Weiß", "Björn Schäfer", "Frauke Bäumer", "Dr. med. Günther Groß"}
    assert any(e.get("Variable") == "UHD_USER_ID" for e in events)

    latin1 = render_calls(60, seed=4, scenario=Scenario(rate_per_hour=400, agents=3, anonymous_share=0.0), latin1=True)
    assert "Müller".encode("latin-1") in latin1.data or "Schäfer".encode("latin-1") in latin1.data
    decoder = FrameDecoder(lambda fields: None)
    decoder.feed(latin1.data)
    assert decoder.stats.fallback_decoded > 0


def test_truth_record_shape() -> None:
    record = render_calls(5, seed=9).truth[0]
    for key in ("uniqueid", "linkedid", "queue", "outcome", "agent", "wait_s", "talk_s", "tenant", "dialled"):
        assert key in record


def test_several_tenants_with_their_own_queues_and_numbers() -> None:
    scenario = Scenario.per_second(0.05, agents=4, tenants=3, queue_per_tenant=True)
    rendered = render_calls(60, seed=8, scenario=scenario)
    by_tenant = {(r["tenant"], r["dialled"], r["queue"]) for r in rendered.truth if r["queue"] != "backoffice"}
    assert by_tenant == {
        ("tenant1", "+49231990001", "hotline-tenant1"),
        ("tenant2", "+49231990002", "hotline-tenant2"),
        ("tenant3", "+49231990003", "hotline-tenant3"),
    }
    frames = split_stream(rendered.data)
    # one phone, three memberships: each device change is reported to every queue it belongs to
    statuses = [f for f in frames if f.get("Event") == "QueueMemberStatus" and f["Interface"] == "PJSIP/101"]
    assert {f["Queue"] for f in statuses} == {"hotline-tenant1", "hotline-tenant2", "hotline-tenant3"}
