"""Two `uhd-telephony run` processes on one database and one Redis prefix, as the README's "Several processes"
describes: the one that follows Asterisk composes the pop, the agent's console is served by the other one."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from typing import Any

import aiohttp
import pytest

from tests.support.helpers import REDIS_URL
from tests.support.service import uhd
from tests.support.webapp import PASSWORD, TENANT_A, seed
from uhd_telephony.simulator import AmiSimulator, default_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

HOTLINE = "+49231990001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drain(stream: asyncio.StreamReader | None, into: list[bytes]) -> None:
    """Read a child's stderr as it comes (a full pipe would block the child); kept for the failure report."""
    assert stream is not None
    while line := await stream.readline():
        into.append(line)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_a_pop_composed_by_the_tracking_process_reaches_a_console_on_another_process(
    pg_url: str, redis_prefix: str
) -> None:
    seeded = await seed(pg_url)  # anna is PJSIP/101, ben PJSIP/102
    common = {
        "UHD_DATABASE_URL": pg_url,
        "UHD_REDIS_URL": REDIS_URL,
        "UHD_REDIS_PREFIX": redis_prefix,
        "UHD_TENANT_NUMBERS": f"{HOTLINE}={TENANT_A}",
        "UHD_FINALIZE_GRACE_S": "0.5",
        "UHD_STORE_FLUSH_INTERVAL_S": "0.05",
        "UHD_AMI_RECONNECT_MIN_S": "0.05",
        "UHD_AMI_RECONNECT_MAX_S": "0.2",
    }
    web_port = _free_port()
    logs: dict[str, list[bytes]] = {"tracker": [], "web": []}
    async with AmiSimulator(default_config(2, max_wait_s=120), speed=0) as sim:
        # A follows Asterisk and serves no console; B serves consoles and sees no Asterisk (an AMI port where
        # nothing listens: it keeps retrying), so whatever pop reaches B came from A through Redis
        tracker = await uhd("run", "--no-web", env={**common, "UHD_AMI_PORT": str(sim.port)})
        web = await uhd(
            "run",
            env={**common, "UHD_AMI_PORT": str(_free_port()), "UHD_HTTP_PORT": str(web_port),
                 "UHD_AMI_CONNECT_TIMEOUT_S": "0.5"},
        )  # fmt: skip
        drains = [
            asyncio.create_task(_drain(tracker.stderr, logs["tracker"])),
            asyncio.create_task(_drain(web.stderr, logs["web"])),
        ]
        messages: list[dict[str, Any]] = []
        try:
            await sim.wait_for(lambda: len(sim.sessions) == 1, within_s=30)
            async with aiohttp.ClientSession(
                f"http://127.0.0.1:{web_port}", cookie_jar=aiohttp.CookieJar(unsafe=True)
            ) as anna:
                async with asyncio.timeout(30):
                    while True:
                        try:
                            if (await anna.get("/healthz")).status == 200:
                                break
                        except aiohttp.ClientConnectionError:
                            pass
                        await asyncio.sleep(0.1)
                login = await anna.post("/api/login", json={"username": "anna", "password": PASSWORD})
                assert login.status == 200
                ws = await anna.ws_connect("/ws/console")

                async def read() -> None:
                    async for msg in ws:
                        messages.append(json.loads(msg.data))

                reader = asyncio.create_task(read())

                async def arrived(kind: str) -> None:
                    async with asyncio.timeout(30):
                        while not any(m["type"] == kind for m in messages):  # noqa: ASYNC110
                            await asyncio.sleep(0.05)

                try:
                    await arrived("hello")
                    await asyncio.sleep(1.0)  # A's login and resync
                    # Asterisk's FullyBooted has no Timestamp: A placed it at its own wall time. The simulated
                    # clock stood still while the processes started; bring it to this machine's time (one host)
                    await sim.advance(max(0.0, time.time() - sim.now()))
                    sim.pause_member("PJSIP/102")  # Anna answers
                    placed = sim.place_call("0231 98 60 572", "MUELLER J", dialled=HOTLINE, talk_s=20)
                    await sim.advance(5)
                    await arrived("pop")
                    await sim.advance(30)
                    await arrived("call_ended")
                    await asyncio.sleep(0.5)  # a second copy would be here by now
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    await ws.close()
        finally:
            await asyncio.gather(_stop(tracker), _stop(web))
            await asyncio.gather(*drains, return_exceptions=True)

    report = {name: b"".join(lines).decode(errors="replace")[-3000:] for name, lines in logs.items()}
    pops = [m for m in messages if m["type"] == "pop"]
    assert len(pops) == 1, report
    (pop,) = pops
    assert pop["agent_id"] == seeded.anna.id and pop["tenant"] == TENANT_A
    assert pop["call"]["call_id"] == f"{placed.uniqueid}@hotline"
    assert pop["caller"]["kind"] == "user" and pop["ticket"]["number"].startswith("UHD-")
    assert [m["call"]["call_id"] for m in messages if m["type"] == "call_ended"] == [pop["call"]["call_id"]]
    assert "Traceback" not in report["tracker"] and "Traceback" not in report["web"], report
    assert tracker.returncode == 0 and web.returncode == 0, report
