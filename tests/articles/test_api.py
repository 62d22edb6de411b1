"""The article API as the console uses it: suggestions for a category, one article as HTML, "solved with this
article" recorded on the ticket (resolving it, in the history in words, in the ticket's JSON), the 10-minute
budget of a phone ticket; roles as the ticket routes, and another tenant's articles and tickets as missing as
none. SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from tests.articles.conftest import Api, article
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, Seeded, app_of, web_settings
from tests.tickets.webapp import second_browser
from uhd_telephony.app.web import init_app
from uhd_telephony.articles.files import EXAMPLES
from uhd_telephony.articles.importer import import_articles
from uhd_telephony.articles.models import Article, ArticleUse
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.models import TicketHistory
from uhd_telephony.web import keys

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

SECRET = "Sonderzugang OP-Süd"  # tenant B's own article: never in an answer to tenant A's people


async def _articles(db: Database) -> dict[str, int]:
    """The example articles (shared), one of tenant A and one of tenant B; their ids by slug."""
    await import_articles(db, EXAMPLES)
    await import_articles(
        db, [article("nord-drucker", "Etikettendrucker Station 3", categories=("hardware",))], TENANT_A
    )
    await import_articles(db, [article("sued", SECRET, "Nur für Süd.", ("kis/login",))], TENANT_B)
    async with db.engine.connect() as conn:
        return {row.slug: row.id for row in await conn.execute(select(Article.slug, Article.id))}


@pytest.fixture
async def ids(client: TestClient) -> dict[str, int]:
    return await _articles(app_of(client)[keys.DB])


@pytest.fixture
async def anna(client: TestClient, ids: dict[str, int]) -> Api:
    return await Api(client).login("anna")


@contextlib.asynccontextmanager
async def browser_of(client: TestClient, username: str, tenant: str) -> AsyncIterator[Api]:
    """``username`` logged in in a browser of its own on the same server."""
    browser = await second_browser(client)
    try:
        yield await Api(browser, tenant=tenant).login(username)
    finally:
        await browser.session.close()


@pytest.fixture
async def manager(client: TestClient) -> AsyncIterator[Api]:
    """A team lead of tenant A."""
    await app_of(client)[keys.ACCOUNTS].create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
    async with browser_of(client, "maria", TENANT_A) as api:
        yield api


@pytest.fixture
async def carl(client: TestClient) -> AsyncIterator[Api]:
    """Tenant B's agent."""
    async with browser_of(client, "carl", TENANT_B) as api:
        yield api


async def history_rows(client: TestClient) -> int:
    async with app_of(client)[keys.DB].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(TicketHistory))).scalar_one())


# -- suggestions and search -----------------------------------------------------------------------------------


async def test_the_suggestions_for_a_category(anna: Api) -> None:
    login = await anna.category("kis/login")
    body = await anna.get(f"/articles?category={login}")
    titles = [a["title"] for a in body["articles"]]
    assert titles == ["KIS: Anmeldung schlägt fehl", "Kennwort zurücksetzen (Windows und KIS)"]
    first = body["articles"][0]
    assert first["shared"] is True and first["rank"] is None and first["active"] is True
    assert first["categories"] == [
        {"path": "kis/login", "title": "KIS (Krankenhausinformationssystem) › Anmeldung / login"}
    ]
    # an article for "Hardware" fits its printers; the closer one comes first
    printer = await anna.get(f"/articles?category={await anna.category('hardware/printer')}")
    assert [a["title"] for a in printer["articles"]][:2] == [
        "Drucker druckt nicht",
        "Papierstau beheben und Toner wechseln",
    ]
    assert "Etikettendrucker Station 3" in [a["title"] for a in printer["articles"]]
    assert len((await anna.get(f"/articles?category={login}&limit=1"))["articles"]) == 1


async def test_a_search_finds_the_best_match_first(anna: Api) -> None:
    body = await anna.get("/articles?q=Kennwort%20vergessen")
    assert body["articles"][0]["title"] == "Kennwort zurücksetzen (Windows und KIS)"
    assert body["articles"][0]["rank"] > 0
    hostile = await anna.get("/articles?q=%22NEAR(*%20OR%20%27%3B--&limit=50")
    assert isinstance(hostile["articles"], list)  # search syntax is no syntax here
    assert (await anna.get("/articles?q=" + "Drucker%20" * 800))["articles"][0]["title"] == "Drucker druckt nicht"


async def test_bad_queries_are_named(anna: Api, carl: Api) -> None:
    foreign = await carl.category("kis/login")  # a category of tenant B
    error = await anna.get(f"/articles?category={foreign}", expect=400)
    assert error["text"] == "Diese Kategorie gibt es nicht."
    for query in ("limit=0", "limit=51", "category=abc", "category=0", "q=a&q=b", "color=red"):
        error = await anna.get(f"/articles?{query}", expect=400)
        assert error["text"] and "Traceback" not in str(error)


async def test_one_article_with_its_text_as_html(anna: Api, ids: dict[str, int]) -> None:
    body = (await anna.get(f"/articles/{ids['kis-anmeldung']}"))["article"]
    assert body["title"] == "KIS: Anmeldung schlägt fehl" and body["slug"] == "kis-anmeldung"
    assert "<strong>Feststelltaste und Tastaturlayout prüfen lassen:</strong>" in body["html"]
    assert "<ol>" in body["html"] and "<script" not in body["html"]
    mine = (await anna.get(f"/articles/{ids['nord-drucker']}"))["article"]
    assert mine["shared"] is False


async def test_another_tenants_article_is_as_missing_as_none(anna: Api, carl: Api, ids: dict[str, int]) -> None:
    foreign = await anna.get(f"/articles/{ids['sued']}", expect=404)
    missing = await anna.get("/articles/999999999", expect=404)
    assert foreign["error_id"] == missing["error_id"] == "not-found" and foreign["text"] == missing["text"]
    assert foreign["message"] == f"no article {ids['sued']}"  # the id asked for, nothing of the article
    assert foreign["text"] == "Diesen Lösungsartikel gibt es nicht."
    listed = str(await anna.get("/articles?limit=50")) + str(await anna.get("/articles?q=Sonderzugang&limit=50"))
    assert SECRET not in listed
    assert SECRET in str(await carl.get("/articles?q=Sonderzugang"))  # its own tenant finds it
    assert (await carl.get(f"/articles/{ids['nord-drucker']}", expect=404))["error_id"] == "not-found"
    await carl.get("/articles", expect=404, tenant=TENANT_A)  # a tenant it does not work for


# -- solved with an article -----------------------------------------------------------------------------------


async def test_solved_with_an_article_resolves_the_ticket_in_one_step(anna: Api, ids: dict[str, int]) -> None:
    ticket = await anna.create(subject="Kann mich nicht im KIS anmelden")
    done = await anna.post(f"/tickets/{ticket['id']}/article", {"article_id": ids["kis-anmeldung"], "solved": True})
    assert done["resolved"] is True and done["ticket"]["status"] == "resolved"
    assert done["article"]["title"] == "KIS: Anmeldung schlägt fehl" and done["article"]["solved"] is True
    assert [(a["article_id"], a["solved"]) for a in done["ticket"]["articles"]] == [(ids["kis-anmeldung"], True)]
    read = (await anna.get(f"/tickets/{ticket['id']}"))["ticket"]
    assert read["articles"][0]["title"] == "KIS: Anmeldung schlägt fehl" and read["resolved_at"] is not None
    history = (await anna.get(f"/tickets/{ticket['id']}/history"))["history"]
    status, used = history[-2], history[-1]
    assert (status["action"], status["old_value"], status["new_value"]) == ("status", "new", "resolved")
    assert status["note"] == "KIS: Anmeldung schlägt fehl"  # the resolution: the article's title
    assert (used["action"], used["field"], used["new_value"]) == ("article", "solved", str(ids["kis-anmeldung"]))
    assert used["text"] == "Anna Becker: Gelöst mit dem Artikel „KIS: Anmeldung schlägt fehl“"
    await anna.call("PUT", "/api/me/locale", {"locale": "en"}, expect=200)
    english = (await anna.get(f"/tickets/{ticket['id']}/history"))["history"][-1]
    assert english["text"] == "Anna Becker: Solved with the article “KIS: Anmeldung schlägt fehl”"


async def test_an_article_that_did_not_help_leaves_the_ticket_open(anna: Api, ids: dict[str, int]) -> None:
    ticket = await anna.create()
    path = f"/tickets/{ticket['id']}/article"
    tried = await anna.post(path, {"article_id": ids["drucker-druckt-nicht"], "solved": False})
    assert tried["resolved"] is False and tried["ticket"]["status"] == "new"
    assert tried["ticket"]["first_response_at"] is not None  # the agent worked on it
    history = (await anna.get(f"/tickets/{ticket['id']}/history"))["history"]
    assert history[-1]["text"] == "Anna Becker: Artikel „Drucker druckt nicht“ versucht: nicht gelöst"
    # the next article helps; the first one's word stands
    other = await anna.post(path, {"article_id": ids["papierstau-toner"], "solved": True})
    assert other["resolved"] is True
    used = {a["title"]: a["solved"] for a in other["ticket"]["articles"]}
    assert used == {"Drucker druckt nicht": False, "Papierstau beheben und Toner wechseln": True}
    # saying it again of the same article changes the word, not the count
    again = await anna.post(path, {"article_id": ids["drucker-druckt-nicht"], "solved": True})
    assert again["resolved"] is False and len(again["ticket"]["articles"]) == 2
    assert all(a["solved"] for a in again["ticket"]["articles"])


async def test_a_resolved_ticket_stays_so_and_a_closed_one_takes_nothing(
    anna: Api, client: TestClient, ids: dict[str, int]
) -> None:
    ticket = await anna.create()
    await anna.post(f"/tickets/{ticket['id']}/resolve", {"resolution": "Neustart"})
    done = await anna.post(f"/tickets/{ticket['id']}/article", {"article_id": ids["pdf-drucken"], "solved": True})
    assert done["resolved"] is False and done["ticket"]["status"] == "resolved"
    await anna.post(f"/tickets/{ticket['id']}/close", {"note": "erledigt"})
    before = await history_rows(client)
    error = await anna.post(
        f"/tickets/{ticket['id']}/article", {"article_id": ids["pdf-drucken"], "solved": True}, expect=409
    )
    assert error["text"].startswith(f"Ticket {ticket['number']} hat den Status „Geschlossen“")
    assert await history_rows(client) == before


async def test_a_withdrawn_article_is_read_but_not_used(anna: Api, client: TestClient, ids: dict[str, int]) -> None:
    db = app_of(client)[keys.DB]
    await import_articles(db, [article("anderes", "Anderes")], TENANT_A)  # the folder without nord-drucker
    ticket = await anna.create()
    error = await anna.post(
        f"/tickets/{ticket['id']}/article", {"article_id": ids["nord-drucker"], "solved": True}, expect=409
    )
    assert error["text"] == "Der Artikel „Etikettendrucker Station 3“ wurde zurückgezogen."
    assert (await anna.get(f"/articles/{ids['nord-drucker']}"))["article"]["active"] is False
    assert "Etikettendrucker Station 3" not in str(await anna.get("/articles?limit=50"))


async def test_roles_and_tenants(anna: Api, manager: Api, carl: Api, client: TestClient, ids: dict[str, int]) -> None:
    ticket = await anna.create()
    path = f"/tickets/{ticket['id']}/article"
    body = {"article_id": ids["kis-anmeldung"], "solved": False}
    assert (await manager.get("/articles?q=Drucker"))["articles"]  # team leads read
    assert (await manager.get(path))["ticket_id"] == ticket["id"]
    await manager.post(path, body, expect=403)  # and record nothing
    foreign = await carl.create()
    before = await history_rows(client)
    # another tenant's article on one's own ticket, one's article on another tenant's ticket: not there
    await anna.post(path, {"article_id": ids["sued"], "solved": True}, expect=404)
    await carl.post(path, body, expect=404, tenant=TENANT_A)
    await anna.post(f"/tickets/{foreign['id']}/article", body, expect=404)
    await anna.get(f"/tickets/{foreign['id']}/article", expect=404)
    await anna.post("/tickets/999999999/article", body, expect=404)
    assert await history_rows(client) == before
    async with app_of(client)[keys.DB].engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(ArticleUse))).scalar_one() == 0
    for bad in ({"article_id": ids["kis-anmeldung"]}, {"article_id": 0, "solved": True},
                {"article_id": ids["kis-anmeldung"], "solved": "ja"}, {**body, "extra": 1}):  # fmt: skip
        assert (await anna.post(path, bad, expect=400))["text"]
    # no CSRF token, no session
    response = await client.post(f"/api/tenants/{TENANT_A}{path}", json=body)
    assert response.status == 403
    anonymous = await second_browser(client)
    try:
        assert (await anonymous.get(f"/api/tenants/{TENANT_A}/articles")).status == 401
    finally:
        await anonymous.session.close()


# -- the 10-minute budget -------------------------------------------------------------------------------------


@pytest.fixture
async def seven_minutes(seeded: Seeded, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    """The app with a budget of 7 minutes at 1st level (UHD_FIRST_LEVEL_LIMIT_S=420)."""
    yield await aiohttp_client(init_app(web_settings(seeded.url, first_level_limit_s=420)))


async def test_the_budget_of_a_phone_ticket_comes_from_the_server(seven_minutes: TestClient, seeded: Seeded) -> None:
    app = app_of(seven_minutes)
    answered = time.time() - 60  # answered a minute ago
    call = CallRecord(
        call_id="1800000000.7@hotline", linkedid="1800000000.7", uniqueid="1800000000.7", queue="hotline",
        tenant=TENANT_A, entered_at=answered - 10, caller_number="+492319860572", caller_name="MUELLER J",
        answered_at=answered, agent="Anna Becker", agent_interface="PJSIP/101",
    )  # fmt: skip
    ticket, _ = await app[keys.TICKETS].open_for_call(call, agent_id=seeded.anna.id, agent_name="Anna Becker")
    anna = await Api(seven_minutes).login("anna")
    state = await anna.get(f"/tickets/{ticket.id}/article")
    budget = state["first_level"]
    assert state["articles"] == [] and state["handover_group"] == "2nd_level"
    assert budget["budget_s"] == 420
    assert budget["started_at"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(answered)))
    assert 350 < budget["remaining_s"] <= 360  # 7 minutes from the answer, a minute gone
    # handed to 2nd level: no budget left to count
    await anna.post(f"/tickets/{ticket.id}/route", {"group": "2nd_level", "reason": "nicht gelöst"})
    assert (await anna.get(f"/tickets/{ticket.id}/article"))["first_level"] is None
    web = await anna.create()  # a ticket that did not come by phone has none
    assert (await anna.get(f"/tickets/{web['id']}/article"))["first_level"] is None
    # solved with an article at 1st level: the budget is done with too
    ids = await _articles(app[keys.DB])
    again = dataclasses.replace(call, call_id="1800000000.8@hotline", linkedid="1800000000.8", uniqueid="1800000000.8")
    second, _ = await app[keys.TICKETS].open_for_call(again, agent_id=seeded.anna.id)
    assert (await anna.get(f"/tickets/{second.id}/article"))["first_level"]["budget_s"] == 420
    await anna.post(f"/tickets/{second.id}/article", {"article_id": ids["kis-anmeldung"], "solved": True})
    assert (await anna.get(f"/tickets/{second.id}/article"))["first_level"] is None
