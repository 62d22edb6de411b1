"""The caller's status page, ``GET /status/{token}``: no login, the token from the mail is the only key.

The page is found by the token's sha256 (an indexed equality lookup: no stored secret is ever compared byte by
byte), and shows that ticket's number, status and category and its public history — creation, status changes,
forwarding ("an den 2nd-Level-Support weitergeleitet") — without notes, actors or anything internal. A token
that matches nothing gets the same plain 404 page as a malformed one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from uhd_telephony.tickets.groups import public_label
from uhd_telephony.tickets.history import Action, history
from uhd_telephony.tickets.notify import token_hash
from uhd_telephony.tickets.view import tickets, view_select
from uhd_telephony.web import keys

LOCAL_TZ = ZoneInfo("Europe/Berlin")
# secrets.token_urlsafe(32) is 43 characters; anything far from that is not one of ours
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
STATUS_LABELS = {
    "new": ("Neu", "New"),
    "in_progress": ("In Bearbeitung", "In progress"),
    "waiting": ("Wartet auf Ihre Rückmeldung", "Waiting for your reply"),
    "resolved": ("Gelöst", "Resolved"),
    "closed": ("Abgeschlossen", "Closed"),
    "reopened": ("Wieder geöffnet", "Reopened"),
}
PAGE_HEADERS = {"X-Robots-Tag": "noindex, nofollow"}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/status/{token}", status_page)


def _status(value: str | None) -> tuple[str, str]:
    return STATUS_LABELS.get(value or "", (value or "-", value or "-"))


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(LOCAL_TZ).strftime("%d.%m.%Y %H:%M")


def public_history(entries: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, str, str]]:
    """(time, German, English) for each entry a caller may see; notes, actors and internal fields left out."""
    out: list[tuple[datetime, str, str]] = []
    for e in entries:
        if e["action"] == Action.CREATED.value:
            out.append((e["at"], "Anfrage erfasst", "Request recorded"))
        elif e["action"] == Action.STATUS.value and e["field"] == "status":
            de, en = _status(e["new_value"])
            out.append((e["at"], f"Status: {de}", f"Status: {en}"))
        elif e["action"] == Action.ROUTED.value:
            de, en = public_label(e["new_value"])
            out.append((e["at"], f"Weitergeleitet an {de}", f"Forwarded to {en}"))
        elif e["action"] == Action.COMMENT.value and e["field"] == "public" and e.get("note"):
            # a comment the agent marked public (tickets API); internal ones never reach the caller
            out.append((e["at"], f"Nachricht des Helpdesks: {e['note']}", "Message from the helpdesk (see above)"))
    return out


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="de"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f'<link rel="stylesheet" href="/static/status.css"><title>{html.escape(title)}</title></head>'
        f"<body><main>{body}</main></body></html>\n"
    )


def not_found() -> web.Response:
    body = (
        "<h1>Link ungültig / Link not valid</h1>"
        "<p>Dieser Statuslink ist unbekannt oder nicht mehr gültig. Bitte verwenden Sie den Link aus der neuesten "
        "E-Mail zu Ihrer Anfrage oder rufen Sie den IT-Helpdesk an.</p>"
        '<p lang="en">This status link is unknown or no longer valid. Please use the link in the most recent '
        "mail about your request, or call the IT helpdesk.</p>"
    )
    return web.Response(
        text=_page("Link ungültig / Link not valid", body), status=404, content_type="text/html", headers=PAGE_HEADERS
    )


def render(row: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    """The page of one ticket: number, status, category, public history."""
    e = html.escape
    de, en = _status(row["status"])
    category = row["category_name"] or "noch nicht zugeordnet / not yet classified"
    items = "".join(
        f'<tr><td>{e(_when(at))}</td><td>{e(de_text)}<br><span lang="en">{e(en_text)}</span></td></tr>'
        for at, de_text, en_text in public_history(entries)
    )
    body = (
        f"<h1>Ihre Anfrage / Your request {e(row['number'])}</h1>"
        "<dl>"
        f'<dt>Status</dt><dd>{e(de)} <span lang="en">/ {e(en)}</span></dd>'
        f"<dt>Kategorie / Category</dt><dd>{e(category)}</dd>"
        f"<dt>Erfasst / Recorded</dt><dd>{e(_when(row['created_at']))}</dd>"
        "</dl>"
        "<h2>Verlauf / History</h2>"
        f"<table><thead><tr><th>Zeit / Time</th><th>Ereignis / Event</th></tr></thead><tbody>{items}</tbody></table>"
        "<p><small>Zeiten in deutscher Ortszeit. / Times in German local time.</small></p>"
    )
    return _page(f"{row['number']} - Status", body)


async def status_page(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    if not _TOKEN_RE.match(token):
        return not_found()
    db = request.app[keys.DB]
    async with db.engine.connect() as conn:
        stmt = view_select().where(tickets.c.status_token_hash == token_hash(token))
        row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return not_found()
        entries = [
            dict(r)
            for r in (
                await conn.execute(select(history).where(history.c.ticket_id == row["id"]).order_by(history.c.id))
            ).mappings()
        ]
    return web.Response(text=render(row, entries), content_type="text/html", headers=PAGE_HEADERS)
