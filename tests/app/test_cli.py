"""The ``uhd-telephony`` command as a user runs it: a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.helpers import TRACES, trace_names, trace_truth
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.store.db import Database

REQUIRED_KEYS = {
    "linkedid",
    "uniqueid",
    "queue",
    "caller_number",
    "caller_name",
    "agent",
    "entered_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "talk_s",
    "outcome",
}


async def uhd(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow
async def test_replay_json_prints_one_object_per_call_with_the_documented_keys() -> None:
    rc, out, err = await uhd("replay", str(TRACES / "f_transfer.ami"), "--json")
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["queue"], r["outcome"]) for r in rows] == [("hotline", "transferred"), ("backoffice", "answered")]
    for row in rows:
        assert REQUIRED_KEYS <= row.keys()
        assert row["entered_at"].endswith("Z")


@pytest.mark.slow
async def test_replay_summary_counts_outcomes() -> None:
    rc, out, err = await uhd("replay", str(TRACES / "h_anonymous.ami"), "--summary", "--short-abandon", "0")
    assert rc == 0, err
    (line,) = out.splitlines()
    summary = json.loads(line)["summary"]
    assert summary["outcomes"] == {"answered": 3} and summary["calls"] == 3 and summary["in_progress"] == 0
    assert summary["frames_skipped"] > summary["events_decoded"]


@pytest.mark.slow
async def test_replay_store_writes_each_call_once_however_often_replayed(db_url: str, tmp_path: Path) -> None:
    env = {"UHD_DATABASE_URL": db_url}
    capture = tmp_path / "all.ami"
    capture.write_bytes(b"".join((TRACES / f"{n}.ami").read_bytes() for n in trace_names()))
    expected = sum(len(trace_truth(n)) for n in trace_names())
    for _ in range(2):
        rc, _, err = await uhd("replay", str(capture), "--store", "--summary", env=env)
        assert rc == 0, err
    db = Database(db_url)
    try:
        repo = CallRepository(db)
        assert await repo.count() == expected
        assert await repo.open_calls() == []
        stored = await repo.get("1795733188.6@hotline")
        assert stored is not None and stored.outcome == "timeout" and stored.callback_requested
    finally:
        await db.close()


@pytest.mark.slow
async def test_replay_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    rc, out, err = await uhd("replay", str(tmp_path / "nope.ami"))
    assert rc == 1 and out == ""
    assert "cannot read capture" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("var", "value"), [("UHD_AMI_PORT", "not-a-port"), ("UHD_TENANT_NUMBERS", "broken"), ("UHD_LOG_LEVEL", "LOUD")]
)
async def test_invalid_setting_names_the_variable(var: str, value: str) -> None:
    rc, _, err = await uhd("replay", str(TRACES / "a_answered.ami"), env={var: value})
    assert rc == 2 and var in err and "Traceback" not in err


@pytest.mark.slow
async def test_import_categories_is_idempotent_and_reports_a_bad_node(tmp_path: Path, sqlite_url: str) -> None:
    env = {"UHD_DATABASE_URL": sqlite_url}
    rc, out, err = await uhd("tenant", "add", "klinikum-nord", "--name", "Klinikum Nord", env=env)
    assert rc == 0, err
    rc, out, err = await uhd("import-categories", "--tenant", "klinikum-nord", env=env)
    assert rc == 0, err
    first = json.loads(out)
    assert first["created"] > 20 and first["tenant"] == "klinikum-nord"
    rc, out, err = await uhd("import-categories", "--tenant", "klinikum-nord", env=env)
    assert rc == 0 and json.loads(out)["created"] == 0 and json.loads(out)["unchanged"] == first["created"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories:\n  - name: KIS\n    impact: 9\n", encoding="utf-8")
    rc, out, err = await uhd("import-categories", str(bad), "--tenant", "klinikum-nord", env=env)
    assert rc == 1 and out == "" and "kis" in err.lower() and "Traceback" not in err
