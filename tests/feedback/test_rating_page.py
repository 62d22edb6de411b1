"""The closure mail's rating links and the page they open: a GET never records, the page's POST does, once per
ticket; the comment once afterwards; every link that cannot rate gets the same refusal. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.feedback.conftest import (
    PUBLIC,
    Closed,
    age,
    client_of,
    closed_ticket,
    closure_mail,
    rating_rows,
)
from tests.outbox.sinks import LINK_RE, status_link, text_of
from tests.tickets.routing.conftest import MUELLER, OTHER, TENANT, World
from uhd_telephony.feedback.service import RATING_WINDOW
from uhd_telephony.tickets.view import tickets
from uhd_telephony.tickets.workflow import TicketWorkflow
from uhd_telephony.web.middleware import CSP


def _rating_path(closed: Closed) -> str:
    return f"/status/{closed.token}/rating"


async def _post(client: TestClient, path: str, **form: str) -> tuple[int, str, str]:
    response = await client.post(path, data=form, allow_redirects=False)
    return response.status, response.headers.get("Location", ""), await response.text()


async def test_the_closure_mail_asks_in_words_with_five_links_to_the_rating_page(world: World) -> None:
    closed = await closed_ticket(world)
    german, english = closed.mail.split("--- English ---")
    assert "Wie zufrieden waren Sie? Ein Klick auf eine Zahl genügt:" in german
    assert "How satisfied were you? One click on a number is enough:" in english
    assert f"1 (gar nicht zufrieden): {PUBLIC}/status/{closed.token}/rating?score=1" in german
    assert f"5 (sehr zufrieden): {PUBLIC}/status/{closed.token}/rating?score=5" in german
    assert f"3 (partly satisfied): {PUBLIC}/status/{closed.token}/rating?score=3" in english
    # under the status link of the same mail: the same token
    found = LINK_RE.search(german)
    assert found is not None and found.group(2) == closed.token
    assert german.index(found.group(1) + "\r\n") < german.index("Wie zufrieden")
    # the creation mail asks nothing
    (created,) = [text_of(m) for m in world.smtp.to(MUELLER) if "eingegangen" in m["Subject"]]
    assert "/rating" not in created and "zufrieden" not in created


async def test_a_get_of_any_link_records_nothing_and_shows_the_score_chosen(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    for score, path in closed.links.items():
        for _ in range(3):  # a scanner, a preview, the person: as often as anyone likes
            response = await client.get(path)
            page = await response.text()
            assert response.status == 200
            assert re.search(rf'value="{score}" required checked>', page)
            assert page.count(" checked>") == 1 and 'data-auto="1"' in page
        assert (await client.head(path)).status == 200
    assert await rating_rows(world) == []
    # the page: the ticket's number, the words of every score, the script from a file, no inline script
    assert closed.number in page and "4 – zufrieden / satisfied" in page and "1 – gar nicht zufrieden" in page
    assert '<script src="/static/feedback.js"></script>' in page
    assert not re.search(r"<script>|<script [^>]*>[^<]+</script>|\son\w+=", page)
    assert response.headers["Content-Security-Policy"] == CSP and "noindex" in response.headers["X-Robots-Tag"]
    # our own forms carry our origin (under "no-referrer" a browser sends "Origin: null"); others get nothing
    assert response.headers["Referrer-Policy"] == "same-origin" and response.headers["Cache-Control"] == "no-store"
    # without a score: the form, nothing chosen, nothing sent by the script
    page = await (await client.get(_rating_path(closed))).text()
    assert " checked>" not in page and "data-auto" not in page


async def test_the_pages_post_records_the_rating_once_and_the_page_then_thanks(
    world: World, aiohttp_client: Any
) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    status, location, _ = await _post(client, _rating_path(closed), score="4", comment="")
    assert (status, location) == (303, _rating_path(closed))
    (row,) = await rating_rows(world)
    assert (row["ticket_id"], row["tenant"], row["score"], row["comment"]) == (closed.id, TENANT, 4, None)
    assert row["category"] == "pacs/viewer" and row["created_at"] == world.clock()
    # nothing of the rater: no column for an address, a name, a browser
    assert set(row) == {"id", "ticket_id", "tenant", "score", "comment", "category", "created_at", "commented_at"}

    thanks = await (await client.get(_rating_path(closed))).text()
    assert "Vielen Dank für Ihre Bewertung / Thank you for your rating" in thanks
    assert '<p id="given-score"><strong>4 – zufrieden / satisfied</strong></p>' in thanks
    assert "abgegeben 02.03.2026, 09:00" in thanks  # Berlin time in words
    assert 'id="comment-form"' in thanks and 'id="rating"' not in thanks
    # a second rating, by POST or by another link: refused in words, the first one stands
    status, _, page = await _post(client, _rating_path(closed), score="1")
    assert status == 409
    assert "Diese Anfrage wurde bereits bewertet." in page and "This request has been rated already." in page
    assert "4 – zufrieden" in page
    again = await client.get(closed.links[2])
    page = await again.text()
    assert again.status == 200 and "bereits bewertet" in page and "data-auto" not in page and "4 – zufrieden" in page
    assert [r["score"] for r in await rating_rows(world)] == [4]


async def test_the_comment_is_added_once_afterwards(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    status, _, page = await _post(client, _rating_path(closed), comment="Vor der Bewertung")
    assert status == 409 and "Bitte wählen Sie zuerst eine Bewertung." in page
    await _post(client, _rating_path(closed), score="2")
    world.clock.advance(600)
    status, location, _ = await _post(client, _rating_path(closed), comment="Hat zwei Tage gedauert.\r\nSonst gut.")
    assert (status, location) == (303, _rating_path(closed))
    (row,) = await rating_rows(world)
    assert row["comment"] == "Hat zwei Tage gedauert.\nSonst gut." and row["commented_at"] == world.clock()
    page = await (await client.get(_rating_path(closed))).text()
    assert '<p id="given-comment">Hat zwei Tage gedauert.<br>Sonst gut.</p>' in page and "comment-form" not in page
    status, _, page = await _post(client, _rating_path(closed), comment="Noch etwas")
    assert status == 409 and "Es wurde bereits ein Kommentar hinzugefügt." in page
    assert (await rating_rows(world))[0]["comment"] == "Hat zwei Tage gedauert.\nSonst gut."


async def test_without_a_script_the_form_sends_rating_and_comment_together(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    status, _, _ = await _post(client, _rating_path(closed), score="5", comment="Sehr freundlich")
    assert status == 303
    (row,) = await rating_rows(world)
    assert (row["score"], row["comment"], row["commented_at"]) == (5, "Sehr freundlich", world.clock())


async def test_every_link_that_cannot_rate_gets_the_same_refusal(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    open_ticket = await world.phone_ticket(2)  # its creation mail's link: a ticket still being worked on
    await world.deliver()
    _, open_token = status_link(world.smtp.to(MUELLER)[-1])
    client = await client_of(world, aiohttp_client)
    other = await closed_ticket(world, 3)
    await age(world, other.id, RATING_WINDOW.days + 0.01)  # its window is over: the link has expired
    forged = closed.token[:-4] + ("AAAA" if not closed.token.endswith("AAAA") else "BBBB")
    tokens = [forged, "x" * 43, open_token, other.token, "not-a-token!", "%00", closed.token + "A"]
    refusals: set[str] = set()
    for token in tokens:
        for method in ("GET", "POST"):
            path = f"/status/{token}/rating" + ("?score=5" if method == "GET" else "")
            response = await client.request(method, path, data={"score": "5"} if method == "POST" else None)
            text = await response.text()
            assert response.status == 404, (token, method, text)
            if "Bewertung nicht möglich" in text:
                refusals.add(text)
    assert len(refusals) == 1  # one page, word for word, for every one of them
    (refusal,) = refusals
    assert "bis zu 30 Tage nach dem Abschluss" in refusal and "up to 30 days after it was closed" in refusal
    assert closed.number not in refusal and open_ticket.number not in refusal
    assert await rating_rows(world) == []
    # the link of the ticket itself still rates
    assert (await _post(client, _rating_path(closed), score="3"))[0] == 303


async def test_the_window_is_thirty_days_from_the_closing(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    world.clock.advance(RATING_WINDOW.total_seconds())  # the last moment
    assert (await client.get(closed.links[3])).status == 200
    world.clock.advance(1)
    assert (await client.get(closed.links[3])).status == 404
    assert (await _post(client, _rating_path(closed), score="3"))[0] == 404
    world.clock.advance(-1)
    assert (await _post(client, _rating_path(closed), score="3"))[0] == 303


async def test_a_reopened_ticket_cannot_be_rated_and_its_next_closure_keeps_the_first_rating(
    world: World, aiohttp_client: Any
) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    await _post(client, _rating_path(closed), score="2")
    flow = TicketWorkflow(world.tickets)
    await flow.transition(TENANT, closed.id, "reopened", note="Tritt wieder auf", actor="agent:3")
    assert (await client.get(closed.links[2])).status == 404
    world.clock.advance(3600)  # a closure of its own (the closure mail is one per closing instant)
    await flow.transition(TENANT, closed.id, "resolved", note="Treiber getauscht", actor="agent:3")
    await flow.transition(TENANT, closed.id, "closed", note=None, actor="agent:3")
    await world.deliver()
    second = closure_mail(world, closed.number)
    assert "rating?score=5" in second  # a new closure, a new link: that ticket's rating is already given
    token = re.search(r"/status/([A-Za-z0-9_-]+)/rating\?score=5", second)
    assert token is not None and token.group(1) != closed.token
    assert (await client.get(closed.links[5])).status == 404  # the old link was replaced
    status, _, page = await _post(client, f"/status/{token.group(1)}/rating", score="5")
    assert status == 409 and "2 – wenig zufrieden" in page
    assert [r["score"] for r in await rating_rows(world)] == [2]


async def test_bad_scores_are_refused_in_words_and_nothing_is_chosen(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    for score in ("0", "6", "abc", "4.0", "-1", "\u0664", "99999999999999999999", " "):
        response = await client.get(_rating_path(closed), params={"score": score})
        page = await response.text()
        assert response.status == 200 and " checked>" not in page and "data-auto" not in page, score
        if score.strip():
            assert "Eine Bewertung ist eine ganze Zahl von 1 bis 5." in page, score
        status, _, page = await _post(client, _rating_path(closed), score=score)
        assert status == (400 if score.strip() else 409), score
    assert await rating_rows(world) == []


async def test_a_post_from_another_site_is_refused(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    response = await client.post(
        _rating_path(closed), data={"score": "1"}, headers={"Origin": "https://evil.example"}, allow_redirects=False
    )
    assert response.status == 403 and "Bitte senden Sie das Formular von dieser Seite." in await response.text()
    response = await client.post(_rating_path(closed), data={"score": "1"}, headers={"Origin": "null"})
    assert response.status == 403  # a sandboxed frame, a data: page: no origin we could check
    assert await rating_rows(world) == []
    own = f"http://{client.server.host}:{client.server.port}"
    response = await client.post(_rating_path(closed), data={"score": "1"}, headers={"Origin": own},
                                 allow_redirects=False)  # fmt: skip
    assert response.status == 303


async def test_two_posts_at_once_record_one_rating(world: World, aiohttp_client: Any) -> None:
    closed = await closed_ticket(world)
    client = await client_of(world, aiohttp_client)
    answers = await asyncio.gather(*(_post(client, _rating_path(closed), score=str(s)) for s in (1, 5, 3, 4)))
    assert sorted(status for status, _, _ in answers) == [303, 409, 409, 409]
    (row,) = await rating_rows(world)
    winner = next(i for i, (status, _, _) in enumerate(answers) if status == 303)
    assert row["score"] == (1, 5, 3, 4)[winner]


async def test_a_ticket_of_another_tenant_is_rated_for_that_tenant_only(world: World, aiohttp_client: Any) -> None:
    ours = await closed_ticket(world, 1)
    theirs = await closed_ticket(world, 2, tenant=OTHER)
    client = await client_of(world, aiohttp_client)
    await _post(client, _rating_path(theirs), score="1")
    await _post(client, _rating_path(ours), score="5")
    rows = {r["ticket_id"]: (r["tenant"], r["score"]) for r in await rating_rows(world)}
    assert rows == {theirs.id: (OTHER, 1), ours.id: (TENANT, 5)}
    # one ticket's page shows nothing of the other
    page = await (await client.get(_rating_path(ours))).text()
    assert theirs.number not in page and "gar nicht" not in page.split("given-score")[1].split("</p>")[0]
    async with world.db.engine.connect() as conn:
        status = (await conn.execute(select(tickets.c.status).where(tickets.c.id == theirs.id))).scalar_one()
    assert status == "closed"


async def test_a_resolved_ticket_not_yet_closed_can_be_rated_through_its_link(
    world: World, aiohttp_client: Any
) -> None:
    ticket = await world.phone_ticket(4)
    await world.deliver()
    _, token = status_link(world.smtp.to(MUELLER)[-1])
    client = await client_of(world, aiohttp_client)
    assert (await client.get(f"/status/{token}/rating?score=4")).status == 404  # still new
    await TicketWorkflow(world.tickets).transition(TENANT, ticket.id, "resolved", note="erledigt", actor="agent:3")
    assert (await _post(client, f"/status/{token}/rating", score="4"))[0] == 303
    (row,) = await rating_rows(world)
    assert row["category"] is None and row["score"] == 4


async def test_a_comment_is_kept_as_text_within_its_limit(world: World, aiohttp_client: Any) -> None:
    long, hostile = await closed_ticket(world, 1), await closed_ticket(world, 2)
    client = await client_of(world, aiohttp_client)
    await _post(client, _rating_path(long), score="3")
    status, _, page = await _post(client, _rating_path(long), comment="ä" * 1001)
    assert status == 400 and "Der Kommentar ist länger als 1000 Zeichen." in page
    assert (await rating_rows(world))[0]["comment"] is None
    assert (await _post(client, _rating_path(long), comment="ä" * 1000))[0] == 303  # the limit itself
    text = "<img src=x onerror=alert(1)>\x00\x07 Zeile\u202e1\r\n\r\n\r\n\r\nZeile 2\t\u2028"
    status, _, _ = await _post(client, _rating_path(hostile), score="1", comment=text)
    assert status == 303
    rows = {r["ticket_id"]: r["comment"] for r in await rating_rows(world)}
    assert rows == {long.id: "ä" * 1000, hostile.id: "<img src=x onerror=alert(1)> Zeile1\n\nZeile 2"}
    page = await (await client.get(_rating_path(hostile))).text()
    assert "&lt;img src=x onerror=alert(1)&gt; Zeile1<br><br>Zeile 2" in page and "<img" not in page
