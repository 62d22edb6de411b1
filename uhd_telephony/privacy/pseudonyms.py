"""What replaces a person: a caller's number cut to its area, and stable pseudonyms (pure functions).

- ``area_of("+49 221 4711", plan)`` is ``"+49 221 ***"``: the country and area code (``phonenumbers``' geographic
  area code, or a mobile network's code) kept, the subscriber's digits gone. An internal extension, a withheld or
  unreadable number becomes ``""``: its area says nothing and the rest says who it was.
- ``token(secret, key)`` is ``"anon:<16 hex>"``, an HMAC-SHA256 of the identity ``key`` (``user:42``,
  ``number:+492214711``, ``email:a@b.de``) under the tenant's key: the same person gets the same token in every
  table and every run, nobody without the key can find the number by trying them all.
- ``name_of(token)`` is ``"Gelöschte Person 7f3a"``: what a ticket shows where the requester's name was, so it
  still reads sensibly ("Ticket von Gelöschte Person 7f3a").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

import phonenumbers

from uhd_telephony.directory.numbers import NumberingPlan, is_extension

TOKEN_PREFIX = "anon:"
NAME_PREFIX = "Gelöschte Person "
HIDDEN = "***"
_TECH = re.compile(r"^([A-Za-z0-9_]+/)")


def token(secret: str, key: str) -> str:
    """``anon:`` and 16 hex characters of HMAC-SHA256(secret, key)."""
    digest = hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:16]


def name_of(pseudonym: str) -> str:
    """The name a pseudonymised person is shown by."""
    return NAME_PREFIX + pseudonym.removeprefix(TOKEN_PREFIX)[:4]


def is_pseudonym(value: str | None) -> bool:
    return bool(value) and (str(value).startswith(TOKEN_PREFIX) or str(value).startswith(NAME_PREFIX))


def area_of(raw: str | None, plan: NumberingPlan) -> str:
    """The number's country and area code followed by ``***``; ``""`` for an extension or no number at all."""
    if not raw or raw.endswith(HIDDEN):
        return raw or ""
    key = plan.normalise(raw)
    if key is None or is_extension(key):
        return ""
    number = phonenumbers.parse(key)
    national = phonenumbers.national_significant_number(number)
    length = phonenumbers.length_of_geographical_area_code(number)
    if length == 0:
        length = phonenumbers.length_of_national_destination_code(number)
    area = national[:length]
    return f"+{number.country_code} {area} {HIDDEN}" if area else f"+{number.country_code} {HIDDEN}"


def channel_of(channel: str | None) -> str:
    """A channel name without its endpoint: ``PJSIP/4711-0000002a`` → ``PJSIP/***`` (the extension says who)."""
    if not channel:
        return ""
    if channel.endswith(HIDDEN):
        return channel
    tech = _TECH.match(channel)
    return (tech.group(1) if tech else "") + HIDDEN


def scrub(value: Any, replacements: dict[str, str]) -> Any:
    """``value`` (a text, or JSON: dicts, lists, texts) with every occurrence of each key replaced by its value,
    longest first (a name inside a longer name is replaced as part of the longer one)."""
    needles = sorted((k for k in replacements if k and len(k) >= 3), key=len, reverse=True)
    if not needles:
        return value
    return _scrub(value, needles, replacements)


def _scrub(value: Any, needles: list[str], replacements: dict[str, str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, replacements[needle])
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, needles, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, needles, replacements) for v in value]
    return value


def contains(value: Any, needles: Iterable[str]) -> bool:
    """Whether ``value`` (text or JSON) holds any of ``needles``."""
    wanted = [n for n in needles if n and len(n) >= 3]
    return bool(wanted) and scrub(value, dict.fromkeys(wanted, "\x00")) != value
