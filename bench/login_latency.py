"""Login latency under a steady login load, beside the screen-pop latency of 100 busy consoles.

    python bench/login_latency.py [--agents 100] [--rate 20] [--pops 1000] [--modes quiet,pool,pool-nice0,...]

For each mode, the same setup as ``bench/screenpop_latency.py`` (the AMI simulator keeping about one call per
agent in progress, the service ``uhd-telephony run`` on a fresh copy of one seeded SQLite database), then:

1. the login storm: all ``--agents`` consoles log in at once and open their WebSocket (each console's password
   checked like any login), while calls already arrive;
2. ``--rate`` logins per second (open loop: a login starts every 1/rate s whatever the others do; 9 in 10 with
   the right password, 1 in 10 for an unknown name), from the first console's login on, until ``--pops`` pops
   have been measured.

The AMI simulator stands in for Asterisk, which runs on a machine of its own in production: here it runs at a
lower CPU priority (``--pbx-nice``, default 10) so that it does not take the cores the service would have.

Pops are measured from the storm's start: every pop a connected console receives (not the catch-up replays
of calls answered before it connected), from the AgentConnect frame's ``Timestamp`` to the console. Printed per
mode: login p50/p95/p99 with the number of logins and how many were refused as busy (429), and the pops'
p50/p95/p99 with their number, also for the storm's first 10 seconds alone.

Modes (how the service hashes passwords; the service is started with the hasher patched for the baselines):
- ``pool``: this code, ``accounts.hashing.PasswordHasher`` (``UHD_PASSWORD_HASH_WORKERS`` threads at
  ``UHD_PASSWORD_HASH_NICE``, a bounded line);
- ``pool-nice0``: the same pool with its threads at the service's own priority (``UHD_PASSWORD_HASH_NICE=0``);
- ``default-executor``: the code before it, every hash in the loop's default executor (cpu + 4 threads, no bound);
- ``loop``: hashing on the event loop itself, the naive way;
- ``quiet``: the login storm of the consoles only, no logins after it: issue 17's pop target (p99 < 50 ms over
  1,000 pops at 100 agents, the login storm included), and the pops' own latency on this machine at the time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenpop_latency import PASSWORD, free_port, live_pops, pct, seed, wait_http

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
    storm_pops: list[float] = field(default_factory=list)  # the same, for the storm's first 10 seconds
    started: float = 0.0  # time.time() the storm began
    measuring: bool = False
    enough: asyncio.Event = field(default_factory=asyncio.Event)  # the pops wanted have been measured
    wanted: int = 1000
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
            async for received, latency in live_pops(ws, stop):
                if not figures.measuring:
                    continue
                figures.pops.append(latency)
                if received - figures.started < 10:
                    figures.storm_pops.append(latency)
                if len(figures.pops) >= figures.wanted:
                    figures.enough.set()


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


async def login_load(base: str, rate: float, figures: Figures) -> None:
    """``rate`` logins per second until the pops wanted have been measured."""
    # a fresh cookie jar per login would be closer to many browsers; one connector and no cookies is enough here
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as session:
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        n = 0
        while not figures.enough.is_set():
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one_login(session, n, figures)))
            n += 1
        await asyncio.gather(*tasks)


class Store:
    """The seeded database each mode starts from: a SQLite file copied, or a PostgreSQL database cloned from a
    seeded template (``--dsn``); every copy is removed afterwards."""

    def __init__(self, dsn: str | None, tmp: Path) -> None:
        self.dsn = dsn
        self.tmp = tmp
        self.tag = uuid.uuid4().hex[:8]

    def url(self, name: str) -> str:
        if self.dsn is None:
            return f"sqlite+aiosqlite:///{self.tmp / (name + '.db')}"
        return self.dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{self._db(name)}"

    def _db(self, name: str) -> str:
        return f"uhd_bench_login_{self.tag}_{name.replace('-', '_')}"

    async def _admin(self, sql: str) -> None:
        assert self.dsn is not None
        admin = await asyncpg.connect(self.dsn)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    async def seed(self, agents: int) -> None:
        if self.dsn is not None:
            await self._admin(f'CREATE DATABASE "{self._db("template")}"')
        url = self.url("template")
        await seed(url, agents)
        await seed_staff(url)

    async def copy(self, mode: str) -> str:
        if self.dsn is None:
            shutil.copy(self.tmp / "template.db", self.tmp / f"{mode}.db")
        else:
            await self._admin(f'CREATE DATABASE "{self._db(mode)}" TEMPLATE "{self._db("template")}"')
        return self.url(mode)

    async def drop(self, name: str) -> None:
        if self.dsn is None:
            for suffix in ("", "-wal", "-shm"):
                (self.tmp / f"{name}.db{suffix}").unlink(missing_ok=True)
        else:
            await self._admin(f'DROP DATABASE IF EXISTS "{self._db(name)}" WITH (FORCE)')


async def run_mode(mode: str, store: Store, args: argparse.Namespace) -> Figures:
    url = await store.copy(mode)
    ami_port, http_port = free_port(), free_port()
    rate_per_hour = args.agents / (args.talk_mean + 5) * 3600
    total = args.max_seconds + 60  # ended by this script
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uhd_telephony", "simulate", "--port", str(ami_port), "--agents", str(args.agents),
        "--rate", f"{rate_per_hour:.0f}", "--talk-mean", str(args.talk_mean), "--patience-mean", "600",
        "--no-agi", "--seed", "1", "--duration", str(total),
        stdout=asyncio.subprocess.DEVNULL, preexec_fn=lambda: os.nice(args.pbx_nice),
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
    if mode == "pool-nice0":
        env["UHD_PASSWORD_HASH_NICE"] = "0"
    service = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVICE, mode, env=env)
    base = f"http://127.0.0.1:{http_port}"
    figures = Figures(wanted=args.pops)
    stop = asyncio.Event()
    began = time.monotonic()
    try:
        await wait_http(base + "/healthz")
        figures.started = time.time()
        figures.measuring = True
        readies = [asyncio.Event() for _ in range(args.agents)]
        consoles = [asyncio.create_task(console(base, 101 + i, figures, readies[i], stop)) for i in range(args.agents)]
        load = None if mode == "quiet" else asyncio.create_task(login_load(base, args.rate, figures))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        print(f"{mode}: {args.agents} consoles in after {time.monotonic() - began:.0f} s", file=sys.stderr)
        try:
            await asyncio.wait_for(figures.enough.wait(), args.max_seconds)
        except TimeoutError:
            print(f"{mode}: only {len(figures.pops)} pops within {args.max_seconds:g} s", file=sys.stderr)
            figures.enough.set()
        figures.measuring = False
        if load is not None:
            await load
        print(f"{mode}: load done after {time.monotonic() - began:.0f} s", file=sys.stderr)
        stop.set()
        await asyncio.gather(*consoles, return_exceptions=True)
    finally:
        for proc in (service, sim):
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
        await store.drop(mode)
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
    parser.add_argument("--pops", type=int, default=1000, help="pops to measure (the run lasts until then)")
    parser.add_argument("--max-seconds", type=float, default=600, help="give up on --pops after this long")
    parser.add_argument("--talk-mean", type=float, default=10.0, help="mean talk time: ~agents/(talk+5) calls/s")
    parser.add_argument("--modes", default="quiet,pool,pool-nice0,default-executor,loop")
    parser.add_argument(
        "--pbx-nice",
        type=int,
        default=10,
        help="the AMI simulator's nice value: in production Asterisk runs on a machine of its own, here it shares "
        "the service's two cores (0: at the same priority as the service)",
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help="PostgreSQL to run on, e.g. postgresql://postgres@127.0.0.1/test (a throwaway database per mode); "
        "default: SQLite files",
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - {"quiet", "pool", "pool-nice0", "default-executor", "loop"}:
        parser.error(f"unknown modes {sorted(unknown)}")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.dsn, Path(tmp))
        try:
            await store.seed(args.agents)
            await run_modes(modes, store, args)
        finally:
            await store.drop("template")


async def run_modes(modes: list[str], store: Store, args: argparse.Namespace) -> None:
    workers = os.environ.get("UHD_PASSWORD_HASH_WORKERS", "default")
    calls_per_s = args.agents / (args.talk_mean + 5)
    print(
        f"a storm of {args.agents} console logins, then {args.rate:g} logins/s (1 in 10 unknown names) until "
        f"{args.pops} pops, ~{args.agents} calls in progress (~{calls_per_s:.1f} answered/s), "
        f"{'PostgreSQL' if args.dsn else 'SQLite'}, {os.cpu_count()} cores, UHD_PASSWORD_HASH_WORKERS={workers}",
        flush=True,
    )
    for mode in modes:
        f = await run_mode(mode, store, args)
        print(f"  {mode:17} login   {line(f.logins)}, refused busy {f.busy}, errors {f.errors}")
        print(f"  {'':17} pop     {line(f.pops)} (target p99 < 50 ms)")
        print(f"  {'':17} storm   {line(f.storm_pops)} (the pops of the first 10 s)")
        print(f"  {'':17} console logins tried again at the start: {f.console_retries}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
