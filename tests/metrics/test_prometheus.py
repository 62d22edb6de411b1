"""A real Prometheus (Debian's) scrapes the whole running service while the AMI simulator places calls; every
query of every dashboard panel and every alert rule expression must come back with data.

Every legend that names a tenant or a category shows its display name or title (issue 16): the joins with
``uhd_tenant_info`` and ``uhd_category_info`` come back from the real thing, and the tenant choices of the
dashboards (``query_result`` and their regex, as Grafana runs them) show the name and keep the slug.

The scenario makes each alert's condition true for real: reachability under target (abandoned calls), a caller
waiting longer than 90 s (agents paused), and — after the PBX goes away — the AMI link down.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.metrics.conftest import TENANT_A, TicketSpec, store_tickets
from tests.metrics.shipped import (
    LABEL_VALUES,
    QUERY_RESULT,
    RULES,
    choices,
    dashboards,
    panel_queries,
    query_result_lines,
    rules,
    substitute,
    variable_queries,
    variable_query,
)
from tests.support.helpers import eventually, free_port
from tests.support.webapp import seed, web_settings
from uhd_telephony.app.server import Server
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.models import Tenant

PROMETHEUS = shutil.which("prometheus")
HOTLINE = "+49231990001"  # the simulator's first hotline number
AGENTS = ("PJSIP/101", "PJSIP/102")
NAME_A = 'Klinikum "Nord" – Dortmund, Haus {A}'  # tenant A's display name: quotes, a comma, braces

pytestmark = [
    pytest.mark.slow,  # a real Prometheus process
    pytest.mark.skipif(
        PROMETHEUS is None, reason="Debian's prometheus is not installed (apt-get install prometheus; CI installs it)"
    ),
]


class Prometheus:
    """``prometheus`` on a loopback port, scraping the service every second and evaluating the shipped rules."""

    def __init__(self, tmp: Path, target_port: int) -> None:
        self.port = free_port()
        self.dir = tmp / "prometheus"
        self.dir.mkdir()
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES / "*.yml")],
                    "scrape_configs": [
                        {
                            "job_name": "uhd-telephony",
                            "metrics_path": "/metrics",
                            "scrape_timeout": "1s",
                            "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                        }
                    ],
                }
            )
        )
        self.log = self.dir / "prometheus.log"
        self.process: asyncio.subprocess.Process | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Prometheus:
        assert PROMETHEUS is not None
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                PROMETHEUS,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                stdout=log,
                stderr=log,
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def get(self, http: aiohttp.ClientSession, path: str, **params: str) -> Any:
        async with http.get(self.base + path, params=params, timeout=aiohttp.ClientTimeout(total=5)) as response:
            body = await response.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, http: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
        data = await self.get(http, "/api/v1/query", query=expr)
        return list(data["result"])

    async def ready(self, http: aiohttp.ClientSession) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"prometheus exited: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            async with http.get(self.base + "/-/ready", timeout=aiohttp.ClientTimeout(total=1)) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False


async def until(check: Any, within: float, step: float = 0.5) -> Any:
    """Polls the async ``check`` until it returns something true; its last answer on timeout."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(step)


def expressions() -> dict[str, str]:
    """Every PromQL query the dashboards and the alert rules run, by where it comes from."""
    found: dict[str, str] = {}
    for name, board in dashboards().items():
        for panel, target in panel_queries(board):
            found[f"{name} / {panel['title']} / {target['refId']}"] = substitute(target["expr"])
    for file, rule in rules():
        found[f"{file} / {rule['alert']}"] = rule["expr"]
    return found


@contextlib.asynccontextmanager
async def running(url: str, sim: AmiSimulator) -> AsyncIterator[Server]:
    settings = web_settings(
        url,
        ami_port=sim.port,
        http_port=0,
        tenant_numbers={HOTLINE: TENANT_A},
        finalize_grace_s=0.2,
        ami_ping_interval_s=0.5,
        ami_ping_timeout_s=0.5,
        ami_reconnect_min_s=0.05,
        ami_reconnect_max_s=0.2,
        store_flush_interval_s=0.05,
    )
    server = Server(settings)
    await server.start()
    try:
        assert server.calls.client is not None and server.metrics is not None and server.metrics.tickets is not None
        server.metrics.tickets.ttl_s = 0.5  # tickets written by the test show within a scrape or two
        await server.calls.client.wait_connected(5)
        await eventually(lambda: server.calls.resyncs >= 1)
        yield server
    finally:
        await server.close()


async def test_every_dashboard_and_alert_query_has_data_in_a_real_prometheus(tmp_path: Path) -> None:
    started = time.monotonic()
    url = f"sqlite+aiosqlite:///{tmp_path / 'uhd.db'}"
    await seed(url)
    async with Database(url) as named:
        async with named.engine.begin() as conn:
            await conn.execute(Tenant.__table__.insert().values(tenant=TENANT_A, name=NAME_A))
    queries = expressions()
    alerts = {k: v for k, v in queries.items() if k.startswith("hotline.yml")}
    assert len(alerts) == 6
    faults = {
        f"hotline.yml / {name}"
        for name in ("AmiDisconnected", "NoActiveTracker", "TwoActiveTrackers", "MetricsFromDatabaseStale")
    }
    sim = AmiSimulator(default_config(len(AGENTS), max_wait_s=120), speed=0)
    await sim.start()
    try:
        async with (
            running(url, sim) as server,
            Prometheus(tmp_path, server.port or 0) as prom,
            aiohttp.ClientSession() as http,
        ):
            counters = server.metrics.counters if server.metrics else None
            assert counters is not None
            # a first call makes the tenant/queue series exist before Prometheus' first scrape
            sim.place_call("+492311000000", "Warm Up", dialled=HOTLINE, talk_s=2)
            await sim.settle()
            await eventually(lambda: server.calls.tracker.stats.finished == 1)
            assert await until(lambda: prom.ready(http), 20), prom.log.read_text(errors="replace")
            assert await until(lambda: prom.query(http, "uhd_calls_offered_total"), 15), "no scrape of the service"

            # answered calls, one blind-transferred to the 2nd-level queue
            for n in range(2):
                sim.place_call(f"+49231100000{n + 1}", f"Caller {n}", dialled=HOTLINE, talk_s=30)
            sim.place_call("+492311000009", "Transferred", dialled=HOTLINE, talk_s=40, transfer_to="backoffice",
                           transfer_after_s=10)  # fmt: skip
            await sim.settle()
            # every hotline agent paused: callers abandon (one within the short-abandon threshold) or time out
            for agent in AGENTS:
                sim.pause_member(agent, reason="Besprechung")
            for n in range(4):
                sim.place_call(f"+49231200000{n}", f"Impatient {n}", dialled=HOTLINE, patience_s=10)
            sim.place_call("+492313000000", "Misdial", dialled=HOTLINE, patience_s=1)
            sim.place_call("+492314000000", "Patient", dialled=HOTLINE, patience_s=None)
            await sim.advance(125)  # the patient one times out of the queue at 120 s
            # and one caller is still waiting, for more than 90 s
            sim.place_call("+492315000000", "Still Waiting", dialled=HOTLINE, patience_s=None)
            await sim.advance(100)
            sim.pause_member(AGENTS[0], reason="Besprechung")  # an event: AMI time has moved on 100 s
            await eventually(lambda: server.calls.tracker.stats.finished == 1 + 3 + 1 + 6)
            assert len(server.calls.tracker.calls) == 1

            # tickets: opened for the answered calls; routed and escalated as issue #5 records it
            now = datetime.now(UTC)
            db = Database(url)
            try:
                await store_tickets(
                    db,
                    [
                        TicketSpec(
                            TENANT_A,
                            now - timedelta(minutes=20),
                            "kis/login",
                            3,
                            "phone",
                            (("routed", "2nd_level", now - timedelta(minutes=12)),),
                        ),
                        TicketSpec(
                            TENANT_A,
                            now - timedelta(minutes=30),
                            "pacs",
                            2,
                            "web",
                            (("escalated", None, now - timedelta(minutes=1)),),
                        ),
                    ],
                )
            finally:
                await db.close()
            # the background refresh's next round (every 30 s in production; a scrape never reads the database)
            assert server.metrics.tickets is not None
            server.metrics.tickets.ttl_s = 0
            await server.metrics.refresh()

            async def missing() -> dict[str, str]:
                left = {}
                for where, expr in queries.items():
                    if where in faults:  # true only in a fault: made true below
                        continue
                    if not await prom.query(http, expr):
                        left[where] = expr
                return left

            # until a scrape or two has the tickets and the waiting caller
            deadline = time.monotonic() + 20
            # Prometheus is another process: there is nothing to wait on but its answers
            while (left := await missing()) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(1)
            assert left == {}, f"queries without data: {left}"
            for board in dashboards().values():
                for variable in variable_queries(board):
                    query = variable_query(variable)
                    if (result := QUERY_RESULT.match(query)) is not None:  # the tenant: name shown, slug sent
                        found = await prom.query(http, substitute(result["expr"]))
                        options = choices(variable, query_result_lines(found))
                        assert options == {TENANT_A: NAME_A}, (variable["name"], options)
                        continue
                    match = LABEL_VALUES.match(query)
                    assert match is not None
                    params = {"match[]": substitute(match["selector"])} if match["selector"] else {}
                    values = await prom.get(http, f"/api/v1/label/{match['label']}/values", **params)
                    assert TENANT_A in values or "hotline" in values, (variable["name"], values)
            # every legend naming a tenant or a category: the name and the title, never the slug or the code
            for name, board in dashboards().items():
                for panel, target in panel_queries(board):
                    legend, where = target.get("legendFormat", ""), (name, panel["title"], target["refId"])
                    if "{{name}}" not in legend and "{{title}}" not in legend and target.get("format") != "table":
                        continue
                    result = await prom.query(http, substitute(target["expr"]))
                    assert result, where
                    for series in result:
                        labels = series["metric"]
                        if "{{name}}" in legend or "tenant" in labels:
                            assert labels["name"] == NAME_A, (where, labels)
                        if "{{title}}" in legend or "category" in labels:
                            assert labels["title"] not in ("kis", "pacs", "none"), (where, labels)
                            assert labels["title"].startswith(("KIS (", "PACS", "nicht klassifiziert")), (where, labels)
            # the 2nd-level queue's series appeared with the transfer: its first call is not lost to increase()
            transferred = await prom.query(
                http, 'sum(increase(uhd_calls_transferred_in_total{queue="backoffice"}[1h]))'
            )
            assert float(transferred[0]["value"][1]) > 0
            reach = await prom.query(http, alerts["hotline.yml / HotlineReachabilityLow"])
            assert {r["metric"]["tenant"] for r in reach} == {TENANT_A}
            waiting = await prom.query(http, alerts["hotline.yml / CallerWaitingTooLong"])
            assert float(waiting[0]["value"][1]) > 90

            # one process tracks (TwoActiveTrackers has its series, and it says 1)
            trackers = await prom.query(http, "sum(uhd_tracker_active)")
            assert float(trackers[0]["value"][1]) == 1
            assert not await prom.query(http, alerts["hotline.yml / TwoActiveTrackers"])
            # the figures read from the database are fresh: the staleness alert's series exist and stay quiet
            ages = await prom.query(http, "max by (source) (uhd_metrics_source_age_seconds)")
            assert {r["metric"]["source"] for r in ages} >= {"tickets", "names"}
            assert not await prom.query(http, alerts["hotline.yml / MetricsFromDatabaseStale"])
            # the PBX goes away: the AMI link is down
            await sim.close()
            ami_down = alerts["hotline.yml / AmiDisconnected"]
            assert await until(lambda: prom.query(http, ami_down), 10), "uhd_ami_connected never went to 0"
            # the process loses the lease: it says so, and nobody tracks
            server.metrics.active = lambda: False
            nobody = alerts["hotline.yml / NoActiveTracker"]
            assert await until(lambda: prom.query(http, nobody), 10), "uhd_tracker_active never went to 0"
    finally:
        await sim.close()
    assert time.monotonic() - started < 60
