"""Request input that must become a 400, never a 500: the JSON body and the instants a client may send.

- ``read_json(request)``: the body parsed as JSON. What ``json.loads`` raises for hostile bodies is not only
  ``JSONDecodeError``: a body nested thousands of levels deep raises ``RecursionError`` and an integer of more
  than 4,300 digits raises a plain ``ValueError`` (Python's int parsing limit). Every handler reads its body
  here, so each of them answers such a body with ``invalid-json``.
- ``Instant``: a Pydantic ``datetime`` whose UTC instant exists. ``0001-01-01T00:00:00+14:00`` parses, but its
  conversion to UTC (which the store does for every bound) overflows: refused at validation instead.
- ``problem(error)``: what a Pydantic validation error says, for people (``Msg``): the field by its label
  (``i18n.labels``, ``field.<name>``), the rule it broke (required, too long, at most …) in their language.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator
from pydantic_core import ErrorDetails

from uhd_telephony.errors import InvalidInput, InvalidJson
from uhd_telephony.i18n import LOCAL_TZ, N_, Label, Msg, Quoted
from uhd_telephony.i18n.labels import LABELS

# a naive instant is read in a local zone (Europe/Berlin) and may have a day added (an end date's next
# midnight): keep this far from datetime.min/max, so no offset (at most ±24 h) or day carries it over the edge
_MARGIN = timedelta(days=2)
_EARLIEST = datetime.min + _MARGIN
_LATEST = datetime.max - _MARGIN


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; anything ``json.loads`` refuses (or chokes on) is a 400 ``invalid-json``."""
    text = await request.text()  # a body that is not UTF-8: the errors middleware's 400 bad-encoding
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidJson(Msg("the request body is nested too deeply")) from None
    except ValueError as exc:  # JSONDecodeError, and the int parsing limit (more than 4,300 digits)
        if not isinstance(exc, json.JSONDecodeError):
            raise InvalidJson(Msg("the request body is not valid JSON: a number is too long")) from None
        raise InvalidJson(Msg("the request body is not valid JSON")) from None


def representable(moment: datetime) -> datetime:
    """``moment`` unchanged when it and a day either side of it have a UTC instant in any zone; else ValueError."""
    if not _EARLIEST <= moment.replace(tzinfo=None) <= _LATEST:
        raise ValueError(Msg("must be between 0001-01-03 and 9999-12-29 (its UTC instant must exist)"))
    return moment


Instant = Annotated[datetime, AfterValidator(representable)]


def _moment(value: str, name: str, *, end: bool) -> datetime:
    """A period's bound: a day (its local midnight; an end day is included: the next midnight) or an instant (one
    without an offset in local time)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(0), LOCAL_TZ)
        else:
            moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        not_a_date = Msg(
            "%(field)s is not an ISO date (2026-03-01) or datetime (2026-03-01T08:00:00+01:00)",
            field=Label("field", name),
        )
        raise InvalidInput(not_a_date, {"field": name}) from None
    try:
        representable(moment)  # 0001-01-01 parses, but its UTC instant (how the store compares) does not exist
    except ValueError:
        out_of_range = Msg(
            "%(field)s must be between 0001-01-03 and 9999-12-29 (its UTC instant must exist)",
            field=Label("field", name),
        )
        raise InvalidInput(out_of_range, {"field": name}) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=LOCAL_TZ)


def period(start: str, end: str, longest: timedelta) -> tuple[datetime, datetime]:
    """``[from, to)`` as aware datetimes from a query's ``from`` and ``to``: ISO days in Europe/Berlin (``to``
    included: 2026-03-01 to 2026-03-31 is March) or ISO instants (``to`` excluded; without an offset: Berlin
    time); at most ``longest``. The KPI API's and the incidents export's periods."""
    first, last = _moment(start, "from", end=False), _moment(end, "to", end=True)
    if last <= first:
        raise InvalidInput(Msg("to must be after from"), {"from": start, "to": end})
    if last - first > longest:
        raise InvalidInput(Msg("a period of at most %(days)s days", days=longest.days), {"from": start, "to": end})
    return first, last


# what a Pydantic error type says about its field (``%(field)s``: the field's label)
_PROBLEMS: dict[str, str] = {
    "missing": N_("%(field)s is required"),
    "string_type": N_("%(field)s must be text"),
    "string_pattern_mismatch": N_("%(field)s does not have the expected form"),
    "int_type": N_("%(field)s must be a whole number"),
    "int_parsing": N_("%(field)s must be a whole number"),
    "int_from_float": N_("%(field)s must be a whole number"),
    "float_type": N_("%(field)s must be a number"),
    "float_parsing": N_("%(field)s must be a number"),
    "bool_type": N_("%(field)s must be true or false"),
    "bool_parsing": N_("%(field)s must be true or false"),
    "list_type": N_("%(field)s must be a list"),
    "dict_type": N_("%(field)s must be an object"),
    "model_type": N_("%(field)s must be an object"),
    "model_attributes_type": N_("%(field)s must be an object"),
    "datetime_type": N_("%(field)s is not a valid date and time"),
    "datetime_parsing": N_("%(field)s is not a valid date and time"),
    "datetime_from_date_parsing": N_("%(field)s is not a valid date and time"),
    "datetime_object_invalid": N_("%(field)s is not a valid date and time"),
    "date_type": N_("%(field)s is not a valid date"),
    "date_parsing": N_("%(field)s is not a valid date"),
    "date_from_datetime_parsing": N_("%(field)s is not a valid date"),
    "date_from_datetime_inexact": N_("%(field)s is not a valid date"),
    "literal_error": N_("%(field)s has a value that is not offered"),
    "enum": N_("%(field)s has a value that is not offered"),
    "extra_forbidden": N_("%(field)s is not expected here"),
}
# the types with a limit: (the limit's name in the error's ctx, the message)
_LIMITS: dict[str, tuple[str, str]] = {
    "string_too_long": ("max_length", N_("%(field)s is longer than %(limit)s characters")),
    "string_too_short": ("min_length", N_("%(field)s is shorter than %(limit)s characters")),
    "too_long": ("max_length", N_("%(field)s has more than %(limit)s entries")),
    "too_short": ("min_length", N_("%(field)s needs at least %(limit)s entries")),
    "greater_than_equal": ("ge", N_("%(field)s must be at least %(limit)s")),
    "greater_than": ("gt", N_("%(field)s must be greater than %(limit)s")),
    "less_than_equal": ("le", N_("%(field)s must be at most %(limit)s")),
    "less_than": ("lt", N_("%(field)s must be less than %(limit)s")),
}


def field_of(loc: Sequence[int | str]) -> str | None:
    """The field a validation error's ``loc`` names, as ``i18n.labels`` knows it: ``requester.number`` (a
    nested one with a label of its own), else its last name (``hotlines.0.queue`` -> ``queue``); None for
    the body itself."""
    names = [str(part) for part in loc if isinstance(part, str)]
    if not names:
        return None
    dotted = ".".join(names[-2:])
    return dotted if dotted in LABELS["field"] else names[-1]


def _said(error: ErrorDetails) -> Msg | None:
    """What a validator said when it raised ``ValueError(Msg(...))`` (Pydantic keeps the exception in ctx)."""
    cause = (error.get("ctx") or {}).get("error")
    said = cause.args[0] if isinstance(cause, ValueError) and cause.args else None
    return said if isinstance(said, Msg) else None


def problem(error: ErrorDetails) -> Msg:
    """One validation error for people: its field by its label (a name the client made up: quoted) and the rule
    it broke, in the reader's language when rendered."""
    name = field_of(error["loc"])
    said = _said(error)
    if name is None:  # the body as a whole
        if said is not None:
            return said
        if error["type"] in ("dict_type", "model_type", "model_attributes_type"):
            return Msg("the request body must be a JSON object")
        return Msg("the request is not valid")
    field: Label | Quoted = Label("field", name) if name in LABELS["field"] else Quoted(name, 60)
    if said is not None:  # a validator's own words: "Betreff: darf nicht leer sein."
        return Msg("%(field)s: %(problem)s", field=field, problem=said)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _LIMITS:
        key, msgid = _LIMITS[kind]
        limit = ctx.get(key)
        if kind == "string_too_short" and limit == 1:
            return Msg("%(field)s must not be empty", field=field)
        if limit is not None:
            return Msg(msgid, field=field, limit=limit)
    if kind in _PROBLEMS:
        return Msg(_PROBLEMS[kind], field=field)
    return Msg("%(field)s is not valid", field=field)
