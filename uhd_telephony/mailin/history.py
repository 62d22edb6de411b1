"""The ticket history rows of requests by mail (action ``mail``) and how they read (``tickets.history_text``).

- ``attachments``: the attachments stored with a mail (``new``: how many; ``note``: JSON ``[{id, filename,
  size}]``), so the ticket page shows what came and the API names the ids to download;
- ``attachments_dropped``: those not stored (``note``: JSON ``[{filename, size, reason, limit}]``, reason
  ``attachment``: larger than the limit, ``mail``: beyond the mail's total, ``parts``: past the parts read);
- ``follows_up``: a reply to a closed ticket opened this one (``old``: the closed ticket's number).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from uhd_telephony.i18n import format_number
from uhd_telephony.mailin.parts import Dropped
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.history import Change

MAIL = "mail"  # the action of these rows (its label: i18n/labels.py)
ATTACHMENTS = "attachments"
DROPPED = "attachments_dropped"
FOLLOWS_UP = "follows_up"
DASH = "\u2013"


def stored_row(stored: Sequence[Mapping[str, Any]]) -> Change:
    return Change(MAIL, ATTACHMENTS, None, len(stored), json.dumps(list(stored), ensure_ascii=False))


def dropped_row(dropped: Sequence[Dropped]) -> Change:
    return Change(MAIL, DROPPED, None, len(dropped), json.dumps([d.to_dict() for d in dropped], ensure_ascii=False))


def follow_up_row(number: str) -> Change:
    return Change(MAIL, FOLLOWS_UP, number, None)


def size_text(size: int, locale: str | None) -> str:
    """``812 B``, ``12,3 kB``, ``4,5 MB`` (binary units, the reader's decimal mark)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{format_number(size / 1024, locale, digits=1)} kB"
    return f"{format_number(size / (1024 * 1024), locale, digits=1)} MB"


def _items(note: str | None) -> list[dict[str, Any]] | None:
    try:
        items = json.loads(note or "")
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    return items


def _file(item: Mapping[str, Any], locale: str | None) -> str:
    name = item.get("filename") or DASH
    return f"{name} ({size_text(int(item.get('size') or 0), locale)})"


def _dropped(item: Mapping[str, Any], ctx: history_text.Context) -> str:
    limit = size_text(int(item.get("limit") or 0), ctx.locale)
    if item.get("reason") == "parts":
        return ctx.t.gettext("the parts beyond the first %(limit)s", limit=item.get("limit"))
    if item.get("reason") == "mail":
        return ctx.t.gettext(
            "%(file)s is beyond the %(limit)s a mail may bring", file=_file(item, ctx.locale), limit=limit
        )
    return ctx.t.gettext("%(file)s is larger than %(limit)s", file=_file(item, ctx.locale), limit=limit)


@history_text.describes(MAIL)
def describe(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    """A ``mail`` row in words: the attachments stored or not, the closed ticket this one follows up."""
    field = entry.get("field")
    if field == FOLLOWS_UP:
        return ctx.t.gettext("Follow-up to the closed ticket %(number)s", number=entry.get("old_value") or "")
    items = _items(entry.get("note"))
    if field == ATTACHMENTS and items is not None:
        files = ", ".join(_file(i, ctx.locale) for i in items)
        return ctx.t.gettext("Attachments received: %(files)s", files=files)
    if field == DROPPED and items is not None:
        files = "; ".join(_dropped(i, ctx) for i in items)
        return ctx.t.gettext("Attachments not stored: %(files)s", files=files)
    return history_text.with_note(ctx.t.gettext("Mail received"), entry.get("note"), ctx)
