"""Fixtures for the simulator tests: a plain AMI client over TCP, the simulator, the real traces' signatures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import pytest

from tests.support.helpers import trace_bytes, trace_truth
from uhd_telephony.simulator import AmiSimulator, default_config

START = 1_800_000_000.0

Frame = dict[str, str]

# the events whose order says what happened to a queue call (plus the caller's QUEUESTATUS and Hangup)
QUEUE_EVENTS = frozenset(
    {
        "QueueCallerJoin",
        "AgentCalled",
        "AgentRingNoAnswer",
        "QueueCallerLeave",
        "AgentConnect",
        "AgentComplete",
        "QueueCallerAbandon",
        "BlindTransfer",
        "UserEvent",
    }
)


def parse(raw: bytes) -> Frame:
    fields: Frame = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, value)
        elif line.endswith(":"):
            fields.setdefault(line[:-1], "")
    return fields


def split_stream(data: bytes) -> list[Frame]:
    """The frames of a raw AMI stream (banner skipped)."""
    if data.startswith(b"Asterisk Call Manager/"):
        data = data[data.find(b"\r\n") + 2 :]
    return [parse(part) for part in data.split(b"\r\n\r\n") if part.strip()]


def signature(frames: Iterable[Frame], caller_uniqueid: str) -> list[str]:
    """The queue-relevant event sequence of one caller channel."""
    out = []
    for f in frames:
        ev = f.get("Event", "")
        if f.get("Uniqueid") != caller_uniqueid and f.get("TransfereeUniqueid") != caller_uniqueid:
            continue
        if ev in QUEUE_EVENTS:
            out.append(f"{ev}({f['Reason']})" if ev == "AgentComplete" else ev)
        elif ev == "VarSet" and f.get("Variable") == "QUEUESTATUS":
            out.append(f"QUEUESTATUS={f.get('Value')}")
        elif ev == "Hangup":
            out.append("Hangup")
    return out


def trace_signature(name: str) -> list[str]:
    return signature(split_stream(trace_bytes(name)), trace_truth(name)[0]["uniqueid"])


class AmiClient:
    """A bare AMI client over TCP that keeps every frame it received, in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, banner: bytes) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = banner
        self.frames: list[Frame] = []
        self.raw: list[bytes] = []
        self._seq = 0

    @classmethod
    async def connect(cls, port: int) -> AmiClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        banner = await asyncio.wait_for(reader.readline(), 5)
        return cls(reader, writer, banner)

    def send(self, action: str, action_id: str | None = None, **headers: str) -> str:
        self._seq += 1
        aid = action_id if action_id is not None else f"t-{self._seq}"
        lines = [f"Action: {action}"]
        if aid:
            lines.append(f"ActionID: {aid}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return aid

    async def read_frame(self, wait_s: float = 5.0) -> Frame:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), wait_s)
        self.raw.append(raw)
        frame = parse(raw)
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Callable[[Frame], bool], wait_s: float = 5.0) -> Frame:
        async with asyncio.timeout(wait_s):
            while True:
                frame = await self.read_frame(wait_s)
                if predicate(frame):
                    return frame

    async def response(self, action_id: str, wait_s: float = 5.0) -> Frame:
        return await self.until(lambda f: "Response" in f and f.get("ActionID") == action_id, wait_s)

    async def action(self, action: str, **headers: str) -> Frame:
        return await self.response(self.send(action, **headers))

    async def login(self, username: str = "uhd", secret: str = "uhdsecret", events: str = "on") -> Frame:
        return await self.action("Login", Username=username, Secret=secret, Events=events)

    async def drain(self, quiet: float = 0.05) -> None:
        """Read until nothing arrives for ``quiet`` seconds."""
        while True:
            try:
                await self.read_frame(quiet)
            except TimeoutError:
                return

    def events(self, name: str) -> list[Frame]:
        return [f for f in self.frames if f.get("Event") == name]

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    """A simulator with stopped time (speed 0): tests move it with ``advance`` / ``settle``."""
    async with AmiSimulator(default_config(5), speed=0, seed=7, start_time=START) as simulator:
        yield simulator


@pytest.fixture
async def client_factory() -> AsyncIterator[Callable[[int], Awaitable[AmiClient]]]:
    """Opens clients to a port and closes them all at the end of the test."""
    clients: list[AmiClient] = []

    async def connect(port: int) -> AmiClient:
        client = await AmiClient.connect(port)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


@pytest.fixture
async def client(sim: AmiSimulator, client_factory: Callable[[int], Awaitable[AmiClient]]) -> AmiClient:
    """A client logged in to ``sim`` with the FullyBooted and SuccessfulAuth after the Login read."""
    c = await client_factory(sim.port)
    response = await c.login()
    assert response["Message"] == "Authentication accepted"
    await c.until(lambda f: f.get("Event") == "SuccessfulAuth")
    return c
