"""``uhd-telephony run --role``: a web process neither connects to Asterisk nor runs the scanners; a tracker process
serves only its health and metrics of the web; the lease on SQLite is a file lock (one machine)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support.webapp import web_settings
from uhd_telephony.app.cli import parse_args, settings_from
from uhd_telephony.app.server import Server
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.lease import FileLease, LocalLease, PostgresLease, make_lease
from uhd_telephony.store.migrate import migrate


def test_the_role_comes_from_the_flag_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UHD_ROLE", "web")
    assert settings_from(parse_args(["run"])).role == "web"
    assert settings_from(parse_args(["run", "--role", "tracker"])).role == "tracker"
    with pytest.raises(SystemExit):
        parse_args(["run", "--role", "everything"])


def test_the_lease_fits_the_database() -> None:
    assert isinstance(make_lease("sqlite+aiosqlite:///:memory:", "t"), LocalLease)
    assert isinstance(make_lease("sqlite+aiosqlite:////tmp/x.db", "t"), FileLease)
    pg = make_lease("postgresql+asyncpg://u:p%40ss@db:5432/uhd", "t")
    assert isinstance(pg, PostgresLease) and pg.dsn == "postgresql://u:p%40ss@db:5432/uhd"


async def test_a_file_lease_is_one_processes_at_a_time(tmp_path: Path) -> None:
    first = make_lease(f"sqlite+aiosqlite:///{tmp_path / 'uhd.db'}", "tracker:pbx", retry_s=0.05)
    second = make_lease(f"sqlite+aiosqlite:///{tmp_path / 'uhd.db'}", "tracker:pbx", retry_s=0.05)
    assert await first.try_acquire() and not await second.try_acquire()  # flock: per open file, as per process
    await first.release()
    assert await second.try_acquire() and second.held
    await second.release()


async def test_a_web_process_serves_consoles_and_leaves_asterisk_to_the_tracker(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'uhd.db'}"
    await migrate(url)
    async with AmiSimulator(default_config(2), speed=0) as sim:
        server = Server(web_settings(url, ami_port=sim.port, http_port=0), role="web")
        await server.start()
        try:
            assert server.calls.client is None and not server.running and server.lease is None
            assert server._health()["tracker"] == {"role": "web", "state": "off", "lease": None}
            assert not sim.sessions
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as session:
                async with session.get("/login") as r:
                    assert r.status == 200
                async with session.get("/metrics") as r:
                    assert "uhd_tracker_active 0" in await r.text()
        finally:
            await server.close()


async def test_a_tracker_process_serves_only_health_and_metrics(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'uhd.db'}"
    await migrate(url)
    async with AmiSimulator(default_config(2), speed=0) as sim:
        server = Server(web_settings(url, ami_port=sim.port, http_port=0), role="tracker")
        await server.start()
        try:
            assert server.tracking.is_set() and server.calls.client is not None
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as session:
                async with session.get("/healthz") as r:
                    body = await r.json()
                    assert r.status == 200 and body["tracker"]["state"] == "active"
                async with session.get("/metrics") as r:
                    assert r.status == 200 and "uhd_tracker_active 1" in await r.text()
                for path in ("/login", "/api/me", "/console"):
                    async with session.get(path, allow_redirects=False) as r:
                        assert r.status == 404, path
        finally:
            await server.close()
        assert not server.lease or not server.lease.held  # given back after the last write
