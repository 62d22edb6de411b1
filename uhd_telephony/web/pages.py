"""The pages every server has: ``/`` (to the console), the login page, and the static files of all pages."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console")


async def login_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "login.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/login", login_page)
    app.router.add_static("/static", STATIC, append_version=True)
