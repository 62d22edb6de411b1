"""Issue 16: an error answer's ``text`` says what went wrong, in the reader's language (the account's, else the
browser's, else German): the specific sentence, never the status's general one, and no code, slug or field name in
a German text. The ``message`` stays the English one for programs and logs, the same in every language."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from pydantic import BaseModel

import uhd_telephony.app.web  # noqa: F401  (every capability's routes: their @documented bodies and queries)
from tests.support.webapp import TENANT_B
from tests.tickets.webapp import Api
from uhd_telephony.i18n import LOCALES, gettext, label
from uhd_telephony.i18n.labels import LABELS
from uhd_telephony.web import openapi
from uhd_telephony.web.middleware import _GENERIC

# what the middleware says when it has nothing specific: none of these may be a text below
GENERAL = {gettext(locale, msgid) for locale in LOCALES for msgid in (*_GENERIC.values(), _GENERIC[400])}
GENERAL |= {gettext(locale, "Something went wrong: please try again.") for locale in LOCALES}
# codes that must not reach a German text (statuses, fields, the tenant's slug)
CODES = re.compile(r"\b(new|in_progress|waiting|resolved|closed|reopened|subject|requester|category_id)\b|klinikum-")


async def _answer(client: TestClient, method: str, path: str, body: Any = None, **headers: str) -> dict[str, Any]:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status >= 400, (method, path, response.status)
    return dict(await response.json())


def _specific(error: dict[str, Any], text: str) -> None:
    assert error["text"] == text, error
    assert error["text"] not in GENERAL


async def test_a_german_reader_gets_the_specific_sentence(client: TestClient) -> None:
    anna = await Api(client).login("anna")
    assert anna.account["locale"] == "de"
    ticket = await anna.create()
    number = ticket["number"]

    errors: list[dict[str, Any]] = []

    async def check(method: str, rest: str, body: Any, status: int, text: str, *, tenant: str | None = None) -> None:
        error = await anna.call(method, anna.url(rest, tenant), body, expect=status)
        _specific(error, text)
        errors.append(error)

    # an unknown ticket, by id and by number; something that is no ticket number at all
    await check("GET", "/tickets/999999", None, 404, "Dieses Ticket gibt es nicht.")
    await check("GET", "/tickets/by-number/UHD-2026-999999", None, 404, "Ein Ticket „UHD-2026-999999“ gibt es nicht.")
    await check(
        "GET",
        "/tickets/by-number/Drucker",
        None,
        400,
        "„Drucker“ ist keine Ticketnummer: erwartet wird UHD-<Jahr>-<6 Ziffern>, z. B. UHD-2026-000123.",
    )
    # a status change the workflow does not allow: both statuses in words
    await check(
        "POST",
        f"/tickets/{ticket['id']}/status",
        {"status": "waiting", "note": "Rückruf"},
        409,
        f"Ticket {number} kann nicht von „Neu“ nach „Wartet auf Anrufer“ wechseln.",
    )
    # another tenant: as unknown as one that does not exist
    await check("GET", "/tickets", None, 404, "Diesen Mandanten gibt es nicht.", tenant=TENANT_B)
    # the input: each field by its label and what is wrong with it
    await check(
        "POST",
        "/tickets",
        {"channel": "web", "requester": {"name": "Jürgen Müller"}},
        400,
        "Betreff fehlt: bitte ausfüllen.",
    )
    await check(
        "POST",
        "/tickets",
        {"channel": "web", "subject": "x" * 201, "requester": {}},
        400,
        "Betreff ist länger als 200 Zeichen. Anfragende Person: bitte eine Person aus dem Verzeichnis wählen "
        "oder Name, Rufnummer oder E-Mail-Adresse angeben.",
    )
    await check(
        "PATCH",
        f"/tickets/{ticket['id']}",
        {"impact": 9, "colour": "rot"},
        400,
        "Auswirkung darf höchstens 5 sein. „colour“ ist hier nicht vorgesehen.",
    )
    await check("PATCH", f"/tickets/{ticket['id']}", {"category_id": 999_999}, 400, "Diese Kategorie gibt es nicht.")
    await check(
        "POST",
        f"/tickets/{ticket['id']}/assign",
        {"agent_id": 999_999},
        400,
        "Diese Person ist kein aktiver Agent dieses Mandanten.",
    )
    invalid = errors[5]
    assert invalid["details"]["problems"] == [
        {"field": "subject", "problem": "Field required", "text": "Betreff fehlt: bitte ausfüllen."}
    ]
    for error in errors:
        assert not CODES.search(error["text"]), error["text"]  # words, not codes
    # the message for programs is the English one
    assert errors[0]["message"] == "no ticket 999999"
    assert errors[3]["message"].startswith(f"ticket {number} cannot go from new to waiting")


async def test_who_is_asking_is_answered_in_the_browsers_language(client: TestClient) -> None:
    wrong = {"username": "anna", "password": "falsch"}
    _specific(await _answer(client, "POST", "/api/login", wrong), "Benutzername oder Passwort falsch")
    _specific(await _answer(client, "GET", "/api/me"), "Bitte zuerst anmelden.")
    english = await _answer(client, "GET", "/api/me", **{"Accept-Language": "en-GB"})
    _specific(english, "Please log in first.")
    assert english["message"] == "log in first"
    anna = await Api(client).login("anna")
    # a write without the session's CSRF token
    response = await client.put("/api/me/locale", json={"locale": "en"})
    error = dict(await response.json())
    assert response.status == 403
    _specific(
        error,
        "Die Sitzung konnte nicht bestätigt werden (CSRF-Token fehlt oder ist falsch): bitte die Seite neu laden.",
    )
    # a body that is no JSON
    response = await client.post(anna.url("/tickets"), data=b"{", headers={"X-CSRF-Token": anna.csrf})
    _specific(dict(await response.json()), "Der Inhalt der Anfrage ist kein gültiges JSON.")


async def test_an_english_account_reads_the_same_errors_in_english(client: TestClient) -> None:
    anna = await Api(client).login("anna")
    ticket = await anna.create()
    german = await anna.get("/tickets/999999", expect=404)
    await anna.call("PUT", "/api/me/locale", {"locale": "en"}, expect=200)
    english = await anna.get("/tickets/999999", expect=404)
    assert (german["text"], english["text"]) == ("Dieses Ticket gibt es nicht.", "This ticket does not exist.")
    assert german["message"] == english["message"] == "no ticket 999999"
    moved = await anna.post(f"/tickets/{ticket['id']}/status", {"status": "waiting", "note": "x"}, expect=409)
    _specific(moved, f"Ticket {ticket['number']} cannot go from “New” to “Waiting for the caller”.")
    invalid = await anna.patch(f"/tickets/{ticket['id']}", {"impact": 9}, expect=400)
    _specific(invalid, "Impact must be at most 5.")
    other = await anna.get("/tickets", expect=404, tenant=TENANT_B)
    _specific(other, "This tenant does not exist.")


def _fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for part in (info.annotation, *getattr(info.annotation, "__args__", ())):
            for inner in (part, *getattr(part, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    names |= _fields(inner, seen)
    return names


def test_every_field_of_the_api_has_its_label_in_both_languages() -> None:
    """An invalid request names its fields by their labels: a field without one would show its code."""
    seen: set[type[BaseModel]] = set()
    fields: set[str] = set()
    for operation in openapi._OPERATIONS.values():
        for model in (operation.body, operation.query):
            if model is not None:
                fields |= _fields(model, seen)
    assert {"subject", "requester", "category_id", "username", "scopes", "hotlines"} <= fields
    missing = sorted(f for f in fields if f not in LABELS["field"])
    assert not missing, f"give these fields their labels in uhd_telephony/i18n/labels.py ('field'): {missing}"
    for field in fields:
        assert label("field", field, "de") != field, field
