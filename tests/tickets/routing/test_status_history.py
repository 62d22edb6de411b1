"""What the caller's status page shows of a ticket's history: public steps and public comments only."""

from __future__ import annotations

from datetime import UTC, datetime

from uhd_telephony.tickets.status_page import public_history, render

AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def entry(action: str, field: str | None = None, new: str | None = None, note: str | None = None) -> dict:
    return {"action": action, "field": field, "old_value": None, "new_value": new, "note": note, "at": AT,
            "actor": "agent:7"}  # fmt: skip


def test_public_comments_show_internal_ones_and_actors_do_not() -> None:
    entries = [
        entry("created"),
        entry("comment", "internal", note="Anrufer wirkte genervt, Passwort notiert: hunter2"),
        entry("comment", "public", note="Der Drucker wird morgen getauscht."),
        entry("status", "status", new="waiting", note="SLA clock paused: waiting for the caller"),
    ]
    shown = [de for _, de, _ in public_history(entries)]
    assert shown == [
        "Anfrage erfasst",
        "Nachricht des Helpdesks: Der Drucker wird morgen getauscht.",
        "Status: Wartet auf Ihre Rückmeldung",
    ]
    page = render(
        {"number": "UHD-2026-000001", "status": "waiting", "category_name": None, "created_at": AT},
        [*entries, entry("comment", "public", note="<script>alert(1)</script>")],
    )
    assert "hunter2" not in page and "agent:7" not in page and "SLA clock" not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
