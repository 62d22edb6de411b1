"""Replaying a real capture to a client that logs in properly: verbatim, fast or with the original timing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.helpers import TRACES
from uhd_telephony.simulator import ReplayServer, load_capture, render_calls

from .conftest import AmiClient

Connect = Callable[[int], Awaitable[AmiClient]]


def recorded_events(name: str) -> list[bytes]:
    """The event frames of a trace, as bytes, from its frame index."""
    data = (TRACES / f"{name}.ami").read_bytes()
    index = json.loads((TRACES / f"{name}.meta.json").read_text())["frame_index"]
    frames = [data[offset : offset + length] for _, offset, length in index]
    return [f for f in frames if f.startswith(b"Event: ")]


async def test_fast_replay_sends_the_recorded_events_verbatim_after_a_real_login(client_factory: Connect) -> None:
    expected = recorded_events("a_answered")
    async with ReplayServer(TRACES / "a_answered.ami", username="uhd", secret="s3cret") as server:
        client = await client_factory(server.port)
        assert client.banner == b"Asterisk Call Manager/11.0.0\r\n"
        response = await client.login(secret="s3cret")
        assert response["Message"] == "Authentication accepted"
        async with asyncio.timeout(10):
            await server.wait_complete(1)
        got: list[bytes] = []
        while len(got) < len(expected):
            await client.read_frame()
            got.append(client.raw[-1])
        assert got == expected
        await client.drain()
        assert not [f for f in client.frames[1:] if "Event" not in f]  # the recorded responses stay out


async def test_replay_refuses_a_wrong_secret_and_answers_list_actions_empty(client_factory: Connect) -> None:
    async with ReplayServer(TRACES / "b_abandoned.ami") as server:
        client = await client_factory(server.port)
        assert (await client.login(secret="nope"))["Message"] == "Authentication failed"
        client = await client_factory(server.port)
        await client.login()
        aid = client.send("QueueStatus")
        complete = await client.until(lambda f: f.get("Event") == "QueueStatusComplete" and f.get("ActionID") == aid)
        assert complete["ListItems"] == "0"
        assert (await client.action("Ping"))["Ping"] == "Pong"


async def test_realtime_replay_keeps_the_original_spacing_divided_by_speed(client_factory: Connect) -> None:
    frames = load_capture(TRACES / "d_ringnoanswer.ami")
    duration = frames[-1].at
    speed = 50.0
    async with ReplayServer(TRACES / "d_ringnoanswer.ami", realtime=True, speed=speed) as server:
        client = await client_factory(server.port)
        await client.login()
        started = time.monotonic()
        async with asyncio.timeout(10):
            await server.wait_complete(1)
        elapsed = time.monotonic() - started
        assert duration / speed * 0.8 <= elapsed < duration / speed + 1.0
        await client.drain()
        kinds = [f.get("Event") for f in client.frames]
        assert kinds.index("AgentRingNoAnswer") < kinds.index("AgentConnect") < kinds.index("AgentComplete")


async def test_a_capture_without_meta_is_timed_by_its_timestamps(tmp_path: Path, client_factory: Connect) -> None:
    path = tmp_path / "rendered.ami"
    path.write_bytes(render_calls(3, seed=1).data)
    frames = load_capture(path)
    assert frames[0].data.startswith(b"Event: FullyBooted")
    assert frames[-1].at > 60  # the rendered calls span minutes of simulated time
    async with ReplayServer(path, realtime=True, speed=10_000) as server:
        client = await client_factory(server.port)
        await client.login()
        async with asyncio.timeout(10):
            await server.wait_complete(1)
        await client.until(lambda f: f.get("Event") == "AgentComplete")


async def test_two_clients_each_get_the_whole_replay(client_factory: Connect) -> None:
    async with ReplayServer(TRACES / "c_overflow.ami") as server:
        for _ in range(2):
            client = await client_factory(server.port)
            await client.login()
            await client.until(lambda f: f.get("UserEvent") == "CallbackRequested")
        async with asyncio.timeout(10):
            await server.wait_complete(2)
