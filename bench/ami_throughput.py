"""AMI events per second: the service's whole AMI path against a filtered ``readuntil`` reader, like for like.

    python bench/ami_throughput.py [--calls 3000] [--rounds 7] [--database-url URL]

The stream is the simulator's offline render of N queue calls (some 130 frames per call, VarSet and Newexten most
of them), served by a separate process over loopback TCP in writes of 256 KiB cut at frame ends. Both sides get
the same bytes in the same order and are timed from the TCP connect; events per second is the stream's frames
over that time.

- baseline: ``asyncio.open_connection`` + ``readuntil(b"\\r\\n\\r\\n")``, then the SAME frame filter the service
  applies (``events.tracker_filter()``'s byte test on the event name, and for VarSet and Newexten on the
  variable or application: the frames nobody reads are skipped undecoded), each kept frame decoded as UTF-8 and
  split into a ``dict``. Nothing else: no typed event, no tracker, no store.
- uhd: what ``uhd-telephony run`` runs on the call path, made the way ``app/server.py`` makes it: a ``CallService``
  with the tenants table's resolver, opened; the metrics capability's ``prepare`` step (its call counters on the
  bus, queue member state and the AMI clock observing the pipeline); the calls in progress restored; then
  ``connect()``: the AMI client (panoramisk protocol with our framing, Ping keepalive, the resync snapshot at
  FullyBooted, which the server answers before it streams) → typed events → the pipeline's observers → the
  tracker → the bus → the call counters and the batched store writer; the tracker's ticker and the tenants
  refresher run beside it. Timed until the last frame is in and every record is committed (a fresh database
  each round). Left out: the screen-pop composer (tickets and pops: bench/screenpop_latency.py), the web and the
  capabilities' periodic workers, none of which runs per AMI frame.

Rounds alternate between the two so machine noise hits both; the ratio is of the medians (and, paired, the median
of each round's ratio), with each side's CPU seconds (this process; the uhd side's include SQLite's thread). Before
each round the bench's own objects are frozen out of the garbage collector (``quiesce``); the server answers
without Nagle's delay, as the client's socket does. Then a burst of 1,000 concurrent calls goes through the whole
uhd path and every queue stay of the simulator's ground truth is checked in the database (its call, its outcome).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import select
import shutil
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from uhd_telephony.ami.events import tracker_filter
from uhd_telephony.ami.frames import EventFilter
from uhd_telephony.calls.replay import replay_bytes
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.service import CallService
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.metrics.plugin import CAPABILITY as METRICS
from uhd_telephony.runtime.plugin import Runtime
from uhd_telephony.settings import Settings
from uhd_telephony.simulator.render import Rendered, render_calls
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tenants.service import hotline_resolver

SEP = b"\r\n\r\n"
SENTINEL = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: BenchEnd\r\n\r\n"
BASELINE_USER = "baseline"  # the server streams at once to this login; the service's gets its resync first
CHUNK = 256 * 1024
LIST_ACTIONS = {
    "queuestatus": ("Queue status will follow", "QueueStatusComplete"),
    "coreshowchannels": ("Channels will follow", "CoreShowChannelsComplete"),
}


@dataclass(frozen=True, slots=True)
class Stream:
    """The bytes the server sends after the Login, and what the filter makes of them."""

    booted: bytes  # the FullyBooted frame Asterisk sends right after the Login
    body: bytes  # every event after it, the sentinel last
    frames: int  # frames of booted + body
    kept: int  # frames the filter keeps (decoded and split)
    skipped: int
    pong_ts: str  # Asterisk's clock at the resync: the stream's first Timestamp

    @classmethod
    def of(cls, rendered: Rendered, wanted: EventFilter) -> Stream:
        _banner, _, rest = rendered.data.partition(b"\r\n")
        _login, _, rest = rest.partition(SEP)
        booted, _, body = rest.partition(SEP)
        assert booted.startswith(b"Event: FullyBooted\r\n"), booted[:40]
        body += SENTINEL
        frames = [booted, *body.split(SEP)[:-1]]
        kept = sum(1 for raw in frames if wanted.wants(raw))
        ts = body[body.index(b"Timestamp: ") + 11 :].split(b"\r\n", 1)[0].decode()
        return cls(booted + SEP, body, len(frames), kept, len(frames) - kept, ts)


# --- the server: a separate process ---------------------------------------------------------------------------


def _headers(raw: bytes) -> dict[str, str]:
    headers = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key.lower()] = value
    return headers


def _answer(action: dict[str, str], pong_ts: str) -> bytes:
    """What Asterisk answers to the actions the service sends: Login, Ping, the resync's two lists."""
    name = action.get("action", "").lower()
    aid = action.get("actionid", "")
    if name == "login":
        return f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n".encode()
    if name == "ping":
        return f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\nTimestamp: {pong_ts}\r\n\r\n".encode()
    if name in LIST_ACTIONS:
        message, complete = LIST_ACTIONS[name]
        return (
            f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: {message}\r\n\r\n"
            f"Event: {complete}\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
        ).encode()
    return f"Response: Error\r\nActionID: {aid}\r\nMessage: Invalid/unknown command\r\n\r\n".encode()


class _Peer:
    """One client connection: its actions read as they come, each answered at once."""

    def __init__(self, conn: socket.socket, pong_ts: str) -> None:
        self.conn = conn
        self.pong_ts = pong_ts
        self.buf = b""

    def answer(self, wait: float | None) -> list[dict[str, str]]:
        """Answer the complete actions there are, reading first (waiting up to ``wait`` s; None: until one)."""
        ready, _, _ = select.select([self.conn], [], [], wait)
        if ready:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError("the client hung up")
            self.buf += chunk
        *frames, self.buf = self.buf.split(SEP)
        actions = [_headers(raw) for raw in frames if raw.strip()]
        for action in actions:
            self.conn.sendall(_answer(action, self.pong_ts))
        return actions


def serve(stream: Stream, port_out: multiprocessing.Queue, connections: int) -> None:  # type: ignore[type-arg]
    """Banner, Login, FullyBooted; for the service the resync's answers; then the stream, answering Pings."""
    chunks, start = [], 0
    while start < len(stream.body):
        end = stream.body.find(SEP, start + CHUNK)
        end = len(stream.body) if end < 0 else end + 4
        chunks.append(stream.body[start:end])
        start = end
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port_out.put(srv.getsockname()[1])
        for _ in range(connections):
            conn, _ = srv.accept()
            # no Nagle delay on the small answers to the service's actions (the client's socket has none either)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with conn:
                peer = _Peer(conn, stream.pong_ts)
                try:
                    conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
                    login: list[dict[str, str]] = []
                    while not login:
                        login = peer.answer(None)
                    conn.sendall(stream.booted)
                    if login[0].get("username") != BASELINE_USER:
                        # the service resyncs at FullyBooted (Ping, QueueStatus, CoreShowChannels); an empty
                        # PBX answered before the first event, as its snapshot would be taken then
                        while not any(a.get("action", "").lower() == "coreshowchannels" for a in peer.answer(5)):
                            pass
                    for chunk in chunks:
                        conn.sendall(chunk)
                        peer.answer(0)  # the keepalive's Ping, between writes
                    while True:  # until the client hangs up
                        peer.answer(30)
                except (ConnectionError, OSError):
                    pass


def start_server(stream: Stream, connections: int) -> tuple[multiprocessing.Process, int]:
    ctx = multiprocessing.get_context("fork")
    port_q: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=serve, args=(stream, port_q, connections), daemon=True)
    proc.start()
    return proc, port_q.get(timeout=30)


# --- the two readers --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    seconds: float
    kept: int
    skipped: int
    records: int = 0
    cpu: float = 0.0  # process CPU seconds of the timed part


async def baseline(port: int, wanted: EventFilter) -> Round:
    """readuntil, the service's filter, a dict of each kept frame: the least a reader of these events does."""
    cpu, started = time.process_time(), time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    await reader.readuntil(b"\r\n")
    writer.write(f"Action: Login\r\nActionID: 1\r\nUsername: {BASELINE_USER}\r\nSecret: x\r\n\r\n".encode())
    await reader.readuntil(SEP)  # the Login's response
    kept = skipped = 0
    while True:
        raw = await reader.readuntil(SEP)
        if not wanted.wants(raw):
            skipped += 1
            continue
        kept += 1
        text_ = raw.decode("utf-8", "replace")
        fields = dict(line.split(": ", 1) for line in text_[:-4].split("\r\n") if ": " in line)
        if fields.get("UserEvent") == "BenchEnd":
            break
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    writer.close()
    await writer.wait_closed()
    return Round(elapsed, kept, skipped, cpu=cpu)


async def whole_path(port: int, database_url: str, kept: int) -> Round:
    """The service's call path, wired as app/server.py wires it; seconds from connect until all is committed."""
    settings = Settings(ami_port=port, database_url=database_url)
    calls = CallService(settings, tenant_table=hotline_resolver)
    await calls.open(restore=False)
    assert calls.db is not None and calls.writer is not None and calls.repository is not None
    rt = Runtime(settings, calls.db, calls.bus)
    rt.provide("calls", calls)
    assert METRICS.prepare is not None
    await METRICS.prepare(rt)  # what the server runs before it connects: the live metrics attach here
    await calls.restore()
    cpu, started = time.process_time(), time.perf_counter()
    await calls.connect()
    # every kept frame has reached the tracker once the sentinel (the last of them) has: polled every 5 ms rather
    # than an observer of the path it measures
    while calls.tracker.stats.events < kept:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    calls.pipeline.flush()  # the stream's end: what the tracker's grace period would finalise a moment later
    await calls.bus.drain()
    await calls.writer.flush()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert calls.client is not None
    decoder = calls.client.status.decoder
    records = await calls.repository.count()
    metrics = rt.get("metrics")
    assert metrics.members.events > 0 and metrics.events.last_ts is not None, "the metrics observers saw nothing"
    await calls.close()
    return Round(elapsed, decoder.events, decoder.skipped, records, cpu)


async def fresh_database(url: str | None, template: Path, n: int) -> str:
    """A migrated database with no calls: a copy of the template (SQLite), or the given one emptied."""
    if url is None:
        copy = template.with_name(f"round{n}.db")
        shutil.copyfile(template, copy)
        return f"sqlite+aiosqlite:///{copy}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM calls"))
    await db.close()
    return url


def quiesce() -> None:
    """Before a round: the bench's own objects (the rendered stream, the ground truth, earlier rounds' leftovers)
    collected and frozen out of the garbage collector, for both sides alike. A full collection during a round
    then walks what the round made, not the bench's data (one took 0.3 s of a 1.3 s round on this machine)."""
    gc.collect()
    gc.freeze()


def spread(rates: list[float]) -> str:
    return f"min {min(rates):,.0f}, max {max(rates):,.0f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    template = Path(tmp.name) / "template.db"
    await migrate(args.database_url or f"sqlite+aiosqlite:///{template}")
    wanted = tracker_filter()
    rendered = render_calls(args.calls, seed=1, concurrency=20)
    stream = Stream.of(rendered, wanted)
    truth = replay_bytes(rendered.data, CallTracker())
    store = (args.database_url or "sqlite").split(":")[0]
    print(
        f"stream: {args.calls} calls, {stream.frames:,} frames ({len(stream.body) / 1e6:.1f} MB), the filter keeps"
        f" {stream.kept:,} ({stream.kept / stream.frames:.1%}) and skips {stream.skipped:,}; store: {store}"
    )

    bases: list[Round] = []
    uhds: list[Round] = []
    proc, port = start_server(stream, args.rounds * 2)
    for i in range(args.rounds):
        url = await fresh_database(args.database_url, template, i)
        for side in ("baseline", "uhd") if i % 2 == 0 else ("uhd", "baseline"):
            quiesce()
            if side == "baseline":
                b = await baseline(port, wanted)
                bases.append(b)
                assert (b.kept, b.skipped) == (stream.kept, stream.skipped), b
            else:
                u = await whole_path(port, url, stream.kept)
                uhds.append(u)
                assert (u.kept, u.skipped) == (stream.kept, stream.skipped), u
                assert u.records == len(truth.records), (u.records, len(truth.records))
        print(
            f"round {i + 1}: baseline {stream.frames / b.seconds:>9,.0f} ev/s   uhd whole path"
            f" {stream.frames / u.seconds:>9,.0f} ev/s   ({u.records} calls committed; both kept {u.kept:,},"
            f" skipped {u.skipped:,})"
        )
    proc.join(10)
    base_rates = [stream.frames / r.seconds for r in bases]
    uhd_rates = [stream.frames / r.seconds for r in uhds]
    base, ours = statistics.median(base_rates), statistics.median(uhd_rates)
    paired = statistics.median(u / b for u, b in zip(uhd_rates, base_rates, strict=True))
    print(
        f"median of {args.rounds} rounds each: baseline {base:,.0f} ev/s ({spread(base_rates)}), uhd {ours:,.0f} ev/s"
        f" ({spread(uhd_rates)}); ratio {ours / base:.2f}x, paired {paired:.2f}x (target >= 1.0x); CPU s median:"
        f" baseline {statistics.median(r.cpu for r in bases):.2f}, uhd {statistics.median(r.cpu for r in uhds):.2f}"
    )

    # the same decoder, pipeline and tracker without TCP, observers or store: where the path's time goes
    result = replay_bytes(rendered.data, CallTracker())
    print(f"for reference, replay: {stream.frames / result.seconds:,.0f} ev/s (no TCP, no observers, no store)")

    await burst(args.database_url, template, wanted)
    tmp.cleanup()


async def burst(database_url: str | None, template: Path, wanted: EventFilter) -> None:
    """1,000 concurrent calls through the whole path into a fresh database: every queue stay stored as it ended."""
    rendered = render_calls(1000, seed=2, concurrency=1000)
    stream = Stream.of(rendered, wanted)
    url = await fresh_database(database_url, template, 99)
    proc, port = start_server(stream, 1)
    quiesce()
    result = await whole_path(port, url, stream.kept)
    proc.join(10)
    db = Database(url)
    stored = await CallRepository(db).list_calls(limit=10 * len(rendered.truth))
    await db.close()
    problems = check_truth(stored, rendered.truth)
    span = rendered.ended - rendered.started
    print(
        f"burst: 1000 concurrent calls ({len(rendered.truth)} queue stays, {stream.frames:,} frames) recorded in"
        f" {result.seconds:.2f} s = {stream.frames / result.seconds:,.0f} ev/s; {len(stored)} records committed,"
        f" {len(problems)} differ from the ground truth; the burst lasts {span:.0f} s in real time, so the path keeps"
        f" up {span / result.seconds:,.0f}x over"
    )
    assert not problems, problems[:10]


def check_truth(stored: list[Any], truth: list[dict[str, Any]]) -> list[str]:
    """Each stay of the truth once in the store, entered when it did, with its outcome (an abandon may be short)."""
    by_key: dict[tuple[str, str], list[Any]] = {}
    for record in stored:
        by_key.setdefault((record.uniqueid, record.queue), []).append(record)
    problems = [] if len(stored) == len(truth) else [f"{len(stored)} records for {len(truth)} stays"]
    for t in truth:
        candidates = by_key.get((t["uniqueid"], t["queue"]), [])
        record = min(candidates, key=lambda r: abs(r.entered_at - t["entered_at"]), default=None)
        if record is None or abs(record.entered_at - t["entered_at"]) > 0.001:  # the truth's clock vs the frames'
            problems.append(f"{t['uniqueid']}@{t['queue']}: not stored")
            continue
        outcome = "abandoned" if str(record.outcome) == "short_abandon" else str(record.outcome)
        if outcome != t["outcome"]:
            problems.append(f"{record.call_id}: {outcome} != {t['outcome']}")
    return problems


if __name__ == "__main__":
    asyncio.run(main())
