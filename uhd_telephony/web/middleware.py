"""Middlewares: JSON errors without stack traces, security headers, CSRF and Origin checks."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError

from uhd_telephony.errors import UhdError
from uhd_telephony.i18n import N_, Msg, gettext
from uhd_telephony.web import keys
from uhd_telephony.web.inputs import problem
from uhd_telephony.web.locale import request_locale

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# a page may load only our own scripts and styles, and talk only to us (the console's WebSocket included)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# the console needs none of the browser's powerful features: deny them to it and to anything it might embed
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), usb=()"
)


def error_body(error_id: str, message: str, details: dict | None = None, *, text: str | None = None) -> dict:
    """The JSON of an error: ``message`` in English (programs, logs), ``text`` for people in their language."""
    body = {"error_id": error_id, "message": message, "details": details or {}}
    if text is not None:
        body["text"] = text
    return body


# what people read when a message has no translation of its own (German and English people alike: by status)
_GENERIC: dict[int, str] = {
    400: N_("The input is not valid."),
    401: N_("Please log in."),
    403: N_("You are not allowed to do this."),
    404: N_("Not found."),
    405: N_("Not possible here."),
    409: N_("Not possible in the current state."),
    413: N_("The request is too large."),
    429: N_("Too many attempts: please wait a moment."),
    502: N_("The telephone system refused the action."),
    503: N_("A component is not available right now: please try again shortly."),
}


def error_text(request: web.Request, status: int, message: str) -> str:
    """``message`` for the person who asked: a ``Msg`` translated into their language; an untranslated message
    as it is for English readers, else the status's general sentence (never English in a German page)."""
    locale = request_locale(request)
    if isinstance(message, Msg):
        return message.render(locale)
    if locale == "en" and message:
        return message
    fallback = _GENERIC.get(status, N_("Something went wrong: please try again."))
    return gettext(locale, fallback)


# the problems of an invalid request that its ``text`` tells (each problem has its own ``text`` too)
TOLD_PROBLEMS = 3


def _problems(request: web.Request, exc: ValidationError) -> tuple[list[dict[str, str]], str]:
    """``details.problems`` (field, Pydantic's English ``problem``, ``text`` for people) and the answer's ``text``:
    what is wrong with which field, in the requester's language ("Betreff fehlt: bitte ausfüllen.")."""
    locale = request_locale(request)
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"])
        problems.append({"field": field, "problem": error["msg"], "text": problem(error).render(locale)})
    told = list(dict.fromkeys(p["text"] for p in problems))
    if not told:
        return problems, gettext(locale, _GENERIC[400])
    text = " ".join(told[:TOLD_PROBLEMS])
    if len(told) > TOLD_PROBLEMS:
        text += " " + gettext(locale, "(and %(n)s more)", n=len(told) - TOLD_PROBLEMS)
    return problems, text


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as ``{"error_id", "message", "details"}`` with the right status; never a traceback."""
    try:
        return await handler(request)
    except UhdError as exc:
        # Retry-After of a lockout, WWW-Authenticate of a bad token
        body = {**exc.to_dict(), "text": error_text(request, exc.status_code, exc.message)}
        return web.json_response(body, status=exc.status_code, headers=getattr(exc, "headers", None))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        error_id = exc.reason.lower().replace(" ", "-")
        text = error_text(request, exc.status, "")
        return web.json_response(error_body(error_id, exc.reason, text=text), status=exc.status, headers=_keep(exc))
    except ValidationError as exc:
        problems, text = _problems(request, exc)
        return web.json_response(
            error_body("invalid-request", "invalid request", {"problems": problems}, text=text), status=400
        )
    except json.JSONDecodeError:  # a body that is not JSON, should a handler parse one itself (web.inputs.read_json)
        message = Msg("the request body is not valid JSON")
        body = error_body("invalid-json", message, text=error_text(request, 400, message))
        return web.json_response(body, status=400)
    except UnicodeDecodeError:
        message = Msg("the request body is not UTF-8")
        body = error_body("bad-encoding", message, text=error_text(request, 400, message))
        return web.json_response(body, status=400)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        body = error_body("internal-error", "internal error", text=error_text(request, 500, ""))
        return web.json_response(body, status=500)


def _unstorable(text: str) -> bool:
    """Text no database takes as a value: a NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@web.middleware
async def hostile_input(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path (404) or query (400) with a NUL byte or a lone surrogate is refused before a handler queries with it.

    Bodies are checked by each handler's Pydantic model; a path segment or query value reaches SQL as it is,
    and PostgreSQL answers a NUL in text with an error (a 500), SQLite with a silent miss.
    """
    if _unstorable(request.path):  # no resource has such a name
        return web.json_response(error_body("not-found", "not found", text=error_text(request, 404, "")), status=404)
    if any(_unstorable(k) or _unstorable(v) for k, v in request.query.items()):
        message = Msg("the query contains a NUL byte or invalid Unicode")
        return web.json_response(
            error_body("invalid-request", message, text=error_text(request, 400, message)), status=400
        )
    return await handler(request)


def _keep(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Location", "Allow", "Retry-After")}


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    settings = request.app.get(keys.SETTINGS)
    if settings is not None and settings.cookie_secure and settings.hsts_max_age_s > 0:
        # only behind HTTPS: a browser that saw HSTS over plain HTTP of a test install would be locked out
        response.headers.setdefault("Strict-Transport-Security", f"max-age={settings.hsts_max_age_s}")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The headers on every answer: a returned one, and a raised one (a redirect such as the pages' to /login
    is an HTTPException that ``errors`` lets through: it is the response aiohttp sends)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(request, exc)
        raise
    _secure(request, response)
    return response


def _origin(scheme: str, authority: str) -> tuple[str, str, int] | None:
    """(scheme, host, port with the scheme's default filled in) of a bare http(s) origin, None for anything else."""
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or not authority or any(c in authority for c in "/?#@\\ \t\r\n"):
        return None
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return scheme, parts.hostname, DEFAULT_PORTS[scheme] if port is None else port


def same_origin(request: web.Request) -> bool:
    """A browser's Origin header, when sent, must be this server: scheme, host and port (CSRF defence in depth).

    The scheme is the request's; with ``UHD_COOKIE_SECURE`` (the service behind HTTPS, TLS ended by a reverse
    proxy in front, which talks plain HTTP to us) it is https, and an http origin is refused.
    """
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    scheme, sep, authority = origin.partition("://")
    if not sep:
        return False
    settings = request.app.get(keys.SETTINGS)
    ours = "https" if settings is not None and settings.cookie_secure else request.scheme
    theirs = _origin(scheme, authority)
    return theirs is not None and theirs == _origin(ours, request.host)


def csrf_ok(request: web.Request, expected: str | None) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(expected) and hmac.compare_digest(sent, expected or "")
