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

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.i18n import N_, format_datetime, gettext, label
from uhd_telephony.tickets.groups import public_label
from uhd_telephony.tickets.history import Action, history
from uhd_telephony.tickets.notify import token_hash
from uhd_telephony.tickets.view import tickets, view_select
from uhd_telephony.web import keys

# secrets.token_urlsafe(32) is 43 characters; anything far from that is not one of ours
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
PAGE_HEADERS = {"X-Robots-Tag": "noindex, nofollow"}
# a caller has no account: the page speaks German, and English beneath (the same catalog as every page)
LANGUAGES = ("de", "en")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/status/{token}", status_page)


def _status(value: str | None) -> tuple[str, str]:
    de, en = (label("public_status", value, locale) for locale in LANGUAGES)
    return de, en


def both(msgid: str, **params: Any) -> tuple[str, str]:
    de, en = (gettext(locale, msgid, **params) for locale in LANGUAGES)
    return de, en


def pair(msgid: str) -> str:
    """A heading in both languages: "Verlauf / History"."""
    return " / ".join(both(msgid))


def _when(at: datetime | None) -> str:
    return format_datetime(at, "de")


def public_history(entries: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, str, str]]:
    """(time, German, English) for each entry a caller may see; notes, actors and internal fields left out."""
    out: list[tuple[datetime, str, str]] = []
    for e in entries:
        if e["action"] == Action.CREATED.value:
            out.append((e["at"], *both(N_("Request recorded"))))
        elif e["action"] == Action.STATUS.value and e["field"] == "status":
            de, en = _status(e["new_value"])
            out.append(
                (
                    e["at"],
                    gettext("de", "Status: %(status)s", status=de),
                    gettext("en", "Status: %(status)s", status=en),
                )
            )
        elif e["action"] == Action.ROUTED.value:
            de, en = public_label(e["new_value"])
            out.append(
                (
                    e["at"],
                    gettext("de", "Forwarded to %(group)s", group=de),
                    gettext("en", "Forwarded to %(group)s", group=en),
                )
            )
        elif e["action"] == Action.COMMENT.value and e["field"] == "public" and e.get("note"):
            # a comment the agent marked public (tickets API); internal ones never reach the caller
            de = gettext("de", "Message from the helpdesk: %(text)s", text=e["note"])
            out.append((e["at"], de, gettext("en", "Message from the helpdesk (see above)")))
    return out


def page(title: str, body: str, *, script: str | None = None) -> str:
    """A public page of a ticket's link (the status page, feedback's rating page): its stylesheet, ``script`` a
    static file of ours (the CSP allows no inline script)."""
    tag = f'<script src="{html.escape(script)}"></script>' if script else ""
    return (
        '<!doctype html>\n<html lang="de"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f'<link rel="stylesheet" href="/static/status.css"><title>{html.escape(title)}</title></head>'
        f"<body><main>{body}</main>{tag}</body></html>\n"
    )


def not_found() -> web.Response:
    e = html.escape
    title_de, title_en = both(N_("Link not valid"))
    text_de, text_en = both(
        N_(
            "This status link is unknown or no longer valid. Please use the link in the most recent mail about your "
            "request, or call the IT helpdesk."
        )
    )
    title = f"{title_de} / {title_en}"
    body = f'<h1>{e(title)}</h1><p>{e(text_de)}</p><p lang="en">{e(text_en)}</p>'
    return web.Response(text=page(title, body), status=404, content_type="text/html", headers=PAGE_HEADERS)


def render(row: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    """The page of one ticket: number, status, category, public history."""
    e = html.escape
    de, en = _status(row["status"])
    category = row["category_name"] or " / ".join(both(N_("not yet classified")))
    items = "".join(
        f'<tr><td>{e(_when(at))}</td><td>{e(de_text)}<br><span lang="en">{e(en_text)}</span></td></tr>'
        for at, de_text, en_text in public_history(entries)
    )
    heading = " / ".join(both(N_("Your request %(number)s"), number=row["number"]))
    body = (
        f"<h1>{e(heading)}</h1>"
        "<dl>"
        f'<dt>{e(pair(N_("Status")))}</dt><dd>{e(de)} <span lang="en">/ {e(en)}</span></dd>'
        f"<dt>{e(pair(N_('Category')))}</dt><dd>{e(category)}</dd>"
        f"<dt>{e(pair(N_('Recorded')))}</dt><dd>{e(_when(row['created_at']))}</dd>"
        "</dl>"
        f"<h2>{e(pair(N_('History')))}</h2>"
        f"<table><thead><tr><th>{e(pair(N_('Time')))}</th><th>{e(pair(N_('Event')))}</th></tr></thead>"
        f"<tbody>{items}</tbody></table>"
        f"<p><small>{e(pair(N_('Times in German local time (Europe/Berlin).')))}</small></p>"
    )
    return page(f"{row['number']} - Status", body)


async def ticket_of(conn: AsyncConnection, token: str) -> Mapping[str, Any] | None:
    """The ticket (``view_select`` row) whose current status link is ``token``; None for a malformed token, one
    replaced by a later mail's, or one that was never ours."""
    if not _TOKEN_RE.match(token):
        return None
    stmt = view_select().where(tickets.c.status_token_hash == token_hash(token))
    return (await conn.execute(stmt)).mappings().first()


async def status_page(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    db = request.app[keys.DB]
    async with db.engine.connect() as conn:
        row = await ticket_of(conn, token)
        if row is None:
            return not_found()
        entries = [
            dict(r)
            for r in (
                await conn.execute(select(history).where(history.c.ticket_id == row["id"]).order_by(history.c.id))
            ).mappings()
        ]
    return web.Response(text=render(row, entries), content_type="text/html", headers=PAGE_HEADERS)
