"""``uhd-telephony demo`` as a newcomer runs it: calls get recorded, tickets worked, an escalation mailed to the
demo's mail directory, the pages answer, Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select

from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.sla.models import escalations
from uhd_telephony.store.db import Database

# targets of seconds, so that an escalation fires within the test (the demo's own SLA has minutes)
FAST_SLA = """
calendar: {always: true}
unclassified_priority: 3
warning_at: 0.3
policies:
  1: {response: 1m, resolution: 10s}
  2: {response: 1m, resolution: 10s}
  3: {response: 1m, resolution: 10s}
  4: {response: 1m, resolution: 10s}
  5: {response: 1m, resolution: 10s}
contacts:
  - {name: Teamleitung, level: 1, mail: [teamleitung@uhd-helpdesk.example]}
  - {name: IT-Leitung, level: 2, mail: [it-leitung@klinikum.example]}
"""


@pytest.mark.slow
async def test_demo_records_calls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "sla.yaml").write_text(FAST_SLA)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UHD_")}
    env.update(UHD_SLA_SCAN_S="1", UHD_OUTBOX_POLL_S="0.5")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        "demo",
        "--port",
        "0",
        "--speed",
        "30",
        "--rate",
        "900",
        "--seed",
        "4",
        "--sla",
        "sla.yaml",
        cwd=tmp_path,  # the default database is a SQLite file in the working directory, the mail beside it
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while sum("recorded" in line for line in lines) < 3 or not any(" escalation " in x for x in lines):
                raw = await proc.stdout.readline()
                assert raw, "demo ended early"
                lines.append(raw.decode())
            base = next(x for x in lines if "agent console: " in x).split("agent console: ")[1].split("/console")[0]
            await _look_around(base)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    output = "".join(lines) + rest.decode()
    assert "built-in AMI simulator" in output and "demo stopped:" in output
    assert "/console" in output and "agent101 (Anna Becker)" in output
    assert "log in as you (Sie (Browser))" in output and "/kpis" in output and "lead (" in output
    assert "demo clock x30" in output and f"written to {tmp_path / 'demo-mail'}" in output
    assert " ticket " in output  # the simulated agents worked their tickets
    assert b"Traceback" not in err
    # no warnings: no SMTP attempts, no caller ids the callbacks cannot use, no SLA without contacts
    warnings = [line for line in err.decode().splitlines() if " WARNING " in line or " ERROR " in line]
    assert not warnings, warnings
    mails = sorted((tmp_path / "demo-mail").glob("*.eml"))
    assert any("SLA" in m.name for m in mails), [m.name for m in mails]  # the escalation's mail
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'uhd-telephony.db'}")
    try:
        assert await CallRepository(db).count() >= 3
        async with db.engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(escalations))).scalar_one() >= 1
    finally:
        await db.close()


async def _look_around(base: str) -> None:
    """The pages a newcomer opens: the console, the team lead's live KPIs over the API, /metrics."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/console", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/login?next=%2Fconsole"
        async with http.post(f"{base}/api/login", json={"username": "lead", "password": "demo-agent"}) as response:
            assert response.status == 200 and (await response.json())["account"]["role"] == "manager"
        async with http.get(f"{base}/kpis") as response:
            assert response.status == 200 and "/static/kpis.js" in await response.text()
        async with http.get(f"{base}/api/demo") as response:
            assert response.status == 200 and (await response.json())["demo"]["speed"] == 30
        today = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
        async with http.get(f"{base}/api/tenants/klinikum-nord/kpis?from={today}&to={today}") as response:
            assert response.status == 200
            assert (await response.json())["tickets"]["created"] >= 1
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200 and "uhd_" in await response.text()


@pytest.mark.slow
async def test_simulate_command_serves_ami(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        "simulate",
        "--port",
        "0",
        "--duration",
        "30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        port = int(line.split("127.0.0.1:")[1].split(":")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
        writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: uhd\r\nSecret: uhdsecret\r\n\r\n")
        assert b"Authentication accepted" in await reader.readuntil(b"\r\n\r\n")
        writer.close()
        await writer.wait_closed()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
