"""Request input that must become a 400, never a 500: the JSON body and the instants a client may send.

- ``read_json(request)``: the body parsed as JSON. What ``json.loads`` raises for hostile bodies is not only
  ``JSONDecodeError``: a body nested thousands of levels deep raises ``RecursionError`` and an integer of more
  than 4,300 digits raises a plain ``ValueError`` (Python's int parsing limit). Every handler reads its body
  here, so each of them answers such a body with ``invalid-json``.
- ``Instant``: a Pydantic ``datetime`` whose UTC instant exists. ``0001-01-01T00:00:00+14:00`` parses, but its
  conversion to UTC (which the store does for every bound) overflows: refused at validation instead.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator

from uhd_telephony.errors import InvalidJson

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
        raise InvalidJson("the request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and the int parsing limit (more than 4,300 digits)
        message = "the request body is not valid JSON"
        if not isinstance(exc, json.JSONDecodeError):
            message += ": a number is too long"
        raise InvalidJson(message) from None


def representable(moment: datetime) -> datetime:
    """``moment`` unchanged when it and a day either side of it have a UTC instant in any zone; else ValueError."""
    if not _EARLIEST <= moment.replace(tzinfo=None) <= _LATEST:
        raise ValueError("must be between 0001-01-03 and 9999-12-29 (its UTC instant must exist)")
    return moment


Instant = Annotated[datetime, AfterValidator(representable)]
