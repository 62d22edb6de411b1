"""The data-protection officer's page ``/privacy`` and what it reads (``privacy.api``, ``privacy.officer``) on
SQLite and PostgreSQL: the page for DPOs and admins only (an anonymous visitor to the login and back, other roles
refused in words, the strict CSP, the navigation's link for admins); a person found by name, number or mail (an
audited read); the tenant's log in words and Berlin time, by period, reader, kind and person, page by page; the
erasure and export through the same API; hostile input a 400; another tenant's nothing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from tests.security.test_redirects import assert_secured
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B
from tests.works_council.conftest import Browsers, audit_rows, make_account, unacknowledge, web

__all__ = ["web"]  # the seeded app with olga (admin) and dora (tenant A's data-protection officer)

A = f"/api/tenants/{TENANT_A}/privacy"
B = f"/api/tenants/{TENANT_B}/privacy"


async def _login(client: TestClient, username: str) -> dict[str, str]:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return {"X-CSRF-Token": (await response.json())["account"]["csrf_token"]}


async def _post(client: TestClient, path: str, body: Any, csrf: dict[str, str], status: int = 200) -> Any:
    response = await client.post(path, json=body, headers=csrf)
    assert response.status == status, (path, body, await response.text())
    return await response.json()


async def _ticket(client: TestClient, csrf: dict[str, str], requester: dict[str, Any]) -> dict[str, Any]:
    made = await _post(client, f"/api/tenants/{TENANT_A}/tickets",
                       {"channel": "phone", "subject": "PC", "requester": requester}, csrf, 201)  # fmt: skip
    return dict(made["ticket"])


# -- the page -------------------------------------------------------------------------------------------------
async def test_the_page_is_for_the_officer_and_admins_only(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await make_account(url, "maria", "manager", [TENANT_A])
    anon, dora, olga, anna, maria = [await browsers() for _ in range(5)]
    response = await anon.get("/privacy", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/login?" + urlencode({"next": "/privacy"})
    assert_secured(response.headers, "/privacy")
    for client, username in ((dora, "dora"), (olga, "olga")):
        await _login(client, username)
        page = await client.get("/privacy")
        html = await page.text()
        assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"], username
        assert_secured(page.headers, "/privacy")
        assert '<script src="/static/privacy.js" defer></script>' in html
        assert "<script>" not in html and "style=" not in html and "<style" not in html
    for client, username in ((anna, "anna"), (maria, "maria")):
        await _login(client, username)
        refused = await client.get("/privacy", headers={"Accept-Language": "de"})
        assert refused.status == 403, username
        assert "Datenschutzbeauftragte" in (await refused.json())["text"]
    # the other pages link to it, shown to admins by their scripts; a DPO has no other page
    link = '<a href="/privacy" id="privacy-link" hidden data-i18n="Data protection">Datenschutz</a>'
    for path in ("/console", "/tickets", "/kpis", "/incidents"):
        assert link in await (await olga.get(path)).text(), path
    assert (await dora.get("/tickets", allow_redirects=False)).status == 403


async def test_an_officer_who_has_not_acknowledged_goes_to_the_text_first(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await unacknowledge(url, "dora")
    dora = await browsers()
    await _login(dora, "dora")
    response = await dora.get("/privacy", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/confidentiality?next=%2Fprivacy"


# -- the person search ----------------------------------------------------------------------------------------
async def test_a_person_is_found_by_name_number_and_mail_and_the_search_is_audited(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    anna, dora = await browsers(), await browsers()
    csrf_a = await _login(anna, "anna")
    await _ticket(anna, csrf_a, {"name": "Eva Roth", "number": "0231 5550123", "email": "eva.roth@example.org"})
    await _ticket(anna, csrf_a, {"name": "Eva Roth", "number": "0231 5550123", "email": "eva.roth@example.org"})
    csrf = await _login(dora, "dora")

    by_name = (await _post(dora, A + "/persons", {"q": "müller"}, csrf))["persons"]
    mueller = [p for p in by_name if p["name"] == "Dr. Jürgen Müller"]
    assert mueller and mueller[0]["in_directory"] and mueller[0]["selector"].keys() == {"user_id"}
    assert "0231/98 60 572" in mueller[0]["numbers"]
    user_id = mueller[0]["selector"]["user_id"]
    by_number = (await _post(dora, A + "/persons", {"q": "+49 231 9860572"}, csrf))["persons"]
    assert [p["selector"] for p in by_number] == [{"user_id": user_id}]
    by_mail = (await _post(dora, A + "/persons", {"q": "juergen.mueller@"}, csrf))["persons"]
    assert [p["selector"] for p in by_mail] == [{"user_id": user_id}]

    # a requester not in the directory: once, with both tickets, found by name, number and mail
    for q in ("Eva Ro", "0231 5550123", "eva.roth@example"):
        found = (await _post(dora, A + "/persons", {"q": q}, csrf))["persons"]
        assert [(p["name"], p["in_directory"], p["tickets"], p["selector"]) for p in found] == [
            ("Eva Roth", False, 2, {"number": "0231 5550123"})], q  # fmt: skip
    # LIKE's wildcards are text: they match nothing here
    for q in ("%%", "__", "%_%"):
        assert (await _post(dora, A + "/persons", {"q": q}, csrf))["persons"] == [], q

    rows = await audit_rows(url, "directory_read")
    assert rows and all(r.actor == "dora" and r.tenant == TENANT_A for r in rows)
    assert rows[0].details["subjects"] == [f"person:{user_id}"]
    assert any(r.details["subjects"][0].startswith("ticket:") for r in rows)
    assert "Roth" not in str([r.details for r in rows]) and "müller" not in str([r.details for r in rows])

    for bad in ({"q": "x"}, {"q": "a\x00b"}, {"q": "x" * 101}, {"q": 42}, {}, {"q": "ab", "tenant": TENANT_B}):
        answer = await _post(dora, A + "/persons", bad, csrf, 400)
        assert answer["text"], bad
    assert len(await audit_rows(url, "directory_read")) == len(rows)  # a refused request reads nobody


# -- the log in words -----------------------------------------------------------------------------------------
async def test_the_log_names_readers_and_people_in_words(web: tuple[Browsers, str]) -> None:
    browsers, _ = web
    anna, ben, dora = await browsers(), await browsers(), await browsers()
    csrf_a = await _login(anna, "anna")
    eva = await _ticket(anna, csrf_a, {"name": "Eva Roth", "number": "0231 5550123"})
    max_ = await _ticket(anna, csrf_a, {"name": "Max Kranz", "email": "max.kranz@example.org"})
    assert (await anna.get(f"/api/tenants/{TENANT_A}/tickets/{eva['id']}")).status == 200
    await _login(ben, "ben")
    assert (await ben.get(f"/api/tenants/{TENANT_A}/tickets/{max_['id']}")).status == 200
    assert (await ben.get(f"/api/tenants/{TENANT_A}/tickets")).status == 200
    csrf = await _login(dora, "dora")

    log = await _post(dora, A + "/log", {}, csrf)
    assert log["tenant"] == TENANT_A and log["person_complete"] is True
    entries = log["entries"]
    assert [e["actor_name"] for e in entries] == ["Ben Schäfer", "Ben Schäfer", "Anna Becker"]
    assert entries[-1]["action_text"] == "Anruferdaten von Tickets gelesen"
    assert entries[-1]["subjects"] == [{"subject": f"ticket:{eva['id']}", "text": f"Ticket {eva['number']} (Eva Roth)"}]
    assert {s["text"] for s in entries[0]["subjects"]} == {f"Ticket {eva['number']} (Eva Roth)",
                                                           f"Ticket {max_['number']} (Max Kranz)"}  # fmt: skip
    for entry in entries:
        assert not entry["when"].endswith("Z") and entry["when"][2] == "." and entry["at"].endswith("Z")

    # by reader, by person (found as the page finds them), by kind, by period; page by page
    only_ben = await _post(dora, A + "/log", {"actor": "ben"}, csrf)
    assert [e["actor"] for e in only_ben["entries"]] == ["ben", "ben"]
    of_eva = await _post(dora, A + "/log", {"person": {"number": "+49 231 5550123"}}, csrf)
    assert [e["actor"] for e in of_eva["entries"]] == ["ben", "anna"]  # the list showed her ticket too
    of_max = await _post(dora, A + "/log", {"person": {"email": "MAX.KRANZ@example.org"}}, csrf)
    assert [e["actor"] for e in of_max["entries"]] == ["ben", "ben"]
    nobody = await _post(dora, A + "/log", {"person": {"number": "0221 9876543"}}, csrf)
    assert nobody["entries"] == []
    assert (await _post(dora, A + "/log", {"action": "calls_read"}, csrf))["entries"] == []
    assert (await _post(dora, A + "/log", {"from": "2000-01-01", "to": "2000-01-31"}, csrf))["entries"] == []
    first = await _post(dora, A + "/log", {"limit": 2}, csrf)
    assert len(first["entries"]) == 2 and first["next_before"]
    rest = await _post(dora, A + "/log", {"limit": 2, "before": first["next_before"]}, csrf)
    assert [e["actor"] for e in rest["entries"]] == ["anna"] and rest["next_before"] is None

    # English for an account that reads English
    assert (await dora.put("/api/me/locale", json={"locale": "en"}, headers=csrf)).status == 200
    english = (await _post(dora, A + "/log", {"actor": "anna"}, csrf))["entries"][0]
    assert english["action_text"] == "Requester details of tickets read"
    assert english["subjects"][0]["text"] == f"ticket {eva['number']} (Eva Roth)"
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2,3} \d{4}, \d{2}:\d{2}", english["when"]), english["when"]

    for bad in ({"from": "2026-01-01"}, {"from": "gestern", "to": "heute"}, {"actor": "a\x00b"}, {"limit": 0},
                {"limit": "5"}, {"action": "drop_table"}, {"before": -1}, {"person": {}},
                {"person": {"number": "1", "email": "a@b.c"}}, {"person": {"user_id": True}}, {"tenant": TENANT_B},
                {"from": "2020-01-01", "to": "2026-01-01"}):  # fmt: skip
        answer = await _post(dora, A + "/log", bad, csrf, 400)
        assert answer["text"], bad


async def test_other_roles_and_other_tenants_get_nothing(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await make_account(url, "bert", "dpo", [TENANT_B])
    anna, bert, olga = await browsers(), await browsers(), await browsers()
    csrf_a = await _login(anna, "anna")
    eva = await _ticket(anna, csrf_a, {"name": "Eva Roth", "number": "0231 5550123"})
    assert (await anna.get(f"/api/tenants/{TENANT_A}/tickets/{eva['id']}")).status == 200
    for path, body in (("/persons", {"q": "Roth"}), ("/log", {})):
        assert (await anna.post(A + path, json=body, headers=csrf_a)).status == 403, path
        assert (await anna.post(A + path, json=body)).status == 403, path  # no CSRF token either
    csrf_b = await _login(bert, "bert")
    for path, body in (("/persons", {"q": "Roth"}), ("/log", {}), ("/exports", {"number": "0231 5550123"}),
                       ("/erasures", {"number": "0231 5550123", "dry_run": True})):  # fmt: skip
        response = await bert.post(A + path, json=body, headers=csrf_b)
        assert response.status == 404, path
        assert "Roth" not in await response.text()
    assert (await _post(bert, B + "/log", {}, csrf_b))["entries"] == []
    assert (await _post(bert, B + "/persons", {"q": "Eva Roth"}, csrf_b))["persons"] == []
    # the operator's admin serves every tenant
    csrf_o = await _login(olga, "olga")
    assert [e["actor"] for e in (await _post(olga, A + "/log", {}, csrf_o))["entries"]] == ["anna"]


# -- export and erasure from the page's point of view ---------------------------------------------------------
async def test_the_officer_exports_and_erases_and_the_log_says_so(web: tuple[Browsers, str]) -> None:
    browsers, _ = web
    anna, dora = await browsers(), await browsers()
    csrf_a = await _login(anna, "anna")
    eva = await _ticket(anna, csrf_a, {"name": "Eva Roth", "number": "0231 5550123"})
    assert (await anna.get(f"/api/tenants/{TENANT_A}/tickets/{eva['id']}")).status == 200
    csrf = await _login(dora, "dora")
    read = (await _post(dora, A + "/log", {"actor": "anna"}, csrf))["entries"]
    assert [s["text"] for s in read[0]["subjects"]] == [f"Ticket {eva['number']} (Eva Roth)"]
    found = (await _post(dora, A + "/persons", {"q": "Eva Roth"}, csrf))["persons"]
    selector = found[0]["selector"]
    exported = await _post(dora, A + "/exports", selector, csrf)
    assert [t["number"] for t in exported["places"]["tickets"]] == [eva["number"]]
    dry = await _post(dora, A + "/erasures", {**selector, "dry_run": True}, csrf)
    assert dry == {"erased": False, "counts": dry["counts"]} and dry["counts"]["tickets"] == 1
    assert (await _post(dora, A + "/persons", {"q": "Eva Roth"}, csrf))["persons"]  # a dry run erased nothing
    done = await _post(dora, A + "/erasures", {**selector, "dry_run": False}, csrf)
    assert done["erased"] is True
    assert (await _post(dora, A + "/persons", {"q": "Eva Roth"}, csrf))["persons"] == []

    entries = (await _post(dora, A + "/log", {"actor": "dora"}, csrf))["entries"]
    texts = [(e["action_text"], e["details_text"]) for e in entries if e["action"].startswith("person_")]
    assert texts == [
        ("Daten einer Person gelöscht (Art. 17 DSGVO)", "gefunden über die Rufnummer · Tickets: 1"),
        ("Auskunft über eine Person erteilt (Art. 15 DSGVO)", "gefunden über die Rufnummer · Tickets: 1"),
    ]
    # the ticket's requester is a pseudonym now: the log names the ticket, no longer the person
    read = (await _post(dora, A + "/log", {"actor": "anna"}, csrf))["entries"]
    [subject] = read[0]["subjects"]
    assert subject["text"].startswith(f"Ticket {eva['number']} (Gelöschte Person ") and "Roth" not in subject["text"]
