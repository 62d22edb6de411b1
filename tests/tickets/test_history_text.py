"""Issue 16: a ticket's history in words — names instead of agent:7, titles instead of slugs, statuses and the
system's own notes (SLA clock, 10-minute rule, escalations) in the reader's language, times in Berlin time."""

from __future__ import annotations

import re
from typing import Any

import uhd_telephony.sla.escalation  # noqa: F401  (registers how the SLA's rows read)
from uhd_telephony.i18n import translator
from uhd_telephony.tickets.history_text import Context, Names, describe, sentence, title_paths

NAMES = Names(
    accounts={"agent:7": "Anna Becker"},
    categories=title_paths([("kis", "KIS"), ("kis/orbis", "ORBIS")]),
    groups={"2nd_level": "2nd-Level-Support Klinik-IT"},
    tenants={"klinikum-nord": "Klinikum Nord", "klinikum-sued": "Klinikum Süd"},
)
DE, EN = Context(translator("de"), NAMES), Context(translator("en"), NAMES)
RAW = re.compile(r"\b(agent|partner):\d+\b|\bin_progress\b|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\bkis/orbis\b|_level\b")


def row(action: str, field: str | None = None, old: Any = None, new: Any = None, note: str | None = None,
        actor: str = "agent:7") -> dict[str, Any]:  # fmt: skip
    return {"action": action, "field": field, "old_value": old, "new_value": new, "note": note, "actor": actor}


def test_rows_read_as_sentences_without_codes() -> None:
    cases = [
        (row("created", "number", None, "UHD-2026-000001", "web ticket"), "Ticket UHD-2026-000001 angelegt (Web)"),
        (row("classified", "category", None, "kis/orbis"), "Kategorie: – → KIS › ORBIS"),
        (row("priority", "priority", None, "2", "impact 2 x urgency 3 (VIP: urgency raised one level)"),
         "Priorität: – → 2 – hoch · Auswirkung 2 × Dringlichkeit 3 (VIP: Dringlichkeit um eine Stufe erhöht)"),
        (row("status", "status", "waiting", "in_progress", "SLA clock resumed after 5400 s waiting: Rückruf"),
         "Status: Wartet auf Anrufer → In Bearbeitung · SLA-Uhr läuft wieder nach 1 Std. 30 Min. Warten · Rückruf"),
        (row("routed", "support_group", "1st_level", "2nd_level", "auto-routed: 10-minute rule", actor="system"),
         "Von 1st-Level-Support an 2nd-Level-Support Klinik-IT weitergeleitet · automatisch: 10-Minuten-Regel"),
        (row("comment", "internal", note="Treiber fehlt"), "Interne Notiz: Treiber fehlt"),
        (row("assigned", "agent", None, "Ben Brandt", "account 8"), "Zugewiesen an Ben Brandt"),
        (row("tenant", "tenant", "klinikum-sued", "klinikum-nord", "call 17.4 belongs to tenant klinikum-nord",
             actor="system"), "Übernommen von Klinikum Nord (vorher Klinikum Süd) · der Anruf gehört dorthin"),
        (row("escalated", "sla", None, "response warning",
             "escalation #12: response target 2 h 00 min, warning due 2026-12-07T11:05:33.269Z; level 1 notified: "
             "Teamleitung (mail+webhook)", actor="system"),
         "SLA-Warnung (Reaktionszeit): fällig 07.12.2026, 12:05, Ziel 2 Std.; Stufe 1 benachrichtigt: "
         "Teamleitung (E-Mail, Webhook)"),
        (row("de-escalated", "sla", "resolution breach", None, "escalation #12 taken back: ticket resolved"),
         "SLA-Verletzung (Lösungszeit) zurückgenommen: Ticket gelöst"),
        (row("acknowledged", "sla", "response warning", None, "escalation #12 acknowledged: gesehen"),
         "SLA-Warnung (Reaktionszeit) quittiert · gesehen"),
    ]  # fmt: skip
    for entry, words in cases:
        assert describe(entry, DE) == words
        assert not RAW.search(describe(entry, DE)) and not RAW.search(describe(entry, EN)), entry
    assert sentence(cases[1][0], DE) == "Anna Becker: Kategorie: – → KIS › ORBIS"
    assert sentence(row("status", "status", "new", "in_progress"), EN) == "Anna Becker: Status: New → In progress"
    assert sentence(row("status", "status", "new", "resolved", actor="agent:99"), DE).startswith("Konto 99: ")
    assert sentence(row("created", "number", None, "X", "phone call 1.1 answered by PJSIP/101", actor="system"),
                    DE) == "System: Ticket X für den angenommenen Anruf angelegt"  # fmt: skip
