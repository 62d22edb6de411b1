"""One language for people: German by default, English per account; Babel's catalogs, formats and labels.

The base of the house (every layer may import it; it imports nothing of the project):

- ``catalog``: the ``.po`` catalogs (read and compiled at run time, no build step), ``Translator`` /
  ``translator(locale)`` / ``gettext(locale, msgid, **params)``, ``Msg`` (a message rendered in its reader's
  language later: errors), ``N_`` (marks a msgid defined now, translated later), ``negotiate`` (Accept-Language);
- ``format``: times in Europe/Berlin (``07.12.2026, 12:05``), durations (``5 Min.``), numbers and percentages;
- ``labels``: statuses, channels, priorities, roles, history actions, actors, call outcomes in words; a ``Msg``'s
  parameters that render for their reader: ``Label`` / ``Labels`` (codes), ``Quoted`` (a value someone gave).

Adding a UI string: write it in English with the API (``t.gettext("Saved")``, ``Msg("…")``, ``N_("…")``,
``{{ _("…") }}`` in a template, ``t("…")`` or ``data-i18n="…"`` in a page), then give it its German and English
entry in ``locale/de/LC_MESSAGES/messages.po`` and ``locale/en/…`` (``python -m uhd_telephony.i18n.extract``
lists what is missing); ``tests/i18n`` fails on a msgid without both.
"""

from __future__ import annotations

from uhd_telephony.i18n.catalog import (
    DEFAULT_LOCALE,
    LOCALES,
    N_,
    Msg,
    Translator,
    check_locale,
    gettext,
    is_locale,
    messages,
    negotiate,
    render,
    translator,
)
from uhd_telephony.i18n.format import (
    LOCAL_TZ,
    LOCAL_TZ_NAME,
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    format_time,
)
from uhd_telephony.i18n.labels import (
    Label,
    Labels,
    Quoted,
    actor_label,
    channel_label,
    label,
    level_label,
    outcome_label,
    priority_label,
    role_label,
    status_label,
)

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "LOCAL_TZ",
    "LOCAL_TZ_NAME",
    "N_",
    "Label",
    "Labels",
    "Msg",
    "Quoted",
    "Translator",
    "actor_label",
    "channel_label",
    "check_locale",
    "format_date",
    "format_datetime",
    "format_duration",
    "format_number",
    "format_percent",
    "format_time",
    "gettext",
    "is_locale",
    "label",
    "level_label",
    "messages",
    "negotiate",
    "outcome_label",
    "priority_label",
    "render",
    "role_label",
    "status_label",
    "translator",
]
