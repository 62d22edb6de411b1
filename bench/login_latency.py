"""Login latency under a steady login load, beside the screen-pop latency of 100 busy consoles.

    python bench/login_latency.py [--agents 100] [--rate 20] [--seconds 30] [--modes pool,default-executor,loop]

For each mode, the same setup as ``bench/screenpop_latency.py`` (the AMI simulator keeping about one call per
agent in progress, the service ``uhd-telephony run`` on a fresh copy of one seeded SQLite database, one logged-in
console WebSocket per agent), then ``--rate`` logins per second for ``--seconds`` (open loop: a login starts
every 1/rate s whatever the others do; 9 in 10 with the right password, 1 in 10 for an unknown name) while the
consoles keep receiving pops. Printed per mode: login p50/p95/p99 with the number of logins and how many were
refused as busy (429), and the pops' p50/p99 over the same window with their number.

Modes (how the service hashes passwords; the service is started with the hasher patched for the baselines):
- ``pool``: this code, ``accounts.hashing.PasswordHasher`` (``UHD_PASSWORD_HASH_WORKERS`` threads, a bounded
  line);
- ``default-executor``: the code before it, every hash in the loop's default executor (cpu + 4 threads, no bound);
- ``loop``: hashing on the event loop itself, the naive way;
- ``quiet``: no logins at all, the pops' own latency on this machine at the time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenpop_latency import PASSWORD, free_port, pct, seed, wait_http

from uhd_telephony.accounts.service import AccountService
from uhd_telephony.store.db import Database

STAFF = 50  # accounts the login load cycles through (besides the agents of the consoles)

# started as the service: patches the hasher for a baseline mode, then runs ``uhd-telephony run``
SERVICE = """
import sys
from uhd_telephony.accounts import hashing, passwords
from uhd_telephony.app.cli import main

mode = sys.argv[1]
if mode == "loop":
    async def hash_(self, password): return passwords.hash_password(password)
    async def verify(self, password, encoded): return passwords.verify_password(password, encoded)
elif mode == "default-executor":
    async def hash_(self, password): return await passwords.hash_password_async(password)
    async def verify(self, password, encoded): return await passwords.verify_password_async(password, encoded)
if mode in ("loop", "default-executor"):
    hashing.PasswordHasher.hash = hash_
    hashing.PasswordHasher.verify = verify
sys.exit(main(["run"]))
"""


@dataclass
class Figures:
    logins: list[float] = field(default_factory=list)  # seconds, answered 200 or 401
    busy: int = 0  # refused at once with 429 (the pool's line was full)
    errors: int = 0  # anything else (a timeout, a 5xx)
    pops: list[float] = field(default_factory=list)  # seconds from AgentConnect to the console
    measuring: bool = False
    console_retries: int = 0  # console logins at the start that had to be tried again (429 or 500)


async def seed_staff(url: str) -> None:
    db = Database(url)
    try:
        accounts = AccountService(db)
        for i in range(STAFF):
            await accounts.create(f"staff{i}", PASSWORD, role="manager", tenants=["default"])
    finally:
        await db.close()


async def console(base: str, agent: int, figures: Figures, ready: asyncio.Event, stop: asyncio.Event) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base, cookie_jar=jar) as session:
        while True:  # 100 consoles logging in at once may meet a full line: try again as the page's user would
            async with session.post("/api/login", json={"username": f"agent{agent}", "password": PASSWORD}) as r:
                if r.status == 200:
                    break
                # a full line (429), or a baseline's SQLite "database is locked" (500): try again in a moment
                figures.console_retries += 1
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        async with session.ws_connect("/ws/console") as ws:
            ready.set()
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), 0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                received = time.time()
                data = json.loads(msg.data)
                if figures.measuring and data.get("type") == "pop" and not data.get("replayed"):
                    answered = datetime.fromisoformat(data["call"]["answered_at"].replace("Z", "+00:00"))
                    figures.pops.append(received - answered.timestamp())


async def one_login(session: aiohttp.ClientSession, n: int, figures: Figures) -> None:
    name = f"staff{n % STAFF}" if n % 10 else f"nobody{n}"
    start = time.perf_counter()
    try:
        async with session.post("/api/login", json={"username": name, "password": PASSWORD}) as r:
            await r.read()
            status = r.status
    except (aiohttp.ClientError, TimeoutError):
        figures.errors += 1
        return
    if status == 429:
        figures.busy += 1
    elif status in (200, 401):
        figures.logins.append(time.perf_counter() - start)
    else:
        figures.errors += 1


async def login_load(base: str, rate: float, seconds: float, figures: Figures) -> None:
    # a fresh cookie jar per login would be closer to many browsers; one connector and no cookies is enough here
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as session:
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        n = 0
        while (due := start + n / rate) < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one_login(session, n, figures)))
            n += 1
        await asyncio.gather(*tasks)


async def run_mode(mode: str, template: Path, args: argparse.Namespace) -> Figures:
    tmp = tempfile.TemporaryDirectory()
    db_file = Path(tmp.name) / "bench.db"
    shutil.copy(template, db_file)
    url = f"sqlite+aiosqlite:///{db_file}"
    ami_port, http_port = free_port(), free_port()
    rate_per_hour = args.agents / (args.talk_mean + 5) * 3600
    total = args.seconds + 600  # ended by this script; long enough for a slow start
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uhd_telephony", "simulate", "--port", str(ami_port), "--agents", str(args.agents),
        "--rate", f"{rate_per_hour:.0f}", "--talk-mean", str(args.talk_mean), "--patience-mean", "600",
        "--no-agi", "--seed", "1", "--duration", str(total),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        **os.environ,
        "UHD_DATABASE_URL": url,
        "UHD_AMI_PORT": str(ami_port),
        "UHD_HTTP_PORT": str(http_port),
        "UHD_LOG_LEVEL": "WARNING",
        # the unknown names' failures must not lock 127.0.0.1 out
        "UHD_LOGIN_IP_MAX_FAILURES": "1000000",
    }
    service = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVICE, mode, env=env)
    base = f"http://127.0.0.1:{http_port}"
    figures = Figures()
    stop = asyncio.Event()
    began = time.monotonic()
    try:
        await wait_http(base + "/healthz")
        readies = [asyncio.Event() for _ in range(args.agents)]
        consoles = [asyncio.create_task(console(base, 101 + i, figures, readies[i], stop)) for i in range(args.agents)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        print(f"{mode}: {args.agents} consoles in after {time.monotonic() - began:.0f} s", file=sys.stderr)
        await asyncio.sleep(args.warmup)  # calls in progress, pops flowing
        figures.measuring = True
        if mode == "quiet":
            await asyncio.sleep(args.seconds)
        else:
            await login_load(base, args.rate, args.seconds, figures)
        figures.measuring = False
        print(f"{mode}: load done after {time.monotonic() - began:.0f} s", file=sys.stderr)
        stop.set()
        await asyncio.gather(*consoles, return_exceptions=True)
    finally:
        for proc in (service, sim):
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
        tmp.cleanup()
    return figures


def line(values: list[float]) -> str:
    if not values:
        return "none"
    ms = [v * 1000 for v in values]
    return f"p50 {pct(ms, 0.5):.0f} ms, p95 {pct(ms, 0.95):.0f} ms, p99 {pct(ms, 0.99):.0f} ms (n={len(ms)})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="logins per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--talk-mean", type=float, default=40.0)
    parser.add_argument("--modes", default="quiet,pool,default-executor,loop")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - {"quiet", "pool", "default-executor", "loop"}:
        parser.error(f"unknown modes {sorted(unknown)}")

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        url = f"sqlite+aiosqlite:///{template}"
        await seed(url, args.agents)
        await seed_staff(url)
        workers = os.environ.get("UHD_PASSWORD_HASH_WORKERS", "default")
        print(
            f"{args.rate:g} logins/s for {args.seconds:g} s (1 in 10 unknown names) beside {args.agents} consoles "
            f"with ~{args.agents} calls in progress, SQLite, {os.cpu_count()} cores, "
            f"UHD_PASSWORD_HASH_WORKERS={workers}",
            flush=True,
        )
        for mode in modes:
            f = await run_mode(mode, template, args)
            print(f"  {mode:17} login   {line(f.logins)}, refused busy {f.busy}, errors {f.errors}")
            print(f"  {'':17} pop     {line(f.pops)} (target p99 < 50 ms)")
            print(f"  {'':17} console logins tried again at the start: {f.console_retries}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
