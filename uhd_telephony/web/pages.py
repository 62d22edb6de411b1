"""The pages every server has: ``/`` (to the console), the login page, and the static files of all pages.

A page that needs a session sends an anonymous visitor to ``/login?next=<the page>`` (``to_login``); the login
page's script goes back there after the login. ``next`` is a path of this site only (``safe_next``): the
browser's URL parser drops tabs and line breaks and reads ``\\`` as ``/``, so ``/<TAB>/evil.example`` would leave
the site.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web

from uhd_telephony.errors import Forbidden
from uhd_telephony.i18n import Msg
from uhd_telephony.web.auth import Principal, principal, require_tenant
from uhd_telephony.web.middleware import Handler

STATIC = Path(__file__).resolve().parent / "static"
CONFIDENTIALITY_PAGE = "/confidentiality"  # security.confidentiality: the § 203 StGB acknowledgement

MAX_NEXT = 2048
# C0 controls and space (a URL parser strips or drops them), DEL, C1 controls, the backslash (read as "/")
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_UNSAFE_DECODED = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")  # an encoded space in a path is just a space


def _safe_path(path: str, unsafe: re.Pattern[str]) -> bool:
    if not path.startswith("/") or path.startswith("//") or unsafe.search(path):
        return False
    # "/.//evil" resolves to the path "//evil", which a browser then reads as a host
    return not any(segment in (".", "..") for segment in path.split("/"))


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site to go back to after the login, else "" (go to the start page).

    Only a path (``/…``, with query and fragment): no scheme, no host, not ``//…``, no control character, space or
    backslash, no dot segment; its path percent-decoded neither (``/%2F/evil``, ``/%09/evil``, ``/%5Cevil``).
    """
    if not value or len(value) > MAX_NEXT or _UNSAFE.search(value):
        return ""
    if not value.startswith("/") or value.startswith("//"):  # urlsplit reads "///evil" as no host, path "/evil"
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not _safe_path(parts.path, _UNSAFE):
        return ""
    if not _safe_path(unquote(parts.path), _UNSAFE_DECODED):
        return ""
    return value


def login_url(next_path: str | None) -> str:
    """``/login?next=<next_path>`` (encoded) for a safe path, else plain ``/login``."""
    target = safe_next(next_path)
    return "/login?" + urlencode({"next": target}) if target else "/login"


def to_login(request: web.Request) -> web.HTTPFound:
    """The redirect of an anonymous visitor of a page to the login, and back to this page afterwards."""
    url = login_url(request.raw_path)
    found = web.HTTPFound(url)
    found.headers["Location"] = url  # as encoded (aiohttp's URL would write next=/console, "/console" at its end)
    return found


def to_confidentiality(request: web.Request) -> web.HTTPFound:
    """The redirect of an account that has not acknowledged the confidentiality text (§ 203 StGB) to it, and back
    to this page afterwards."""
    target = safe_next(request.raw_path)
    url = CONFIDENTIALITY_PAGE + ("?" + urlencode({"next": target}) if target else "")
    found = web.HTTPFound(url)
    found.headers["Location"] = url
    return found


async def page_principal(request: web.Request) -> Principal:
    """Who is looking at a page: an anonymous visitor goes to the login (``to_login``), an account that has not
    acknowledged the confidentiality text to it first (``to_confidentiality``), and back to this page after."""
    who = await principal(request)
    if who is None:
        raise to_login(request)
    if not who.acknowledged:
        raise to_confidentiality(request)
    return who


def protected_page(filename: str, roles: Collection[str], refusal: Msg) -> Handler:
    """The handler of a page for logged-in people: ``filename`` of ``static/`` (a shell: its script reads the data
    through the API) for an account of ``roles``; an anonymous visitor goes to the login and back (``to_login``),
    another role gets ``refusal`` (403), and a ``{tenant}`` in the page's path must be one the account works for
    (else 404, as for a tenant that does not exist: the API refuses the data itself too)."""

    async def page(request: web.Request) -> web.StreamResponse:
        who = await page_principal(request)
        if who.role not in roles:
            raise Forbidden(refusal)
        if "tenant" in request.match_info:
            require_tenant(who, request.match_info["tenant"])
        return web.FileResponse(STATIC / filename)

    return page


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console")


async def login_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "login.html")


async def favicon(request: web.Request) -> web.StreamResponse:
    """The site's icon where browsers look for it without a <link> (bookmarks, tabs of JSON pages)."""
    response = web.FileResponse(STATIC / "favicon.svg")
    response.content_type = "image/svg+xml"
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/login", login_page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static", STATIC, append_version=True)
