"""What a caller of a tenant with an open major incident hears: the recorded prompts' names and texts, and the
playlist the dialplan plays (``UHD_INCIDENT_PROMPT``). Standard library ``re`` only: the AGI lookup imports it within
its 500 ms (``prompt`` speaks the incidents' own announcements with espeak-ng)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# the recorded prompts, as the dialplan plays them (asterisk/sounds is Asterisk's sounds/custom)
GENERIC_PROMPT = "custom/uhd-incident-generic"
KEY_PROMPT = "custom/uhd-incident-press-1"
SUBSCRIBED_PROMPT = "custom/uhd-incident-subscribed"
# what the recorded prompts say (German: the callers' language); their files are made from these texts
RECORDED: dict[str, str] = {
    GENERIC_PROMPT: "Zurzeit liegt eine größere Störung vor. Wir arbeiten mit Hochdruck an der Behebung.",
    KEY_PROMPT: (
        "Wenn Sie benachrichtigt werden möchten, sobald die Störung behoben ist, drücken Sie die Eins. "
        "Wenn Sie ein anderes Anliegen haben, bleiben Sie bitte in der Leitung."
    ),
    SUBSCRIBED_PROMPT: "Vielen Dank. Wir benachrichtigen Sie, sobald die Störung behoben ist. Auf Wiederhören.",
}

# a sound as the dialplan names it: path parts of letters, digits, ".", "_", "-" (no ",", "&", ")" or "..", which
# would end Read()'s argument, start another file or leave the sounds directory)
_PROMPT_PART = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*"
_SAFE_PROMPT = re.compile(rf"{_PROMPT_PART}(?:/{_PROMPT_PART})*")
MAX_PROMPT = 255


def playlist(prompts: Iterable[str | None]) -> str:
    """The prompts of open incidents as Read()/Playback() take them: joined with ``&``, each once, the recorded
    generic announcement where an incident has no prompt of its own (``None``) or one the dialplan cannot name."""
    out: list[str] = []
    for prompt in prompts:
        name = prompt if prompt and len(prompt) <= MAX_PROMPT and _SAFE_PROMPT.fullmatch(prompt) else GENERIC_PROMPT
        if name not in out:
            out.append(name)
    return "&".join(out)


def announcement(incidents: Iterable[tuple[int, str | None]]) -> tuple[str, str]:
    """``(UHD_INCIDENT, UHD_INCIDENT_PROMPT)`` for a tenant's open incidents ``(id, prompt)``, newest first: the ids
    comma-separated and their announcements' playlist; two empty strings when there is none."""
    rows = list(incidents)
    return ",".join(str(int(i)) for i, _ in rows), playlist(p for _, p in rows) if rows else ""
