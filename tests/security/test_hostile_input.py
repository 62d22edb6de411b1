"""Input that made the server answer 500 (issue 13 item 9): a 400 with the project's JSON error now, no traceback.

- a JSON body nested 100,000 levels deep (``RecursionError`` in ``json.loads``) and one with an integer of 5,000
  digits (``ValueError``: Python's int parsing limit), on every route that takes a body, login included;
- instants whose UTC conversion overflows (``0001-01-01T00:00:00+14:00``, ``9999-12-31T23:59:59-14:00``, a naive
  ``0001-01-01T00:00:00`` read as Berlin time) in the ticket search, in its cursor and in the KPI period.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.security.conftest import World, app_db, login, row_counts
from tests.security.walk import fill, registered
from tests.support.webapp import TENANT_A

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

NESTED = "[" * 100_000 + "]" * 100_000
NESTED_OBJECT = '{"a": ' * 50_000 + "1" + "}" * 50_000
HUGE_INT = '{"subject": ' + "9" * 5_000 + "}"
HOSTILE = {"nested": NESTED, "nested-object": NESTED_OBJECT, "huge-int": HUGE_INT}


def _error(text: str) -> dict[str, Any]:
    assert "Traceback" not in text and 'File "' not in text, text[:300]
    body = json.loads(text)
    # the error schema: message (English, for programs) and text (the same for people, in their language)
    assert set(body) == {"error_id", "message", "text", "details"}, body
    return dict(body)


# routes that read no body and do what their path says (any body is ignored): logging out, linking a ticket to a
# major incident (a history row of the ticket) — they would change the counts below by doing their job
BODYLESS_WRITES = ("/api/logout", "/api/tenants/{tenant}/incidents/{incident_id}/tickets/{ticket_id}")


async def test_a_hostile_json_body_is_a_400_on_every_route_that_reads_one(client: TestClient, world: World) -> None:
    csrf = await login(client, "olga")  # the admin: every route lets her through to its body
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    before = await row_counts(app_db(client))
    reading: list[str] = []
    failures: list[str] = []
    for route in registered(client.server.app):
        if route.method in ("GET", "HEAD") or route.path in BODYLESS_WRITES:
            continue
        url = fill(route, "own", world)
        for name, body in HOSTILE.items():
            response = await client.request(route.method, url, data=body, headers=headers)
            text = await response.text()
            where = f"{route.method} {url} ({name}) -> {response.status}: {text[:120]}"
            if response.status >= 500 and '"ami-not-connected"' not in text:  # a dial reaching "Asterisk"
                failures.append(where)
            elif response.status == 400:
                if _error(text)["error_id"] != "invalid-json":
                    failures.append(where)
                elif name == "nested":
                    reading.append(f"{route.method} {route.path}")
    assert not failures, "\n".join(failures)
    # the routes that read a body all got there: login, the ticket writes, the admin API, the categories
    for must in (
        "POST /api/login",
        "POST /api/tenants/{tenant}/tickets",
        "PATCH /api/tenants/{tenant}/tickets/{ticket_id}",
        "POST /api/tenants/{tenant}/tickets/{ticket_id}/classify",
        "POST /api/admin/accounts",
        "POST /api/admin/tenants",
        "POST /api/tenants/{tenant}/categories",
    ):
        assert must in reading, (must, reading)
    assert await row_counts(app_db(client)) == before


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_hostile_login_body_is_a_400_before_any_session(client: TestClient, body: str) -> None:
    response = await client.post("/api/login", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert _error(await response.text())["error_id"] == "invalid-json"


def _cursor(moment: str) -> str:
    raw = json.dumps(["-created_at", moment, 1]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59"]


@pytest.mark.parametrize("moment", EXTREMES)
async def test_an_instant_without_a_utc_instant_is_a_400_in_the_ticket_search(client: TestClient, moment: str) -> None:
    csrf = await login(client, "anna")
    for params in ({"created_from": moment}, {"created_to": moment}, {"cursor": _cursor(moment)}):
        response = await client.get(f"/api/tenants/{TENANT_A}/tickets", params=params, headers={"X-CSRF-Token": csrf})
        text = await response.text()
        assert response.status == 400, (params, text)
        assert _error(text)["error_id"] in ("invalid-request", "invalid-input")
    # the ordinary search still works, with and without an offset
    for params in ({"created_from": "2026-01-01T00:00:00"}, {"created_to": "2026-01-01T00:00:00+01:00"}):
        response = await client.get(f"/api/tenants/{TENANT_A}/tickets", params=params)
        assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01", "0001-01-02"),
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00+14:00"),
        ("0001-01-01T00:00:00", "0001-01-02T00:00:00"),
        ("9999-12-29", "9999-12-31"),
        ("9999-12-30T00:00:00-14:00", "9999-12-31T23:59:59-14:00"),
    ],
)
async def test_an_instant_without_a_utc_instant_is_a_400_in_the_kpi_api(
    client: TestClient, start: str, end: str
) -> None:
    await login(client, "anna")
    response = await client.get(f"/api/tenants/{TENANT_A}/kpis", params={"from": start, "to": end})
    text = await response.text()
    assert response.status == 400, text
    assert _error(text)["error_id"] == "invalid-input"


async def test_extreme_report_months_are_a_400(client: TestClient) -> None:
    await login(client, "olga")
    for month in ("0001-01", "9999-12", "0000-00"):
        response = await client.get(f"/api/tenants/{TENANT_A}/reports/{month}")
        assert response.status == 400
        assert _error(await response.text())["error_id"] == "invalid-input"


def test_every_handler_reads_its_body_through_read_json() -> None:
    # request.json() lets RecursionError and the int parsing limit's ValueError through: a 500
    package = Path(__file__).resolve().parents[2] / "uhd_telephony"
    direct = [str(p.relative_to(package)) for p in package.rglob("*.py") if "request.json(" in p.read_text()]
    assert direct == [], f"use uhd_telephony.web.inputs.read_json(request) instead of request.json() in {direct}"
