"""Issue 17: the active tracker killed with SIGKILL while calls run — the standby takes the lease within 5 s, and no
call is lost or doubled, every answered call has one ticket and every pop arrives once.

Three real processes, as in production: the AMI simulator (Asterisk, writing its queue_log), two ``uhd-telephony
run`` against one PostgreSQL and one Redis; the agents' consoles are on the standby's web part all along.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from tests.support.helpers import REDIS_URL, free_port
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.store.db import Database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AGENTS = 4
PASSWORD = "failover-password-1"
RUN_S = 24  # the simulator's traffic; the kill comes after KILL_AFTER_S
KILL_AFTER_S = 9


async def health(session: aiohttp.ClientSession, port: int) -> dict[str, Any] | None:
    try:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return dict(await response.json())
    except (aiohttp.ClientError, ValueError):
        return None


async def tracker_state(session: aiohttp.ClientSession, port: int) -> str | None:
    report = await health(session, port)
    if report is None:
        return None
    parts = report.get("components") or report
    return str((parts.get("tracker") or {}).get("state"))


async def wait_state(session: aiohttp.ClientSession, port: int, state: str, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if await tracker_state(session, port) == state:
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise AssertionError(f"process on :{port} not {state} within {within} s (now {await tracker_state(session, port)})")


async def console(port: int, agent: int, pops: list[dict[str, Any]], ready: asyncio.Event) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", cookie_jar=jar) as session:
        async with session.post("/api/login", json={"username": f"agent{agent}", "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
        async with session.ws_connect("/ws/console") as ws:
            ready.set()
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "pop":
                    pops.append(data)


ENDS = {"ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "COMPLETEAGENT", "COMPLETECALLER", "BLINDTRANSFER",
        "ATTENDEDTRANSFER"}  # fmt: skip


def expected_calls(queue_log: Path) -> tuple[set[str], set[str], set[str]]:
    """(every call, the answered ones, the ended ones) by call_id, from Asterisk's own queue_log (the truth)."""
    calls: set[str] = set()
    answered: set[str] = set()
    ended: set[str] = set()
    for line in queue_log.read_text().splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        call_id = f"{parts[1]}@{parts[2]}"
        if parts[4] == "ENTERQUEUE":
            calls.add(call_id)
        elif parts[4] == "CONNECT":
            answered.add(call_id)
        elif parts[4] in ENDS:
            ended.add(call_id)
    return calls, answered, ended


async def settled(url: str, queue_log: Path, *, within: float) -> None:
    _, answered, ended = expected_calls(queue_log)
    deadline = time.monotonic() + within
    db = Database(url)
    try:
        while time.monotonic() < deadline:
            async with db.engine.connect() as conn:
                done = set((await conn.execute(text("SELECT call_id FROM calls WHERE outcome IS NOT NULL"))).scalars())
                linked = set((await conn.execute(text("SELECT call_linkedid FROM tickets"))).scalars())
            if ended <= done and {c.split("@")[0] for c in answered} <= linked:
                return
            await asyncio.sleep(0.3)
    finally:
        await db.close()


async def test_kill_9_of_the_active_tracker_the_standby_takes_over(
    pg_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    db = Database(pg_url)
    try:
        accounts = AccountService(db)
        for i in range(AGENTS):
            await accounts.create(f"agent{101 + i}", PASSWORD, tenants=["default"], interface=f"PJSIP/{101 + i}")
    finally:
        await db.close()
    queue_log = tmp_path / "queue_log"
    ami_port = free_port()
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uhd_telephony", "simulate", "--port", str(ami_port), "--agents", str(AGENTS),
        "--rate", "3600", "--talk-mean", "4", "--patience-mean", "600", "--no-agi", "--seed", "7",
        "--duration", str(RUN_S), "--queue-log", str(queue_log),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        **os.environ,
        "UHD_DATABASE_URL": pg_url,
        "UHD_REDIS_URL": REDIS_URL,
        "UHD_REDIS_PREFIX": redis_prefix,
        "UHD_AMI_PORT": str(ami_port),
        "UHD_QUEUE_LOG": str(queue_log),
        "UHD_LEASE_RETRY_S": "0.5",
        "UHD_CATCHUP_SCAN_S": "1",
        "UHD_FINALIZE_GRACE_S": "0.5",
        "UHD_LOG_LEVEL": "WARNING",
    }
    ports = free_port(), free_port()
    procs: list[asyncio.subprocess.Process] = []
    pops: list[dict[str, Any]] = []
    consoles: list[asyncio.Task[None]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for port in ports:  # the first takes the lease, the second stands by
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "uhd_telephony", "run", env={**env, "UHD_HTTP_PORT": str(port)}
                    )
                )
                await wait_state(session, port, "active" if port == ports[0] else "standby", 30)
            readies = [asyncio.Event() for _ in range(AGENTS)]
            consoles = [asyncio.create_task(console(ports[1], 101 + i, pops, readies[i])) for i in range(AGENTS)]
            async with asyncio.timeout(20):
                await asyncio.gather(*(r.wait() for r in readies))
            watching_from = time.time()  # calls answered before the consoles were there popped for nobody

            await asyncio.sleep(KILL_AFTER_S)
            killed_at = time.time()
            procs[0].send_signal(signal.SIGKILL)
            await procs[0].wait()
            took = await wait_state(session, ports[1], "active", 5)
            taken_at = time.time()

            await asyncio.wait_for(sim.wait(), RUN_S + 30)  # the traffic is over
            # the survivor finishes every call that ended at the PBX (hang-ups it saw; the rest from the queue_log),
            # and the catch-up opens the tickets of those that began and ended in the gap
            await settled(pg_url, queue_log, within=20)
    finally:
        for task in consoles:
            task.cancel()
        await asyncio.gather(*consoles, return_exceptions=True)
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 30)
        if sim.returncode is None:
            sim.terminate()
            await sim.wait()

    assert took <= 5.0
    assert procs[1].returncode == 0
    calls, answered_truth, ended_truth = expected_calls(queue_log)
    assert len(calls) >= 15, "too little traffic to say anything"
    db = Database(pg_url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT call_id, outcome, answered_at, linkedid FROM calls"))).all()
            tickets = (await conn.execute(text("SELECT call_linkedid FROM tickets"))).scalars().all()
    finally:
        await db.close()
    stored = [r.call_id for r in rows]
    assert len(stored) == len(set(stored))  # nothing doubled
    assert set(stored) == calls  # nothing lost: every call Asterisk logged is recorded
    # every call that ended at the PBX is ended here (those still on when the simulator shut down may stay open)
    assert not [r.call_id for r in rows if r.outcome is None and r.call_id in ended_truth]
    assert {r.call_id for r in rows if r.answered_at is not None} == answered_truth
    assert sorted(tickets) == sorted({r.linkedid for r in rows if r.answered_at is not None})  # one ticket each
    popped = [p["call"]["call_id"] for p in pops]
    assert len(popped) == len(set(popped))  # every pop once
    # every call answered well before the kill or after the takeover popped (those that began and ended in the
    # gap only reach the store and get their ticket from the queue_log: nobody is on the phone with them any more)
    clear = {
        r.call_id
        for r in rows
        if r.answered_at is not None
        and r.answered_at.timestamp() > watching_from + 0.5
        and (r.answered_at.timestamp() < killed_at - 1.0 or r.answered_at.timestamp() > taken_at + 1.0)
    }
    assert len(clear) >= 5 and clear <= set(popped), sorted(clear - set(popped))
