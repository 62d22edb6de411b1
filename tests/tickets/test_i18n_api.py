"""Issue 16: one language for people. German by default, English per account (PUT /api/me/locale): the ticket
history in words (names, statuses, categories by their titles, Berlin times), error texts, the pages' catalog."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from tests.support.webapp import TENANT_A, app_of
from tests.tickets.webapp import Api, second_browser
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.web import keys

RAW = re.compile(r"\b(agent|partner):\d+\b|\bin_progress\b|\bstatus: new\b|\d{2}:\d{2}:\d{2}(\.\d+)?Z")


async def _worked_ticket(anna: Api) -> dict:
    """A ticket anna classified, started, commented on and put to waiting: a history with every kind of row."""
    ticket = await anna.create()
    category = await anna.category("kis/login")
    await anna.patch(f"/tickets/{ticket['id']}", {"category_id": category, "impact": 2, "urgency": 2})
    await anna.post(f"/tickets/{ticket['id']}/comments", {"text": "Passwort zurückgesetzt", "public": True}, expect=201)
    await anna.post(f"/tickets/{ticket['id']}/status", {"status": "waiting", "note": "Rückruf morgen"})
    return ticket


async def test_the_history_speaks_german_in_words(client: TestClient) -> None:
    await TenantService(app_of(client)[keys.DB]).add(TENANT_A, name="Klinikum Nord", hotlines=[])
    anna = await Api(client).login("anna")
    assert anna.account["locale"] == "de"
    ticket = await _worked_ticket(anna)
    body = await anna.get(f"/tickets/{ticket['id']}/history")
    texts = [entry["text"] for entry in body["history"]]
    name = anna.account["display_name"]
    assert texts[0].startswith(f"{name}: Ticket {ticket['number']} angelegt (Web)")
    assert any("Kategorie: – → KIS (Krankenhausinformationssystem) › Anmeldung / login" in t for t in texts), texts
    assert any("Status: Neu → In Bearbeitung" in t for t in texts), texts
    assert any("Status: In Bearbeitung → Wartet auf Anrufer · SLA-Uhr angehalten · Rückruf morgen" in t for t in texts)
    assert f"{name}: Öffentlicher Kommentar: Passwort zurückgesetzt" in texts
    assert all(entry["actor_name"] == name for entry in body["history"])
    # the raw fields are still there for programs; the words have no code, no slug, no UTC instant
    assert body["history"][0]["actor"] == f"agent:{anna.account['id']}"
    assert not [t for t in texts if RAW.search(t)], texts
    assert body["ticket"]["category"]["title_path"] == "KIS (Krankenhausinformationssystem) › Anmeldung / login"
    me = await anna.call("GET", "/api/me")
    assert me["account"]["tenant_names"] == {TENANT_A: "Klinikum Nord"}


async def test_an_english_account_gets_english(client: TestClient) -> None:
    anna = await Api(client).login("anna")
    ticket = await _worked_ticket(anna)
    changed = await anna.call("PUT", "/api/me/locale", {"locale": "en"}, expect=200)
    assert changed["account"]["locale"] == "en"
    assert (await anna.call("GET", "/api/me"))["account"]["locale"] == "en"
    texts = [entry["text"] for entry in (await anna.get(f"/tickets/{ticket['id']}/history"))["history"]]
    assert any("Status: New → In progress" in t for t in texts), texts
    assert any("Public comment: Passwort zurückgesetzt" in t for t in texts), texts
    catalog = await anna.call("GET", "/api/i18n")
    assert catalog["locale"] == "en" and catalog["messages"]["status.in_progress"] == "In progress"
    # an error for people in English too; the message for programs is the same in every language
    error = await anna.post(f"/tickets/{ticket['id']}/assign", {"agent_id": 999_999}, expect=400)
    assert error["text"] == "This person is no active agent of this tenant."
    assert error["message"] == f"999999 is no active agent of {TENANT_A}"
    # only de and en; another account (ben) still speaks German
    await anna.call("PUT", "/api/me/locale", {"locale": "fr"}, expect=400)
    ben = await Api(await second_browser(client)).login("ben")
    try:
        assert ben.account["locale"] == "de"
        assert (await ben.call("GET", "/api/i18n"))["messages"]["status.in_progress"] == "In Bearbeitung"
    finally:
        await ben.client.close()


async def test_the_login_speaks_the_browsers_language_german_by_default(client: TestClient) -> None:
    async def refused(**headers: str) -> dict:
        response = await client.post("/api/login", json={"username": "anna", "password": "falsch"}, headers=headers)
        assert response.status == 401
        return dict(await response.json())

    assert (await refused())["text"] == "Benutzername oder Passwort falsch"
    assert (await refused(**{"Accept-Language": "fr-FR, en;q=0.5"}))["text"] == "wrong username or password"
    assert (await refused(**{"Accept-Language": "de-AT"}))["text"] == "Benutzername oder Passwort falsch"
    for headers, locale in (({}, "de"), ({"Accept-Language": "en-GB"}, "en"), ({"Accept-Language": "xx"}, "de")):
        catalog = await (await client.get("/api/i18n", headers=headers)).json()
        assert catalog["locale"] == locale and catalog["time_zone"] == "Europe/Berlin"
    explicit = await (await client.get("/api/i18n", params={"locale": "en"})).json()
    assert explicit["tag"] == "en-GB" and explicit["messages"]["Log out"] == "Log out"
    assert (await client.get("/api/i18n", params={"locale": "fr"})).status == 400


async def test_choosing_a_language_needs_a_session_and_its_csrf_token(client: TestClient) -> None:
    anna = await Api(client).login("anna")
    response = await client.put("/api/me/locale", json={"locale": "en"})  # no CSRF token
    assert response.status == 403
    await client.post("/api/logout", headers={"X-CSRF-Token": anna.csrf})
    assert (await client.put("/api/me/locale", json={"locale": "en"})).status == 401
