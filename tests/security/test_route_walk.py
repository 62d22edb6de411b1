"""Every route the app registers, by every kind of principal: own tenant, other tenant, other tenant's object.

``EXPECT`` names, per route (method + path as registered) and per principal, what its own tenant's request gets:
a status, or ``OK`` (let through: 2xx, or 400/409 of the request itself — never 401/403/404/5xx). From that the
walk derives the other two variants:

- ``foreign`` — the path names tenant B (or, for the status page, an unknown token): ``OK`` becomes 404 (an admin
  serves every tenant: ``OK`` stays), 403 may be 403 or 404, everything else stays;
- ``cross`` — tenant A in the path but tenant B's ticket, callback or ticket number (the status page: a malformed
  token): ``OK`` becomes 404 for everyone, admins included (not for the ticket page: static HTML whose data
  comes through the API).

Tenant B's ticket number and requester name never appear in an answer to anyone but an admin, unless the request
itself carried them. A route missing from ``EXPECT`` fails the test: add its row when you add the route
(DEVELOPERS.md, "The route and role table").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.security.conftest import SECRET_NAME, World, bearer, browser, build_world, copy_world, login
from tests.security.walk import Route, fill, registered
from tests.support.databases import throwaway_pg
from tests.support.webapp import TENANT_A

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

OK = "ok"
Expect = int | str
PRINCIPALS = ("anon", "agent", "manager", "partner", "admin", "token", "token_noscope")


def row(*statuses: Expect) -> dict[str, Expect]:
    """One expectation per principal, in the order of PRINCIPALS."""
    return dict(zip(PRINCIPALS, statuses, strict=True))


PUBLIC = row(200, 200, 200, 200, 200, 200, 200)
ADMIN_ONLY = row(401, 403, 403, 403, OK, 403, 403)
#                              anon agent manager partner admin token token_noscope
TICKET_READ = row(401, OK, OK, OK, OK, OK, 403)  # a partner: its group's tickets only
TICKET_WRITE = row(401, OK, 403, 403, OK, OK, 403)
TICKET_WORK = row(401, OK, 403, OK, OK, OK, 403)  # what a partner may do: comment, status, resolve
TENANT_READ = row(401, OK, OK, 403, OK, OK, 403)  # categories, agents
CONSOLE = row(401, OK, 403, 403, OK, 403, 403)  # the console's own routes: no tokens
PAGE = row(302, OK, OK, 302, OK, 302, 302)  # pages: a session only (a token is no login: to /login)
INCIDENTS = row(401, OK, OK, 403, OK, 403, 403)  # major incidents: agents and managers, by session only

_T = "/api/tenants/{tenant}"
_TICKET = _T + "/tickets/{ticket_id}"
_INCIDENT = _T + "/incidents/{incident_id}"
_ADMIN = "/api/admin"

EXPECT: dict[tuple[str, str], dict[str, Expect]] = {
    # public: no login, nothing of any tenant
    ("GET", "/"): row(302, 302, 302, 302, 302, 302, 302),
    ("GET", "/login"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/static/{filename}"): PUBLIC,
    ("GET", "/status/{token}"): PUBLIC,  # the token is the key; other and malformed tokens: 404
    # the rating page under it (feedback): the seeded link's ticket is still open, so the one refusal for all
    ("GET", "/status/{token}/rating"): row(404, 404, 404, 404, 404, 404, 404),
    ("POST", "/status/{token}/rating"): row(404, 404, 404, 404, 404, 404, 404),
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/metrics"): row(404, 404, 404, 404, 404, 404, 404),  # served only beside a call service
    ("POST", "/api/login"): row(400, 400, 400, 400, 400, 400, 400),  # the walk sends no credentials
    # session
    ("GET", "/api/me"): row(401, OK, OK, OK, OK, OK, OK),  # any valid token: who am I
    ("POST", "/api/logout"): row(401, OK, OK, 403, OK, 403, 403),
    ("PUT", "/api/me/locale"): row(401, OK, OK, 403, OK, 403, 403),  # an account's own language: a session
    # issue 20: the § 203 StGB acknowledgement (a session's own), its page
    ("GET", "/api/me/confidentiality"): row(401, OK, OK, 403, OK, 403, 403),
    ("POST", "/api/me/confidentiality"): row(401, OK, OK, 403, OK, 403, 403),
    ("GET", "/confidentiality"): PAGE,
    ("GET", "/api/i18n"): PUBLIC,  # the UI's messages (the login page needs them before a login)
    # pages and the console
    ("GET", "/console"): row(302, OK, 403, 302, OK, 302, 302),
    ("GET", "/tickets"): PAGE,
    ("GET", "/tickets/{tenant}/{ticket_id}"): PAGE,
    ("GET", "/kpis"): PAGE,  # issue #9: the live KPI page; its figures come through the KPI API
    ("GET", "/incidents"): PAGE,  # issue #18: the major incidents' pages; their data come through the incidents API
    ("GET", "/incidents/{tenant}/{incident_id}"): PAGE,
    # issue #16: the wallboard's static shell (no data in it) and its figures: a session, or a wallboard:read token
    ("GET", "/wallboard"): PUBLIC,
    ("GET", _T + "/wallboard"): row(401, OK, OK, 403, OK, OK, 403),
    ("GET", "/ws/console"): CONSOLE,  # OK here is 400: the walk's GET is no WebSocket upgrade
    ("GET", _T + "/callbacks"): CONSOLE,
    ("POST", _T + "/callbacks/{callback_id}/dial"): CONSOLE,
    ("GET", _T + "/directory/search"): CONSOLE,
    # issue #19: a tenant's LDAP sync, its state and a sync on demand: configuration, admins only
    ("GET", _T + "/directory/ldap-sync"): ADMIN_ONLY,
    ("POST", _T + "/directory/ldap-sync"): ADMIN_ONLY,
    # data protection (privacy): periods, erasure, export — admins; a tenant's data-protection officer (not among
    # the walk's principals) reads the periods and handles erasure and export: tests/privacy/test_erasure.py
    ("GET", _T + "/privacy/retention"): ADMIN_ONLY,
    ("PUT", _T + "/privacy/retention"): ADMIN_ONLY,
    # issue 20: the tenant's audit log (its data-protection officer, not among the walk's principals, and admins)
    ("GET", _T + "/audit"): ADMIN_ONLY,
    ("POST", _T + "/privacy/erasures"): ADMIN_ONLY,
    ("POST", _T + "/privacy/exports"): ADMIN_ONLY,
    # issue 20 item 5: the data-protection officer's page and what it reads (a person search, the log in words):
    # its DPO (not among the walk's principals: tests/privacy/test_officer.py) and admins; no tokens
    ("GET", "/privacy"): row(302, 403, 403, 302, OK, 302, 302),
    ("POST", _T + "/privacy/persons"): ADMIN_ONLY,
    ("POST", _T + "/privacy/log"): ADMIN_ONLY,
    ("POST", _TICKET + "/classify"): row(401, OK, 403, 403, OK, OK, 403),
    ("GET", _T + "/categories"): TENANT_READ,
    ("GET", _T + "/groups"): TENANT_READ,
    ("GET", _T + "/agents"): TENANT_READ,
    # the category tree is configuration: operator admins edit it, nobody else (reading: TENANT_READ above)
    ("POST", _T + "/categories"): ADMIN_ONLY,
    ("PATCH", _T + "/categories/{category_id}"): ADMIN_ONLY,
    # tickets
    ("GET", _T + "/tickets"): TICKET_READ,
    ("POST", _T + "/tickets"): TICKET_WRITE,
    ("GET", _T + "/tickets/by-number/{number}"): TICKET_READ,
    ("GET", _TICKET): TICKET_READ,
    ("PATCH", _TICKET): TICKET_WRITE,
    ("GET", _TICKET + "/history"): TICKET_READ,
    ("POST", _TICKET + "/comments"): TICKET_WORK,
    ("POST", _TICKET + "/assign"): TICKET_WRITE,
    ("POST", _TICKET + "/route"): TICKET_WRITE,
    ("POST", _TICKET + "/status"): TICKET_WORK,
    ("POST", _TICKET + "/resolve"): TICKET_WORK,
    ("POST", _TICKET + "/close"): TICKET_WRITE,  # closing and reopening stay with the helpdesk
    ("POST", _TICKET + "/reopen"): TICKET_WRITE,
    # issue #7: escalations for managers (and admins), a ticket's SLA for whoever reads the tenant's tickets
    ("GET", _T + "/escalations"): row(401, 403, OK, 403, OK, 403, 403),
    ("GET", _TICKET + "/sla"): row(401, OK, OK, 403, OK, 403, 403),
    ("POST", _TICKET + "/escalations/{escalation_id}/acknowledge"): row(401, 403, OK, 403, OK, 403, 403),
    ("POST", _TICKET + "/escalations/{escalation_id}/de-escalate"): row(401, 403, OK, 403, OK, 403, 403),
    # issue #18: solution articles (Sofort-Support) for the tenant's agents and team leads; recording one on a
    # ticket is an agent's; partners and tokens have no part in it
    ("GET", _T + "/articles"): row(401, OK, OK, 403, OK, 403, 403),
    ("GET", _T + "/articles/{article_id}"): row(401, OK, OK, 403, OK, 403, 403),
    ("GET", _TICKET + "/article"): row(401, OK, OK, 403, OK, 403, 403),
    ("POST", _TICKET + "/article"): CONSOLE,
    # issue #18: major incidents for the tenant's agents and leads (managers); the pile-up threshold is the leads';
    # partners and tokens never see incidents
    ("GET", _T + "/incidents"): INCIDENTS,
    ("POST", _T + "/incidents"): INCIDENTS,
    ("GET", _T + "/incidents/export"): INCIDENTS,
    ("GET", _T + "/incidents/suggestions"): INCIDENTS,
    ("GET", _T + "/incidents/settings"): INCIDENTS,
    ("PUT", _T + "/incidents/settings"): row(401, 403, OK, 403, OK, 403, 403),
    ("GET", _INCIDENT): INCIDENTS,
    ("PATCH", _INCIDENT): INCIDENTS,
    ("GET", _INCIDENT + "/export"): INCIDENTS,
    ("POST", _INCIDENT + "/resolve"): INCIDENTS,
    ("POST", _INCIDENT + "/tickets/{ticket_id}"): INCIDENTS,
    ("DELETE", _INCIDENT + "/tickets/{ticket_id}"): INCIDENTS,
    # issue #19: the attachments of a ticket's mails, read like the ticket; the helpdesk addresses: configuration
    ("GET", _TICKET + "/attachments"): TICKET_READ,
    ("GET", _TICKET + "/attachments/{attachment_id}"): TICKET_READ,
    ("GET", _ADMIN + "/mail-addresses"): ADMIN_ONLY,
    ("POST", _ADMIN + "/mail-addresses"): ADMIN_ONLY,
    ("DELETE", _ADMIN + "/mail-addresses/{address_id}"): ADMIN_ONLY,
    # KPIs: managers too; a token with kpis:read
    ("GET", _T + "/kpis"): row(401, OK, OK, 403, OK, OK, OK),
    # the monthly report: managers and admins; a token only when its account is a manager (test_tokens)
    ("GET", _T + "/reports/{month}"): row(401, 403, OK, 403, OK, 403, 403),
    # the admin API
    ("GET", _ADMIN + "/accounts"): ADMIN_ONLY,
    ("POST", _ADMIN + "/accounts"): ADMIN_ONLY,
    ("GET", _ADMIN + "/accounts/{account_id}"): ADMIN_ONLY,
    ("PATCH", _ADMIN + "/accounts/{account_id}"): ADMIN_ONLY,
    ("POST", _ADMIN + "/accounts/{account_id}/deactivate"): ADMIN_ONLY,
    ("GET", _ADMIN + "/accounts/{account_id}/tokens"): ADMIN_ONLY,
    ("POST", _ADMIN + "/accounts/{account_id}/tokens"): ADMIN_ONLY,
    ("DELETE", _ADMIN + "/tokens/{token_id}"): ADMIN_ONLY,
    ("GET", _ADMIN + "/audit"): ADMIN_ONLY,
    ("GET", _ADMIN + "/tenants"): ADMIN_ONLY,
    ("POST", _ADMIN + "/tenants"): ADMIN_ONLY,
    ("GET", _ADMIN + "/tenants/{tenant}/works-agreement"): ADMIN_ONLY,  # issue 20: figures per agent
    ("PUT", _ADMIN + "/tenants/{tenant}/works-agreement"): ADMIN_ONLY,
    ("GET", _ADMIN + "/tenants/{tenant}/kpi-contract"): ADMIN_ONLY,  # issue 20 item 1: the KPI contract
    ("PUT", _ADMIN + "/tenants/{tenant}/kpi-contract"): ADMIN_ONLY,
    # issue #19: the test of a tenant's escalation paths (sla.drill): operator admins only, no tokens
    ("POST", _ADMIN + "/tenants/{tenant}/sla-test"): ADMIN_ONLY,
}


def _bodies(world: World) -> dict[tuple[str, str], Any]:
    """Valid bodies for the ticket writes: the request reaches the ticket, so tenant and ownership are checked."""
    return {
        ("POST", _T + "/tickets"): {"channel": "web", "subject": "Walk", "requester": {"name": "Walker"}},
        ("PATCH", _TICKET): {"subject": "PACS-Viewer startet nicht (walk)"},
        ("POST", _TICKET + "/comments"): {"text": "walk", "public": False},
        ("POST", _TICKET + "/assign"): {"agent_id": None},
        ("POST", _TICKET + "/route"): {"group": "partner:acme", "reason": "walk"},  # its group already: no change
        ("POST", _TICKET + "/status"): {"status": "in_progress"},
        ("POST", _TICKET + "/resolve"): {"resolution": "walk"},
        ("POST", _TICKET + "/close"): {"note": "walk"},
        ("POST", _TICKET + "/reopen"): {"reason": "walk"},
        ("POST", _TICKET + "/classify"): {"category_id": world.category_a, "impact": 3, "urgency": 3},
        ("POST", _TICKET + "/escalations/{escalation_id}/acknowledge"): {"note": "walk"},
        ("POST", _TICKET + "/article"): {"article_id": world.ids["article_shared"], "solved": False},
        ("POST", _TICKET + "/escalations/{escalation_id}/de-escalate"): {"reason": "walk"},
        ("POST", _T + "/incidents"): {"title": "Walk", "caller_message": "walk"},
        ("PUT", _T + "/incidents/settings"): {"pileup_count": 5, "pileup_minutes": 15},
        ("PATCH", _INCIDENT): {"title": "Walk"},
        ("POST", _INCIDENT + "/resolve"): {"resolution": "walk"},
        ("POST", _ADMIN + "/mail-addresses"): {"address": "walk@klinikum-nord.example", "tenant": TENANT_A},
        ("POST", _T + "/categories"): {"name": "Walk", "group": "1st_level"},
        ("PATCH", _T + "/categories/{category_id}"): {"default_urgency": 3},
    }


def expected(route: Route, principal: str, variant: str) -> Expect | set[int]:
    own = EXPECT[(route.method if route.method != "HEAD" else "GET", route.path)][principal]
    if variant == "own":
        return own
    if route.path == "/status/{token}":
        return 404
    if route.path in ("/tickets/{tenant}/{ticket_id}", "/incidents/{tenant}/{incident_id}") and variant == "cross":
        return own  # the same static page for every ticket (incident) of the tenant: its data comes through the API
    if own == OK:
        return OK if variant == "foreign" and principal == "admin" else 404
    if own == 403:
        return {403, 404}
    return own


def passed(status: int, body: str) -> bool:
    """Let through by every check of who may do this: the answer is the request's own business now."""
    if status in (401, 403, 404, 302) or status >= 500:
        # a callback dial got through to "Asterisk" (FakeAmi): the only 5xx that means "allowed"
        return status == 503 and '"ami-not-connected"' in body
    return True


@dataclass
class Caller:
    client: TestClient
    headers: dict[str, str]


@pytest.fixture
async def callers(client: TestClient, world: World) -> AsyncIterator[dict[str, Caller]]:
    opened: list[TestClient] = []

    async def session_of(username: str) -> Caller:
        other = await browser(client)
        opened.append(other)
        return Caller(other, {"X-CSRF-Token": await login(other, username)})

    anon = await browser(client)
    opened.append(anon)
    found = {
        "anon": Caller(anon, {}),
        "agent": await session_of("anna"),
        "manager": await session_of("maria"),
        "admin": await session_of("olga"),
        "partner": Caller(anon, bearer(world.tokens["partner"])),
        "token": Caller(anon, bearer(world.tokens["token"])),
        "token_noscope": Caller(anon, bearer(world.tokens["token_noscope"])),
    }
    try:
        yield found
    finally:
        for other in opened:
            await other.session.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
async def world(
    request: pytest.FixtureRequest, world_template: tuple[Path, World], tmp_path: Path
) -> AsyncIterator[World]:
    """The walk on a SQLite copy of the seeded world (as tests/security/conftest.py's ``world``), then on the
    same world seeded into PostgreSQL."""
    if request.param == "sqlite":
        yield copy_world(world_template, tmp_path)
        return
    async with throwaway_pg(migrated=True) as url:
        yield await build_world(url)


async def test_every_route_enforces_role_and_tenant(
    client: TestClient, world: World, callers: dict[str, Caller]
) -> None:
    routes = registered(client.server.app)
    unknown = sorted({(r.method, r.path) for r in routes if r.method != "HEAD"} - set(EXPECT))
    assert not unknown, f"routes without an expectation in EXPECT (add a row, see DEVELOPERS.md): {unknown}"
    stale = sorted(set(EXPECT) - {(r.method, r.path) for r in routes})
    assert not stale, f"expectations for routes the app does not have: {stale}"

    bodies = _bodies(world)
    secrets_of_b = {SECRET_NAME, world.numbers["ticket_b"], "0231 555 77"}
    failures: list[str] = []
    requests = 0
    for route in routes:
        for variant in route.variants():
            for principal in PRINCIPALS:
                caller = callers[principal]
                url = fill(route, variant, world)
                body = bodies.get((route.method, route.path), {}) if route.method not in ("GET", "HEAD") else None
                response = await caller.client.request(
                    route.method, url, json=body, headers=caller.headers, allow_redirects=False
                )
                text = await response.text()
                requests += 1
                want = expected(route, principal, variant)
                where = f"{principal:>13} {variant:>7} {route.method} {url} -> {response.status}"
                if want == OK:
                    ok = passed(response.status, text)
                elif isinstance(want, set):
                    ok = response.status in want
                else:
                    ok = response.status == want
                if not ok:
                    failures.append(f"{where}, expected {want}: {text[:160]}")
                if principal != "admin" or variant == "cross":
                    sent = url + json.dumps(body, ensure_ascii=False)
                    leaked = [s for s in secrets_of_b if s in text and s not in sent]
                    if leaked:
                        failures.append(f"{where}: tenant B's {leaked} in the answer")
                if response.status >= 500 and not passed(response.status, text):
                    failures.append(f"{where}: server error")
    assert not failures, "\n".join(failures)
    # the size of the walk, so a shrinking router or principal list is noticed
    assert len(routes) >= len(EXPECT) and requests >= len(EXPECT) * len(PRINCIPALS)


async def test_the_walk_covers_the_screen_pop_socket_and_the_status_links() -> None:
    assert ("GET", "/ws/console") in EXPECT
    assert ("GET", "/status/{token}") in EXPECT
    for principal in ("manager", "partner", "token", "token_noscope"):
        assert EXPECT[("GET", "/ws/console")][principal] == 403
    assert Route("GET", "/status/{token}").variants() == ["own", "foreign", "cross"]
