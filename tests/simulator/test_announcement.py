"""A major incident's announcement in the simulator: the events Asterisk 22 sends for dialplan [uhd-incident], the
ground truth the tracker must match, nothing in the queue_log, and the tool's comparison with real captures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.calls.test_simulated import match
from tests.support.helpers import TRACES
from uhd_telephony.ami import names
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.incidents.announcement import GENERIC_PROMPT, KEY_PROMPT, SUBSCRIBED_PROMPT
from uhd_telephony.simulator import AmiSimulator, Scenario, default_config, render_calls
from uhd_telephony.simulator.announcement import HANGUP, QUEUE, SUBSCRIBE
from uhd_telephony.simulator.server import PlacedCall

from .conftest import START, AmiClient, Frame, split_stream

TENANT = "tenant1"
INCIDENT = ("7,3", f"uhd-incidents/uhd-incident-tenant1-7-0a1b2c3d&{GENERIC_PROMPT}")


def of(client: AmiClient, placed: PlacedCall) -> list[Frame]:
    return [f for f in client.frames if f.get("Uniqueid") == placed.uniqueid]


def incident_events(frames: list[Frame]) -> list[str]:
    return [f["Stage"] for f in frames if f.get("Event") == "UserEvent" and f["UserEvent"] == "UhdIncident"]


def apps(frames: list[Frame]) -> list[str]:
    return [f"{f['Application']}({f['AppData']})" for f in frames if f.get("Event") == "Newexten"]


async def run_to_end(sim: AmiSimulator, client: AmiClient, placed: PlacedCall) -> list[Frame]:
    await sim.settle()
    await client.until(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == placed.uniqueid)
    await client.drain()
    return of(client, placed)


async def test_a_caller_who_presses_the_key_is_subscribed_and_never_queued(
    sim: AmiSimulator, client: AmiClient
) -> None:
    announced: list[tuple[str, str]] = []
    subscribed: list[tuple[str, ...]] = []
    sim.pbx.on_announced.append(lambda *a: announced.append(a))
    sim.pbx.on_subscribed.append(lambda *a: subscribed.append(a))
    sim.set_incidents(TENANT, *INCIDENT)

    placed = sim.place_call("+4923198600001", "Dr. Meier", at_announcement=SUBSCRIBE, listen_s=6)
    frames = await run_to_end(sim, client, placed)

    assert incident_events(frames) == [names.INCIDENT_ANNOUNCED, names.INCIDENT_SUBSCRIBED]
    assert not [f for f in frames if f.get("Event", "").startswith("QueueCaller")]
    varsets = {f["Variable"]: f["Value"] for f in frames if f.get("Event") == "VarSet"}
    assert varsets[names.VAR_INCIDENT] == "7,3" and varsets[names.VAR_INCIDENT_PROMPT] == INCIDENT[1]
    assert varsets[names.VAR_INCIDENT_SUBSCRIBED] == "1" and varsets["INCIDENT_KEY"] == "1"
    assert f"Read(INCIDENT_KEY,{INCIDENT[1]}&{KEY_PROMPT},1,,1,4)" in apps(frames)
    assert f"AGI(uhd-subscribe.agi,{TENANT},{placed.linkedid})" in apps(frames)
    assert apps(frames)[-2:] == [f"Playback({SUBSCRIBED_PROMPT})", "Hangup()"]
    assert announced == [(TENANT, "7,3")]
    assert subscribed == [(TENANT, "7,3", "+4923198600001", "Dr. Meier", placed.linkedid)]
    (truth,) = sim.truth()
    assert truth["outcome"] == "incident_subscribed" and truth["queue"] == "hotline" and truth["tenant"] == TENANT
    user_event = next(f for f in frames if f.get("Event") == "UserEvent")
    assert user_event["Context"] == "uhd-incident" and user_event["Priority"] == "1"
    assert (user_event["Queue"], user_event["Stage"]) == ("hotline", "announced")


async def test_a_caller_who_hangs_up_during_the_announcement_left_there(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_incidents(TENANT, *INCIDENT)

    placed = sim.place_call("+4923198600001", "Dr. Meier", at_announcement=HANGUP, listen_s=3)
    frames = await run_to_end(sim, client, placed)

    assert incident_events(frames) == [names.INCIDENT_ANNOUNCED]
    events = [f["Event"] for f in frames]
    assert events.index("HangupRequest") < events.index("Hangup") and "QueueCallerJoin" not in events
    assert not [a for a in apps(frames) if a.startswith("AGI(uhd-subscribe")]
    (truth,) = sim.truth()
    assert truth["outcome"] == "incident_left"
    assert truth["ended_at"] - truth["entered_at"] == pytest.approx(3.0, abs=0.01)


async def test_a_caller_without_a_key_goes_on_to_the_queue(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_incidents(TENANT, *INCIDENT)

    placed = sim.place_call("+4923198600001", "Dr. Meier", at_announcement=QUEUE, listen_s=5, talk_s=3)
    frames = await run_to_end(sim, client, placed)

    assert incident_events(frames) == [names.INCIDENT_ANNOUNCED]
    events = [f["Event"] for f in frames]
    assert events.index("UserEvent") < events.index("QueueCallerJoin")
    assert "Return()" in apps(frames)
    (truth,) = sim.truth()
    assert truth["outcome"] == "answered"
    join = next(f for f in frames if f.get("Event") == "QueueCallerJoin")
    user_event = next(f for f in frames if f.get("Event") == "UserEvent")
    assert float(join["Timestamp"]) - float(user_event["Timestamp"]) == pytest.approx(5 + 4, abs=0.01)


async def test_a_withheld_caller_hears_the_announcement_without_the_key(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_incidents(TENANT, *INCIDENT)

    placed = sim.place_call("", "", withheld=True, at_announcement=SUBSCRIBE, listen_s=5, talk_s=3)
    frames = await run_to_end(sim, client, placed)

    assert f"Playback({INCIDENT[1]})" in apps(frames)
    assert not [a for a in apps(frames) if a.startswith("Read(") or a.startswith("AGI(uhd-subscribe")]
    assert [r["outcome"] for r in sim.truth()] == ["answered"]


async def test_an_ami_hangup_during_the_announcement_is_incident_left(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_incidents(TENANT, *INCIDENT)
    placed = sim.place_call("+4923198600001", "Dr. Meier", at_announcement=SUBSCRIBE, listen_s=60)
    await sim.advance(2)

    await client.action("Hangup", Channel=placed.channel)
    frames = await run_to_end(sim, client, placed)

    assert incident_events(frames) == [names.INCIDENT_ANNOUNCED]
    assert [r["outcome"] for r in sim.truth()] == ["incident_left"]


async def test_without_an_incident_nothing_is_announced(sim: AmiSimulator, client: AmiClient) -> None:
    sim.set_incidents(TENANT, *INCIDENT)
    sim.set_incidents(TENANT, "")  # resolved

    placed = sim.place_call("+4923198600001", "Dr. Meier", at_announcement=SUBSCRIBE, talk_s=3)
    frames = await run_to_end(sim, client, placed)

    assert incident_events(frames) == [] and "UhdIncident" not in str(frames)
    assert [r["outcome"] for r in sim.truth()] == ["answered"]


def test_an_unknown_choice_is_refused() -> None:
    from uhd_telephony.simulator.callflow import QueueCall
    from uhd_telephony.simulator.clock import VirtualClock
    from uhd_telephony.simulator.pbx import Pbx

    pbx = Pbx(default_config(2), VirtualClock(START), lambda *_: None)
    with pytest.raises(ValueError, match="at_announcement"):
        QueueCall(pbx, "+4923198600001", "x", at_announcement="press-2")


async def test_nothing_reaches_the_queue_log_for_a_caller_who_never_queued(tmp_path: Path) -> None:
    """app_queue never saw the caller: Asterisk writes no queue_log line (the backfill must find nothing)."""
    path = tmp_path / "queue_log"
    async with AmiSimulator(default_config(3), speed=0, seed=3, start_time=START, queue_log=path) as sim:
        sim.set_incidents(TENANT, *INCIDENT)
        left = sim.place_call("+4923198600001", "A", at_announcement=HANGUP, listen_s=2)
        told = sim.place_call("+4923198600002", "B", at_announcement=SUBSCRIBE, listen_s=2)
        queued = sim.place_call("+4923198600003", "C", at_announcement=QUEUE, listen_s=2, talk_s=3)
        await sim.settle()
    text = path.read_text(encoding="utf-8")
    assert left.uniqueid not in text and told.uniqueid not in text
    assert f"|{queued.uniqueid}|hotline|NONE|ENTERQUEUE|" in text


def test_the_tracker_records_every_rendered_call_with_an_incident_as_it_happened() -> None:
    scenario = Scenario(rate_per_hour=600, agents=4, tenants=2, talk_mean_s=60, patience_mean_s=120, max_wait_s=90)
    rendered = render_calls(300, seed=5, scenario=scenario, incidents={"tenant1": INCIDENT})

    result = replay_bytes(rendered.data, CallTracker(short_abandon_s=0))

    assert len(result.records) == len(rendered.truth)
    assert match(result.records, rendered.truth) == []
    by_outcome: dict[str, set[str]] = {}
    for record in result.records:
        by_outcome.setdefault(str(record.outcome), set()).add(record.tenant)
    # tenant1's callers met the announcement in each way; tenant2 had none
    assert by_outcome["incident_subscribed"] == by_outcome["incident_left"] == {"tenant1"}
    assert {"tenant1", "tenant2"} <= by_outcome["answered"]
    left = sum(1 for r in result.records if str(r.outcome).startswith("incident_"))
    assert 0.3 < left / sum(1 for r in result.records if r.tenant == "tenant1") < 0.7  # 25 % + 25 % of them
    assert result.tracker.offered == sum(1 for r in result.records if not str(r.outcome).startswith("incident_"))


@pytest.mark.slow
def test_a_capture_with_announcements_passes_the_field_comparison(tmp_path: Path) -> None:
    path = tmp_path / "incident.ami"
    # the traffic of test_fidelity's rendered stream (every core event type), with tenant1 in a major incident
    path.write_bytes(render_calls(300, seed=3, concurrency=5, incidents={"tenant1": INCIDENT}).data)
    frames = split_stream(path.read_bytes())
    assert {f.get("Stage") for f in frames if f.get("UserEvent") == "UhdIncident"} == {"announced", "subscribed"}

    real = sorted(str(p) for p in TRACES.glob("*.ami"))
    tool = TRACES.parent / "ami_fields.py"
    done = subprocess.run(
        [sys.executable, str(tool), "compare", "--real", *real, "--sim", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "UserEvent: real" in done.stdout and "0 problems" in done.stdout
