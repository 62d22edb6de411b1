"""``GET /healthz``: each component's status (the database here; the server adds its own parts)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from uhd_telephony.web import keys
from uhd_telephony.web.openapi import HealthResponse, documented


@documented(
    "Health of each component (503 when one that matters is down)",
    response=HealthResponse,
    public=True,
    tag="health",
    also={503: "a component that matters is down (healthy: false)"},
)
async def healthz(request: web.Request) -> web.Response:
    """Each component's status; 503 when one that matters is down."""
    db_ok = await request.app[keys.DB].ping()
    body: dict[str, Any] = {"database": {"reachable": db_ok}}
    extra = request.app[keys.HEALTH]
    if extra is not None:
        body.update(extra())
    healthy = db_ok and all(part.get("healthy", True) for part in body.values() if isinstance(part, dict))
    return web.json_response({"healthy": healthy, **body}, status=200 if healthy else 503)
