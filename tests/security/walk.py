"""The route walk's helpers: every route of the app, and its path filled with one tenant's objects."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.security.conftest import World
from tests.support.webapp import TENANT_A, TENANT_B


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as registered, regexes stripped: {ticket_id}

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    def variants(self) -> list[str]:
        names = set(self.params)
        out = ["own"]
        if names & {"tenant", "token"}:
            out.append("foreign")
        crossing = {"ticket_id", "callback_id", "escalation_id", "category_id", "article_id", "incident_id"}
        crossing |= {"attachment_id"}  # issue #19: a mail's attachment
        if names & (crossing | {"number", "token"}):
            out.append("cross")
        return out


def registered(app: Any) -> list[Route]:
    """Every (method, path) of the app's router; HEAD of a GET route included."""
    routes = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        info = resource.get_info()
        path = info.get("formatter") or info.get("path") or ""
        if "prefix" in info:  # the static files
            path = info["prefix"] + "/{filename}"
        path = re.sub(r"\{(\w+):[^}]*(\{[^}]*\}[^}]*)*\}", r"{\1}", path)
        routes.append(Route(route.method, path))
    # logout last: it ends the sessions the other requests use
    return sorted(set(routes), key=lambda r: (r.path == "/api/logout", r.path, r.method))


def fill(route: Route, variant: str, world: World) -> str:
    own = variant == "own"
    values: dict[str, Callable[[], str]] = {
        "tenant": lambda: TENANT_B if variant == "foreign" else TENANT_A,
        "ticket_id": lambda: str(world.ids["ticket_a" if own else "ticket_b"]),
        "callback_id": lambda: str(world.ids["callback_a" if own else "callback_b"]),
        "escalation_id": lambda: str(world.ids["escalation_a" if own else "escalation_b"]),
        "attachment_id": lambda: str(world.ids["attachment_a" if own else "attachment_b"]),
        "address_id": lambda: str(world.ids["mail_address"]),
        "category_id": lambda: str(world.category_a if own else world.ids["category_b"]),
        "article_id": lambda: str(world.ids["article_a" if own else "article_b"]),
        "incident_id": lambda: str(world.ids["incident_a" if own else "incident_b"]),
        "number": lambda: world.numbers["ticket_a" if own else "ticket_b"],
        "account_id": lambda: str(world.ids["victim"]),
        "token_id": lambda: str(world.ids["token_throwaway"]),
        "filename": lambda: "console.js",
        "month": lambda: "2026-11",
        "token": lambda: {
            "own": world.status_token,
            "foreign": secrets.token_urlsafe(32),
            "cross": "not-a-token!",
        }[variant],
    }
    path = route.path
    for name in route.params:
        path = path.replace("{" + name + "}", values[name]())
    return path
