"""AMI events per second through the whole path, against a plain asyncio baseline on the same stream.

    python bench/ami_throughput.py [--calls 3000] [--rounds 3] [--database-url URL]

A separate process serves a rendered stream of simulated queue calls (the simulator's offline renderer: about
170 frames per call, VarSet and Newexten most of them) over loopback TCP, answering the Login first.

- baseline: ``asyncio.open_connection`` + ``readuntil(b"\\r\\n\\r\\n")`` + a dict split of every frame;
- uhd: the AMI client (panoramisk protocol with our framing) → typed events → call tracker → domain events
  → bus → batched store writer, until every record is committed to the database.

Rounds alternate between the two so machine noise hits both; the ratio is of the medians. Then a burst of
1,000 concurrent calls goes through the whole path and every record is checked in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time

from uhd_telephony.ami.client import AmiClient
from uhd_telephony.calls.domain import CallEnded, CallEvent
from uhd_telephony.calls.pipeline import CallPipeline
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.calls.writer import CallWriter
from uhd_telephony.runtime.bus import Bus
from uhd_telephony.settings import Settings
from uhd_telephony.simulator.render import render_calls
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

SENTINEL = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: BenchEnd\r\n\r\n"


def body_of(data: bytes) -> bytes:
    """The rendered stream without banner and Login response (the server sends its own)."""
    _banner, _, rest = data.partition(b"\r\n")
    _login, _, rest = rest.partition(b"\r\n\r\n")
    return rest


def serve(body: bytes, port_out: multiprocessing.Queue, connections: int) -> None:  # type: ignore[type-arg]
    """A minimal AMI peer: banner, Login → Success, then the whole stream as fast as TCP takes it."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port_out.put(srv.getsockname()[1])
        for _ in range(connections):
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                action_id = ""
                for line in buf.decode(errors="replace").split("\r\n"):
                    if line.lower().startswith("actionid:"):
                        action_id = line.split(":", 1)[1].strip()
                conn.sendall(
                    f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n".encode()
                )
                conn.sendall(body + SENTINEL)
                conn.settimeout(30)
                try:  # wait for the client to hang up (it answers nothing more)
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass


async def baseline(port: int, frames: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    await reader.readuntil(b"\r\n")
    writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: uhd\r\nSecret: x\r\n\r\n")
    started = time.perf_counter()
    count = 0
    while True:
        raw = await reader.readuntil(b"\r\n\r\n")
        text = raw.decode("utf-8", "replace")
        fields = dict(line.split(": ", 1) for line in text[:-4].split("\r\n") if ": " in line)
        count += 1
        if fields.get("UserEvent") == "BenchEnd":
            break
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    assert count >= frames, (count, frames)
    return elapsed


async def whole_path(port: int, database_url: str) -> tuple[float, int, int]:
    """Seconds from connect until every record is committed; frames seen; records written."""
    settings = Settings(ami_port=port, ami_ping_interval_s=60)
    db = Database(database_url)
    writer = CallWriter(CallRepository(db), batch_size=500, flush_interval_s=0.05)
    await writer.start()
    bus = Bus()
    bus.subscribe(lambda e: writer.submit(e.call), CallEvent, name="store")
    ended = [0]
    bus.subscribe(lambda e: ended.__setitem__(0, ended[0] + 1), CallEnded, name="count")
    await bus.start()
    tracker = CallTracker()
    pipeline = CallPipeline(tracker, bus.publish_many)
    done = asyncio.Event()

    def on_event(fields: dict[str, str], received: float) -> None:
        pipeline.on_fields(fields, received)
        if fields.get("UserEvent") == "BenchEnd":
            done.set()

    client = AmiClient(settings, on_event=on_event)
    started = time.perf_counter()
    await client.start()
    await asyncio.wait_for(done.wait(), 300)
    pipeline.flush()
    await bus.drain()
    await writer.flush()
    elapsed = time.perf_counter() - started
    frames = client.status.decoder.frames
    await client.close()
    await bus.close()
    await writer.close()
    await db.close()
    return elapsed, frames, ended[0]


def start_server(body: bytes, connections: int) -> tuple[multiprocessing.Process, int]:
    ctx = multiprocessing.get_context("fork")
    port_q: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=serve, args=(body, port_q, connections), daemon=True)
    proc.start()
    return proc, port_q.get(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    await migrate(url)
    rendered = render_calls(args.calls, seed=1, concurrency=20)
    body = body_of(rendered.data)
    frames = rendered.frames
    print(f"stream: {args.calls} calls, {frames} frames, {len(body) / 1e6:.1f} MB; store: {url.split(':')[0]}")

    base_rates: list[float] = []
    uhd_rates: list[float] = []
    proc, port = start_server(body, args.rounds * 2)
    for i in range(args.rounds):
        b = await baseline(port, frames)
        u, _seen, ended = await whole_path(port, url)
        base_rates.append(frames / b)
        uhd_rates.append(frames / u)
        print(
            f"round {i + 1}: baseline {frames / b:>9,.0f} ev/s   uhd whole path {frames / u:>9,.0f} ev/s"
            f"   ({ended} calls recorded)"
        )
    proc.join(10)
    base, ours = statistics.median(base_rates), statistics.median(uhd_rates)
    print(f"median: baseline {base:,.0f} ev/s, uhd {ours:,.0f} ev/s, ratio {ours / base:.2f}x (target >= 1.0x)")

    # replay goes through the same decoder and tracker, without TCP or store
    result = replay_bytes(rendered.data, CallTracker())
    print(f"replay: {frames / result.seconds:,.0f} ev/s ({len(result.records)} calls, no TCP, no store)")

    # a burst of 1,000 concurrent calls, into a fresh database
    burst = render_calls(1000, seed=2, concurrency=1000)
    burst_url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/burst.db"
    if args.database_url is None:
        await migrate(burst_url)
    db = Database(burst_url)
    before = await CallRepository(db).count()
    proc, port = start_server(body_of(burst.data), 1)
    elapsed, _seen, ended = await whole_path(port, burst_url)
    proc.join(10)
    stored = await CallRepository(db).count() - before
    await db.close()
    span = burst.ended - burst.started
    print(
        f"burst: 1000 concurrent calls ({len(burst.truth)} queue stays, {burst.frames} frames) recorded in"
        f" {elapsed:.2f} s = {burst.frames / elapsed:,.0f} ev/s; {stored} records committed;"
        f" the burst lasts {span:.0f} s in real time, so the path keeps up {span / elapsed:,.0f}x over"
    )
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
