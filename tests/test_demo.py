"""``uhd-telephony demo`` as a newcomer runs it: calls get recorded, Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from uhd_telephony.store.calls import CallRepository
from uhd_telephony.store.db import Database


async def test_demo_records_calls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
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
        cwd=tmp_path,  # the default database is a SQLite file in the working directory
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("UHD_")},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while sum("recorded" in line for line in lines) < 3:
                raw = await proc.stdout.readline()
                assert raw, "demo ended early"
                lines.append(raw.decode())
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    output = "".join(lines) + rest.decode()
    assert "built-in AMI simulator" in output and "demo stopped:" in output
    assert "/console" in output and "agent101 (Anna Becker)" in output
    assert b"Traceback" not in err
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'uhd-telephony.db'}")
    try:
        assert await CallRepository(db).count() >= 3
    finally:
        await db.close()


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
