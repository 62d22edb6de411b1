"""Major incidents in both languages: their codes as labels, the ticket history's rows in words, the callers' notice
(German, then English) and the callback list's reason; no code or UTC instant where people read."""

from __future__ import annotations

from tests.incidents.conftest import TENANT_A, World
from uhd_telephony.i18n import LOCALES, label
from uhd_telephony.incidents import notice
from uhd_telephony.incidents.models import IncidentStatus, NotifiedVia
from uhd_telephony.tickets.history_text import context, with_text


def test_every_code_of_an_incident_has_its_label_in_both_languages() -> None:
    for kind, codes in (
        ("incident_status", [s.value for s in IncidentStatus]),
        ("notified_via", [v.value for v in NotifiedVia]),
        ("action", ["incident"]),
    ):
        for code in codes:
            words = {locale: label(kind, code, locale) for locale in LOCALES}
            assert all(w and not w.startswith(f"{kind}.") for w in words.values()), (kind, code, words)
            assert (words["de"] != code and words["de"] != words["en"]) or code == "incident", (kind, code, words)
    assert label("incident_status", "resolved", "de") == "Behoben"
    assert label("action", "incident", "de") == "Großstörung"


async def test_the_history_says_what_happened_in_the_readers_language(world: World) -> None:
    view = await world.declare(title="KIS ausgefallen")
    ticket = await world.ticket()
    await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    await world.incidents.unlink(TENANT_A, view.id, ticket.id, actor=world.anna)
    rows = await world.history(ticket.id, "incident") + await world.history(view.parent_ticket_id, "incident")
    texts = {}
    async with world.db.engine.connect() as conn:
        for locale in LOCALES:
            ctx = await context(conn, TENANT_A, locale, rows)
            texts[locale] = [e["text"] for e in with_text(rows, ctx)]
    assert texts["de"] == [
        "Anna Becker: Der Großstörung „KIS ausgefallen“ zugeordnet",
        "Anna Becker: Zuordnung zur Großstörung „KIS ausgefallen“ aufgehoben",
        "Anna Becker: Haupt-Ticket der Großstörung „KIS ausgefallen“",
    ]
    assert texts["en"] == [
        "Anna Becker: Linked to the major incident “KIS ausgefallen”",
        "Anna Becker: Taken off the major incident “KIS ausgefallen”",
        "Anna Becker: Parent ticket of the major incident “KIS ausgefallen”",
    ]


def test_the_notice_is_german_then_english_without_codes() -> None:
    incident = {"id": 7, "title": "KIS\nausgefallen", "resolution": "Server neu gestartet."}
    ticket = {"number": "UHD-2026-000042", "status": "resolved"}
    subject, text = notice.mail_texts(incident, "Paula Pflege", ticket, "{public_url}/status/abc")
    assert subject == "[UHD-2026-000042] Störung behoben: KIS ausgefallen / Disruption resolved: KIS ausgefallen"
    german, english = text.split("--- English ---")
    assert "Die Störung „KIS\nausgefallen“, zu der Ihre Anfrage UHD-2026-000042 gehört, ist behoben." in german
    assert "Was wir getan haben: Server neu gestartet." in german and "Status: Gelöst" in german
    assert "has been resolved" in english and "Status: Resolved" in english and "resolved" not in german
    assert text.count("{public_url}/status/abc") == 2
    _, plain = notice.mail_texts(incident, "")
    assert "Guten Tag,\n" in plain and "/status/" not in plain and "erneut an" in plain
    note = notice.callback_note(incident)
    assert (
        note.startswith("Großstörung „KIS\nausgefallen“ behoben: Anrufer informieren") and " / Major incident" in note
    )
