"""Screen-pop latency: from the AgentConnect frame leaving the PBX to the pop arriving on the agent's WebSocket.

    python bench/screenpop_latency.py [--agents 100] [--seconds 60] [--database-url URL] [--redis-url URL]

Three processes, as in production: the AMI simulator (the PBX, real-time clock, ``--agents`` agents, traffic
that keeps about as many calls in progress as there are agents), the service (``uhd-telephony run``: tracker,
tickets, directory, pops, web), and this script with one logged-in console WebSocket per agent. Latency per pop
is the console's receive time minus the call's ``answered_at`` — the AgentConnect ``Timestamp`` the simulator
stamped when it sent the frame. All three share this machine's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp

from uhd_telephony.accounts.service import AccountService
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories

PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(url: str, agents: int) -> None:
    await migrate(url)
    db = Database(url)
    try:
        accounts = AccountService(db)
        for i in range(agents):
            await accounts.create(f"agent{i + 101}", PASSWORD, tenants=["default"], interface=f"PJSIP/{i + 101}")
        await import_categories(db, "default", DEFAULT_CATEGORIES)
    finally:
        await db.close()


async def wait_http(url: str, within: float = 60) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(url)


async def live_pops(ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> AsyncIterator[tuple[float, float]]:
    """(received at, latency) of every live pop on a console's socket — not the catch-up's replays of calls
    answered before it connected — until ``stop`` or the socket closes. Latency: the console's receive time minus
    the call's ``answered_at`` (the AgentConnect frame's Timestamp)."""
    while not stop.is_set():
        try:
            msg = await asyncio.wait_for(ws.receive(), 0.5)
        except TimeoutError:
            continue
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        received = time.time()
        data = json.loads(msg.data)
        if data.get("type") == "pop" and not data.get("replayed"):
            answered = datetime.fromisoformat(data["call"]["answered_at"].replace("Z", "+00:00"))
            yield received, received - answered.timestamp()


async def console(base: str, agent: int, latencies: list[float], stop: asyncio.Event) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base, cookie_jar=jar) as session:
        async with session.post("/api/login", json={"username": f"agent{agent}", "password": PASSWORD}) as r:
            r.raise_for_status()
        async with session.ws_connect("/ws/console") as ws:
            async for _, latency in live_pops(ws, stop):
                latencies.append(latency)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--talk-mean", type=float, default=40.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None, help="pops fan out through Redis (as with several web workers)")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    await seed(url, args.agents)
    ami_port, http_port = free_port(), free_port()
    # arrivals that keep about one call per agent in progress: rate = agents / mean call duration
    rate_per_hour = args.agents / (args.talk_mean + 5) * 3600
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uhd_telephony", "simulate", "--port", str(ami_port), "--agents", str(args.agents),
        "--rate", f"{rate_per_hour:.0f}", "--talk-mean", str(args.talk_mean), "--patience-mean", "600",
        "--no-agi", "--seed", "1", "--duration", str(args.seconds + 30),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        **os.environ,
        "UHD_DATABASE_URL": url,
        "UHD_AMI_PORT": str(ami_port),
        "UHD_HTTP_PORT": str(http_port),
        "UHD_LOG_LEVEL": "WARNING",
    }
    if args.redis_url:
        env["UHD_REDIS_URL"] = args.redis_url
    service = await asyncio.create_subprocess_exec(sys.executable, "-m", "uhd_telephony", "run", env=env)
    base = f"http://127.0.0.1:{http_port}"
    latencies: list[float] = []
    stop = asyncio.Event()
    try:
        await wait_http(base + "/healthz")
        consoles = [asyncio.create_task(console(base, 101 + i, latencies, stop)) for i in range(args.agents)]
        await asyncio.sleep(args.seconds)
        stop.set()
        await asyncio.gather(*consoles, return_exceptions=True)
    finally:
        for proc in (service, sim):
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
        tmp.cleanup()
    if not latencies:
        print("no pops received")
        return
    ms = [v * 1000 for v in latencies]
    print(
        f"screen-pop latency over {len(ms)} pops, {args.agents} agents / ~{args.agents} concurrent calls, "
        f"{url.split(':')[0]}{', Redis fan-out' if args.redis_url else ''}: "
        f"p50 {statistics.median(ms):.1f} ms, p90 {pct(ms, 0.9):.1f} ms, p99 {pct(ms, 0.99):.1f} ms, "
        f"max {max(ms):.1f} ms (target p99 < 50 ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
