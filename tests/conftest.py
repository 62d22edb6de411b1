"""Shared fixtures: the recorded traces, throwaway databases (SQLite file and real PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

TRACES = Path(__file__).parent / "data" / "ami-traces"
PG_ADMIN_DSN = os.environ.get("UHD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
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


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'uhd-test.db'}"


@contextlib.asynccontextmanager
async def throwaway_pg() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import asyncpg

    name = f"uhd_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test."""
    async with throwaway_pg() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Runs the test once on a SQLite file and once on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'uhd-test.db'}"
        return
    async with throwaway_pg() as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of its own; every key under it is deleted afterwards."""
    import redis

    prefix = f"uhd-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
