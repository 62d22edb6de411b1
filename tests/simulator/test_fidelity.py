"""``tests/data/ami_fields.py compare``: the simulator sends every core event type with every field Asterisk does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import TRACES
from uhd_telephony.simulator import AmiSimulator, render_calls

from .conftest import AmiClient

TOOL = TRACES.parent / "ami_fields.py"


def compare(sim_capture: Path) -> subprocess.CompletedProcess[str]:
    real = sorted(str(p) for p in TRACES.glob("*.ami"))
    return subprocess.run(
        [sys.executable, str(TOOL), "compare", "--real", *real, "--sim", str(sim_capture)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
async def test_capture_of_a_live_session_has_all_core_events_and_fields(
    sim: AmiSimulator, client: AmiClient, tmp_path: Path
) -> None:
    # the trace scenarios one after another: answered, ring-no-answer, transfer, abandoned, timeout, members
    sim.place_call("+4923198600001", "Dr. Meier", talk_s=3)
    await sim.settle()
    sim.set_member("PJSIP/102", never_answer=True)
    sim.place_call("+4921155500077", "Klaus Weber", talk_s=3)
    await sim.settle()
    sim.set_member("PJSIP/102", never_answer=False)
    sim.place_call("+4940123123123", "Maria Fischer", transfer_to="backoffice", transfer_after_s=2, talk_s=3)
    await sim.settle()
    for agent in ("PJSIP/101", "PJSIP/102", "PJSIP/103", "PJSIP/104", "PJSIP/105"):
        sim.pause_member(agent, reason="Pause")
    sim.place_call("+4930123456789", "Erika Mustermann", patience_s=4)
    sim.place_call("+4989555123400", "Firma Schulz GmbH", max_wait_s=8, patience_s=60)
    await sim.settle()
    sim.add_member("hotline", "PJSIP/106", "Tina Temp")
    sim.place_call("+4961519876543", "Hans Testkunde", talk_s=2)
    await sim.settle()
    sim.remove_member("hotline", "PJSIP/106")
    await client.action("Originate", Channel="PJSIP/201", Context="callbacks", Exten="+4930111222", Async="true")
    await sim.settle()
    path = tmp_path / "live.ami"
    path.write_bytes(sim.capture_bytes())
    result = compare(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problems" in result.stdout
    for event in ("AgentRingNoAnswer", "QueueCallerAbandon", "BlindTransfer", "QueueMemberAdded", "UserEvent"):
        assert f"{event}: real" in result.stdout


@pytest.mark.slow
def test_rendered_stream_passes_the_comparison(tmp_path: Path) -> None:
    path = tmp_path / "render.ami"
    path.write_bytes(render_calls(300, seed=3, concurrency=5).data)
    result = compare(path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_comparison_would_catch_a_missing_field(tmp_path: Path) -> None:
    data = render_calls(50, seed=3).data.replace(b"\r\nOriginalPosition: ", b"\r\nOrigPos: ")
    path = tmp_path / "broken.ami"
    path.write_bytes(data)
    result = compare(path)
    assert result.returncode == 1 and "OriginalPosition" in result.stdout
