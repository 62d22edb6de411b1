"""The major incidents' pages (``incidents.page``) on SQLite and PostgreSQL: a static shell under the strict CSP for
the helpdesk's agents and leads; an anonymous visitor goes to the login and back (partners have no login: their
tokens are refused by the API, tests/incidents); another tenant's incident page does not exist; the other pages
link to it."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from tests.security.test_redirects import assert_secured
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, app_of, login
from uhd_telephony.web import keys

PAGES = ("/incidents", f"/incidents/{TENANT_A}/1")


async def test_an_anonymous_visitor_goes_to_the_login_and_back(client: TestClient) -> None:
    for path in (*PAGES, "/incidents?tenant=klinikum-nord&category=kis&tickets=1,2"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/login?" + urlencode({"next": path})
        assert_secured(response.headers, path)


async def test_agents_and_leads_get_the_static_page_under_the_strict_csp(client: TestClient) -> None:
    await app_of(client)[keys.ACCOUNTS].create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
    for username in ("anna", "maria"):
        await login(client, username)
        for path in PAGES:
            page = await client.get(path)
            html = await page.text()
            assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"], path
            assert_secured(page.headers, path)
            assert '<script src="/static/incidents-page.js" defer></script>' in html
            assert "<script>" not in html and "style=" not in html and "<style" not in html


async def test_another_tenants_incident_page_does_not_exist(client: TestClient) -> None:
    await login(client, "carl")  # tenant B only
    for path in (f"/incidents/{TENANT_A}/1", "/incidents/no-such-tenant/1", "/incidents/%00/1"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "KIS" not in await response.text()
    assert (await client.get(f"/incidents/{TENANT_B}/1")).status == 200  # his own: the API says whether it exists


async def test_the_other_pages_link_to_the_incidents(client: TestClient) -> None:
    await login(client, "anna")
    link = '<a href="/incidents" data-i18n="Major incidents">Großstörungen</a>'
    for path in ("/console", "/tickets", "/kpis"):
        assert link in await (await client.get(path)).text(), path
    console = await (await client.get("/console")).text()
    assert '<script src="/static/incidents.js" defer></script>' in console
