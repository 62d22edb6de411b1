"""Figures per agent under a works agreement (§ 87(1) Nr. 6 BetrVG): off by default, switched on only with the
agreement's reference, every switch recorded (who, when, which agreement) — by the admin API and the command line —
and with it off no surface shows one agent's figures (wallboard API; /metrics has no per-agent series at all; the
monthly report has team figures only). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.metrics.conftest import TENANT_A as METRICS_TENANT
from tests.metrics.conftest import rendered_records, store_calls
from tests.metrics.test_endpoint import Live, scrape, value
from tests.metrics.test_wallboard import DAY
from tests.support.cli import uhd
from tests.support.helpers import trace_bytes
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, web_settings
from tests.works_council.conftest import Browsers, audit_rows
from uhd_telephony.app.web import init_app
from uhd_telephony.metrics.live import METRIC_NAMES
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tenants.works_agreement import set_per_agent_figures, works_agreement

REFERENCE = "BV 2026-03 IT-Helpdesk"
AGENT_LABELS = {"agent", "member", "member_name", "interface", "account", "username"}


async def _login(client: TestClient, username: str) -> dict[str, str]:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return {"X-CSRF-Token": (await response.json())["account"]["csrf_token"]}


async def _tenants(url: str) -> None:
    async with Database(url) as db:
        for slug, name in ((TENANT_A, "Klinikum Nord"), (TENANT_B, "Klinikum Süd")):
            await TenantService(db).add(slug, name=name)


async def test_the_admin_switches_figures_per_agent_with_the_agreements_reference(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await _tenants(url)
    olga = await browsers()
    csrf = await _login(olga, "olga")
    path = f"/api/admin/tenants/{TENANT_A}/works-agreement"
    start = await (await olga.get(path)).json()
    assert start == {"tenant": TENANT_A, "per_agent_figures": False, "current": None, "history": []}

    on_with = [{"per_agent_figures": True, "reference": r} for r in ("   ", "BV\n2026", "x" * 201, "BV\x002026")]
    for bad in ({"per_agent_figures": True}, *on_with,
                {"per_agent_figures": "yes", "reference": REFERENCE}, {"reference": REFERENCE},
                {"per_agent_figures": True, "reference": REFERENCE, "by": "olga"}):  # fmt: skip
        refused = await olga.put(path, json=bad, headers=csrf)
        assert refused.status == 400, (bad, await refused.text())
        assert "text" in await refused.json()
    missing = await olga.put(path, json={"per_agent_figures": True}, headers=csrf)
    assert "Betriebsvereinbarung" in (await missing.json())["text"]
    assert (await (await olga.get(path)).json())["per_agent_figures"] is False  # nothing was switched

    on = await olga.put(path, json={"per_agent_figures": True, "reference": f"  {REFERENCE} "}, headers=csrf)
    body = await on.json()
    assert on.status == 200 and body["per_agent_figures"] is True
    assert body["current"]["reference"] == REFERENCE and body["current"]["changed_by"] == "olga"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["current"]["changed_at"])
    same = await (await olga.put(path, json={"per_agent_figures": True, "reference": "BV other"}, headers=csrf)).json()
    assert len(same["history"]) == 1 and same["current"]["reference"] == REFERENCE  # already on: nothing recorded
    off = await (await olga.put(path, json={"per_agent_figures": False}, headers=csrf)).json()
    assert off["per_agent_figures"] is False and [c["per_agent_figures"] for c in off["history"]] == [False, True]
    assert off["current"]["reference"] is None

    rows = await audit_rows(url, "works_agreement")
    assert [(r.actor, r.tenant, r.details["per_agent_figures"]) for r in rows] == [
        ("olga", TENANT_A, True), ("olga", TENANT_A, False)]  # fmt: skip
    assert rows[0].details["reference"] == REFERENCE
    # the tenant's data-protection officer sees its works agreement's switches in its log
    dora = await browsers()
    await _login(dora, "dora")
    log = await (await dora.get(f"/api/tenants/{TENANT_A}/audit", params={"action": "works_agreement"})).json()
    assert len(log["entries"]) == 2

    # only admins; an unknown or hostile tenant is 404
    anna = await browsers()
    anna_csrf = await _login(anna, "anna")
    assert (await anna.get(path)).status == 403
    assert (
        await anna.put(path, json={"per_agent_figures": True, "reference": REFERENCE}, headers=anna_csrf)
    ).status == 403
    assert (await dora.get(path)).status == 403
    for tenant in ("klinikum-west", "x%00y", "A" * 80):
        assert (await olga.get(f"/api/admin/tenants/{tenant}/works-agreement")).status == 404, tenant
    gone = await olga.put("/api/admin/tenants/klinikum-west/works-agreement", json={"per_agent_figures": False},
                          headers=csrf)  # fmt: skip
    assert gone.status == 404
    async with Database(url) as db:
        assert (await works_agreement(db, TENANT_B)).history == []  # the other tenant untouched


async def test_the_command_line_switches_them_with_the_reference_too(db_url: str) -> None:
    await _tenants(db_url)
    env = {"UHD_DATABASE_URL": db_url}
    code, out, err = await uhd("tenant", "figures", TENANT_A, "--on", env=env)
    assert code != 0 and "works agreement" in err, (out, err)
    code, out, err = await uhd("tenant", "figures", TENANT_A, "--on", "--reference", REFERENCE, env=env)
    assert code == 0, err
    record = json.loads(out)
    assert record["per_agent_figures"] is True and record["current"]["changed_by"] == "cli"
    code, out, _ = await uhd("tenant", "figures", TENANT_A, "--show", env=env)
    assert code == 0 and json.loads(out)["current"]["reference"] == REFERENCE
    code, out, _ = await uhd("tenant", "figures", TENANT_A, "--off", env=env)
    assert code == 0 and [c["per_agent_figures"] for c in json.loads(out)["history"]] == [False, True]
    code, _, err = await uhd("tenant", "figures", "klinikum-west", "--show", env=env)
    assert code != 0


async def test_no_surface_shows_an_agents_figures_while_off(web: tuple[Browsers, str]) -> None:
    """/metrics has no series per agent (labels are tenant, queue, category, source), off or on; the report and
    the KPI API count the team; the wallboard's agent rows follow the flag (tests/metrics/test_wallboard.py)."""
    browsers, url = web
    await _tenants(url)
    olga = await browsers()
    csrf = await _login(olga, "olga")
    anna = await browsers()
    await _login(anna, "anna")
    async with Database(url) as db:
        await store_calls(db, rendered_records())  # a simulated day: anna, ben and others answer calls
    names = ("Anna Becker", "Clara Wolf", "PJSIP/")
    day = DAY.isoformat()
    for allowed in (False, True):
        body: dict[str, Any] = {"per_agent_figures": allowed, "reference": REFERENCE if allowed else None}
        assert (await olga.put(f"/api/admin/tenants/{TENANT_A}/works-agreement", json=body, headers=csrf)).status == 200
        board = await (await anna.get(f"/api/tenants/{TENANT_A}/wallboard", params={"day": day})).json()
        assert board["per_agent_figures"] is allowed and board["calls"]["answered"] > 0
        shown = json.dumps(board, ensure_ascii=False)
        assert any(n in shown for n in names) is allowed, allowed  # the agent rows: only while allowed
        kpis = await anna.get(f"/api/tenants/{TENANT_A}/kpis", params={"from": day, "to": day})
        kpi_text = await kpis.text()
        assert kpis.status == 200 and '"answered"' in kpi_text and not any(n in kpi_text for n in names)
        report = await olga.get(f"/api/tenants/{TENANT_A}/reports/{day[:7]}")
        report_text = await report.text()
        assert report.status == 200 and not any(n in report_text for n in names)


async def test_metrics_have_no_series_per_agent_whatever_the_agreement(sqlite_url: str, aiohttp_client: Any) -> None:
    """The real /metrics over real Asterisk captures (an agent answers) for a tenant whose agreement allows figures
    per agent: still only team labels (per-agent figures are the wallboard API's, behind the flag)."""
    await migrate(sqlite_url)
    async with Database(sqlite_url) as db:
        await TenantService(db).add(METRICS_TENANT, name="Klinikum Nord")
        await set_per_agent_figures(db, METRICS_TENANT, True, reference=REFERENCE, actor="cli")
        live = Live(db)
        client = await aiohttp_client(init_app(web_settings(sqlite_url), db=db, metrics=live.metrics))
        for name in ("a_answered", "b_abandoned", "f_transfer"):
            live.feed(trace_bytes(name))
        live.pipeline.flush()
        await scrape(client)  # a new series shows 0 first (test_endpoint)
        samples = await scrape(client)
        assert value(samples, "uhd_calls_answered_total", tenant=METRICS_TENANT, queue="hotline") == 2
        assert not any(set(labels) & AGENT_LABELS for labels in METRIC_NAMES.values())
        for series in samples.values():
            for labels in series:
                assert not {k for k, _ in labels} & AGENT_LABELS
        text = await (await client.get("/metrics")).text()
        assert "PJSIP/" not in text and "SIP/" not in text
