"""Small helpers every test package uses: polling for a state another task or process reaches, the real traces."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

TRACES = Path(__file__).resolve().parent.parent / "data" / "ami-traces"


REDIS_URL = os.environ.get("UHD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def eventually(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Poll until ``predicate()`` holds, or fail with TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        # the state belongs to the service, the client and the peer alike: there is no single Event to wait on
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def trace_names() -> list[str]:
    return sorted(p.stem for p in TRACES.glob("*.ami"))


def trace_bytes(name: str) -> bytes:
    return (TRACES / f"{name}.ami").read_bytes()


def trace_truth(name: str) -> list[dict]:
    return json.loads((TRACES / f"{name}.truth.json").read_text())


def free_port() -> int:
    """A loopback port nobody listens on right now (for a server that cannot bind port 0 itself, or a port two
    processes must agree on before either starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
