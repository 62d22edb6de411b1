"""Middlewares: JSON errors without stack traces, security headers, CSRF and Origin checks."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from uhd_telephony.errors import UhdError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# a page may load only our own scripts and styles, and talk only to us (the console's WebSocket included)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def error_body(error_id: str, message: str, details: dict | None = None) -> dict:
    return {"error_id": error_id, "message": message, "details": details or {}}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as ``{"error_id", "message", "details"}`` with the right status; never a traceback."""
    try:
        return await handler(request)
    except UhdError as exc:
        return web.json_response(exc.to_dict(), status=exc.status_code)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        error_id = exc.reason.lower().replace(" ", "-")
        return web.json_response(error_body(error_id, exc.reason), status=exc.status, headers=_keep(exc))
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors(include_url=False)
        ]
        return web.json_response(error_body("invalid-request", "invalid request", {"problems": problems}), status=400)
    except json.JSONDecodeError:  # request.json() on a body that is not JSON
        return web.json_response(error_body("invalid-json", "the request body is not valid JSON"), status=400)
    except UnicodeDecodeError:
        return web.json_response(error_body("bad-encoding", "the request body is not UTF-8"), status=400)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(error_body("internal-error", "internal error"), status=500)


def _keep(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Location", "Allow", "Retry-After")}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def same_origin(request: web.Request) -> bool:
    """A browser's Origin header, when sent, must be this server (CSRF defence in depth)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.host


def csrf_ok(request: web.Request, expected: str | None) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(expected) and hmac.compare_digest(sent, expected or "")
