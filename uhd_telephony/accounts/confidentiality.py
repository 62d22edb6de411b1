"""The confidentiality obligation (§ 203 StGB) every account acknowledges before it may do anything else.

The helpdesk's staff work for hospitals: what they hear and read of patients and staff is a professional secret,
and as people the hospitals involve in their work they are bound by § 203 (4) StGB. The operator must bind them
in writing; here each account acknowledges the text below at its first login, and again when the text changes.
The text is legal wording with a version, not a page text: a change is a new ``VERSION`` (and every account
acknowledges once more) — ``tests/accounts/test_confidentiality.py`` keeps the wording's digest per version, so
an edit without a new version fails. German first, English second: the page shows both.

What is recorded: ``accounts.confidentiality_version`` and ``confidentiality_at`` (the latest, what the gate in
``web.auth.require`` reads) and an audit entry per acknowledgement (``confidentiality_acknowledged``: the version,
the time, the address), which stays when the account acknowledges a later version.
"""

from __future__ import annotations

import hashlib
from typing import Any

VERSION = 1

TEXT_DE = (
    "Verpflichtung zur Verschwiegenheit nach § 203 StGB\n\n"
    "Im User Helpdesk arbeite ich für Krankenhäuser. Dabei erfahre ich Geheimnisse von Patientinnen und Patienten "
    "sowie von Beschäftigten, insbesondere zu ihrem persönlichen Lebensbereich und zu Gesundheitsdaten, die mir bei "
    "der Arbeit am Telefon, in Tickets, Anrufdaten und Systemen bekannt werden.\n\n"
    "Ich verpflichte mich, diese Geheimnisse nicht unbefugt zu offenbaren — weder während noch nach meiner "
    "Tätigkeit. Ich nehme nur so viel Kenntnis von fremden Geheimnissen, wie es für meine Aufgabe erforderlich ist, "
    "und gebe nichts an Personen außerhalb des Auftrags weiter.\n\n"
    "Mir ist bekannt, dass ich als mitwirkende Person nach § 203 Abs. 4 StGB strafbar bin, wenn ich ein fremdes "
    "Geheimnis unbefugt offenbare (Freiheitsstrafe bis zu einem Jahr oder Geldstrafe), und dass die "
    "datenschutzrechtlichen Pflichten (DSGVO, BDSG) daneben gelten. Meine Lesezugriffe auf Anrufer- und Anrufdaten "
    "werden protokolliert."
)
TEXT_EN = (
    "Obligation of confidentiality under § 203 of the German Criminal Code (StGB)\n\n"
    "In the user helpdesk I work for hospitals. In doing so I learn secrets of patients and staff, in particular "
    "about their personal lives and their health, which come to my knowledge on the phone, in tickets, call data "
    "and systems.\n\n"
    "I undertake not to disclose these secrets without authority — neither during nor after my work. I take note of "
    "others' secrets only as far as my task requires and pass nothing on to anyone outside the engagement.\n\n"
    "I am aware that, as a person involved in the work under § 203 (4) StGB, I am liable to prosecution if I "
    "disclose another's secret without authority (imprisonment of up to one year or a fine), and that the data "
    "protection duties (GDPR, BDSG) apply as well. My reads of callers' and calls' data are logged."
)


def digest() -> str:
    """SHA-256 of the current wording (both languages): what a version stands for."""
    return hashlib.sha256(f"{TEXT_DE}\n--\n{TEXT_EN}".encode()).hexdigest()


def acknowledged(version: int | None) -> bool:
    """Whether an account that last acknowledged ``version`` (None: never) has acknowledged the current text."""
    return version is not None and version >= VERSION


def document() -> dict[str, Any]:
    """The text as the acknowledgement page and ``GET /api/me/confidentiality`` show it."""
    return {"version": VERSION, "text": {"de": TEXT_DE, "en": TEXT_EN}}
