"""Phone number normalisation: every way a number is written (caller ID, CSV cell) to one lookup key.

Two key spaces:

- a public number becomes its E.164 form (``0231/98 60 572``, ``+49 231 9860572``, ``0049 231 9860572`` and
  ``(0231) 98-60-572`` all become ``+492319860572``), parsed with ``phonenumbers`` in the tenant's region;
- an internal extension (digits only, no leading 0, at most ``max_extension_length`` digits) becomes
  ``ext:4711``. A leading 0 is the trunk prefix in Germany, so ``0800`` is never an extension.

Caller IDs come in every shape carriers and PBXs deliver, and each finds the same key: international with ``+``
(``+4923198601000``) or ``00`` (``004923198601000``) or, from some SIP trunks, neither (``4923198601000``: digits
that start with the region's own country code and are a valid number that way, before any national reading);
national with the trunk prefix (``023198601000``); and behind a PBX whose outside line is dialled with 0, with one
more 0 in front (``0023198601000`` is not an international number to +231, it is 0 + ``023198601000``: a number
starting 00 that is no valid number as written is read once more without that 0).

A caller ID that is no number at all (``anonymous``, ``<unknown>``, ``s``, empty, garbage) normalises to None.
With a tenant ``extension_prefix`` (the number block of the hospital's PBX, e.g. ``+49231986``) the two key
spaces meet: ``+492319864711`` and ``ext:4711`` are the same phone, and ``NumberingPlan.keys`` returns both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

DEFAULT_REGION = "DE"
DEFAULT_MAX_EXTENSION_LENGTH = 6
EXTENSION = "ext:"

# what Asterisk and carriers put in CALLERID(num) for a withheld number; the general rule (no valid number)
# catches them too, this set just says so without asking phonenumbers
_NO_NUMBER = frozenset(
    {"", "s", "anonymous", "unknown", "<unknown>", "restricted", "private", "privat", "unavailable", "withheld"}
)
# separators people type inside an extension ("47-11", "47 11"); a number with "+" or "(" is never one
_EXTENSION_SEPARATORS = re.compile(r"[\s\-./]")
_DIGITS = re.compile(r"[0-9]+")
_PREFIX = re.compile(r"\+[1-9][0-9]{1,13}")
# a SIP or tel URI as some trunks send it: sip:+492319860572@carrier.example;user=phone
_URI = re.compile(r"^(?:sips?|tel):([^@;]*)", re.IGNORECASE)
_MAX_RAW = 64  # a caller ID longer than this is garbage, not a number: don't hand it to the parser


def is_extension(key: str) -> bool:
    """True for a key of the internal extension space (``ext:4711``)."""
    return key.startswith(EXTENSION)


def normalise(
    raw: str | None,
    region: str = DEFAULT_REGION,
    *,
    max_extension_length: int = DEFAULT_MAX_EXTENSION_LENGTH,
) -> str | None:
    """The lookup key of ``raw``: E.164 (``+492319860572``), ``ext:4711`` for an extension, or None."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower() in _NO_NUMBER or len(text) > _MAX_RAW:
        return None
    uri = _URI.match(text)
    if uri is not None:
        text = uri.group(1).strip()
    compact = _EXTENSION_SEPARATORS.sub("", text)
    digits = _DIGITS.fullmatch(compact) is not None
    if digits and compact[0] != "0":
        if len(compact) <= max_extension_length:
            return EXTENSION + compact
        # international without + or 00 (4923198601000), as some trunks send it: before the national reading
        # (which would make it +49 4923...), when the digits start with the region's own country code
        if compact.startswith(str(phonenumbers.country_code_for_region(region))):
            key = _e164("+" + compact, region)
            if key is not None:
                return key
    key = _e164(text, region)
    if key is None and digits and compact.startswith("00"):
        # the PBX's outside-line 0 before a national (0023198601000) or international (00049...) number
        key = _e164(compact[1:], region)
    return key


def _e164(text: str, region: str) -> str | None:
    """The E.164 form of a valid number, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # valid, not merely possible: German numbers have such varied lengths that "possible" lets "0800" through
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class NumberingPlan:
    """How one tenant's numbers are read: default region, internal extension length, the PBX number block."""

    region: str = DEFAULT_REGION
    extension_prefix: str | None = None
    max_extension_length: int = DEFAULT_MAX_EXTENSION_LENGTH

    def __post_init__(self) -> None:
        if self.region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {self.region!r}: use a two-letter country code such as DE, AT, CH")
        if not 1 <= self.max_extension_length <= 10:
            raise ValueError(f"max_extension_length must be 1..10, got {self.max_extension_length}")
        if self.extension_prefix is not None and not _PREFIX.fullmatch(self.extension_prefix):
            raise ValueError(
                f"extension_prefix must start an E.164 number, such as +49231986; got {self.extension_prefix!r}"
            )

    def normalise(self, raw: str | None) -> str | None:
        """``normalise(raw)`` in this plan's region and extension length."""
        return normalise(raw, self.region, max_extension_length=self.max_extension_length)

    def alternate(self, key: str) -> str | None:
        """The same phone's key in the other key space, through ``extension_prefix``; None without one."""
        prefix = self.extension_prefix
        if prefix is None:
            return None
        if is_extension(key):
            return prefix + key[len(EXTENSION) :]
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if rest and rest[0] != "0" and len(rest) <= self.max_extension_length:
                return EXTENSION + rest
        return None

    def keys(self, raw: str | None) -> tuple[str, ...]:
        """Every key ``raw`` may be stored under, the normalised one first; empty for no number."""
        key = self.normalise(raw)
        if key is None:
            return ()
        other = self.alternate(key)
        return (key,) if other is None else (key, other)
