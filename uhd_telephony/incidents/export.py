"""The NIS2 export of major incidents: one incident or a period's, as CSV for people and JSON for programs.

The CSV (through ``csv_safe``: a title starting like a formula stays text) has its headers and words in the
reader's language — German unless the account chose English — and every time in German local time as people
write it (``07.12.2026, 12:05``); the JSON keeps the codes and ISO 8601 instants. Both carry the deadlines of
``incidents.view.Deadlines`` (early warning 24 h after known, notification 72 h, final report one month after).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from uhd_telephony import csv_safe
from uhd_telephony.i18n import LOCAL_TZ_NAME, N_, format_datetime, format_duration, label, translator
from uhd_telephony.incidents.view import IncidentView


def _when(moment: datetime | None, locale: str) -> str:
    return format_datetime(moment, locale) if moment else ""


def _names(view: IncidentView) -> tuple[str, str]:
    return view.declared_by_name or "", view.resolved_by_name or ""


# header msgid -> the cell of an incident in a language
COLUMNS: tuple[tuple[str, Callable[[IncidentView, str], Any]], ...] = (
    (N_("Incident no."), lambda v, loc: v.id),
    (N_("Title"), lambda v, loc: v.title),
    (N_("Category"), lambda v, loc: v.category_label or ""),
    (N_("Status"), lambda v, loc: label("incident_status", v.status, loc)),
    (N_("Became known"), lambda v, loc: _when(v.known_at, loc)),
    (N_("Declared"), lambda v, loc: _when(v.declared_at, loc)),
    (N_("Users informed"), lambda v, loc: _when(v.communicated_at, loc)),
    (N_("Resolved"), lambda v, loc: _when(v.resolved_at, loc)),
    (N_("Duration (known to resolved)"), lambda v, loc: format_duration(v.duration_s(), loc) if v.resolved_at else ""),
    (N_("Early warning due (24 h)"), lambda v, loc: _when(v.deadlines.early_warning, loc)),
    (N_("Incident notification due (72 h)"), lambda v, loc: _when(v.deadlines.notification, loc)),
    (N_("Final report due (one month)"), lambda v, loc: _when(v.deadlines.final_report, loc)),
    (N_("Parent ticket"), lambda v, loc: v.parent_number or ""),
    (N_("Linked tickets"), lambda v, loc: v.tickets),
    (N_("Callers who asked to be told"), lambda v, loc: v.subscribers),
    (N_("Declared by"), lambda v, loc: _names(v)[0]),
    (N_("Resolved by"), lambda v, loc: _names(v)[1]),
    (N_("Message to callers"), lambda v, loc: v.caller_message),
    (N_("Resolution"), lambda v, loc: v.resolution or ""),
)


def to_csv(views: Sequence[IncidentView], locale: str) -> str:
    """One row per incident under the headers, in ``locale`` (times in German local time)."""
    t = translator(locale)
    out = io.StringIO()
    w = csv_safe.writer(out, lineterminator="\r\n")
    w.writerow([t.gettext(header) for header, _ in COLUMNS])
    for view in views:
        w.writerow([cell(view, t.locale) for _, cell in COLUMNS])
    return out.getvalue()


def to_json(
    views: Sequence[IncidentView], *, tenant: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """The incidents with their deadlines (``IncidentView.to_dict``), and the period they were asked for."""
    return {
        "tenant": tenant,
        "from": None if start is None else start.isoformat(),
        "to": None if end is None else end.isoformat(),
        "timezone": LOCAL_TZ_NAME,
        "incidents": [v.to_dict() for v in views],
    }
