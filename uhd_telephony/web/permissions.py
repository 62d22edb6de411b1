"""Who may do what: the roles, the token scopes and the routes a bearer token may use.

Roles (``accounts.models.Role``), checked by each handler with ``web.auth.require(request, *roles)`` and its
tenant by ``web.auth.require_tenant`` (another tenant's data is 404, never 403):

- ``admin``: the operator. Every tenant; the admin API (accounts, roles, tenants, tokens, audit log).
- ``agent``: works the tickets, calls and callbacks of its tenants; the console and its WebSocket.
- ``manager``: reads its tenants' tickets, KPIs and reports; acknowledges escalations; as a team lead declares,
  links and resolves major incidents and sets their pile-up threshold (``incidents.api``). Changes nothing else.
- ``dpo``: the tenant's data-protection officer (Datenschutzbeauftragte/r): reads its tenants' audit log (who read
  whose data: ``audit.api``), finds a person and exports or erases their data (Art. 15, 17: ``privacy.api``) on its
  page ``/privacy`` (admins too); nothing else.
- ``partner``: by API token only, the tickets routed to its group (``partner:<firm>``): read them, comment,
  move them to in_progress, waiting or resolved. Nothing else exists for it.

A bearer token acts as its account, narrowed to its scopes and tenants, on the routes of ``TOKEN_ROUTES`` only:
everything else (console, WebSocket, pages, admin API, logout) refuses tokens with 403.

Pages take a session only (no token: to the login page): the console (agent, admin), the ticket pages (agent,
manager, admin) and the live KPI page ``/kpis`` (``KPI_PAGE_ROLES``: who may read the KPI API with a session).
The wallboard page ``/wallboard`` is a static shell anyone may load (no data in it): its script reads the figures
with the session, or with a ``wallboard:read`` token given in the page address's fragment (``#token=…``, which a
browser never sends to a server), from ``GET /api/tenants/{tenant}/wallboard`` — the one route such a token opens.
The demo's softphone routes (``/api/demo/...``) exist only in ``uhd-telephony demo``: the console's checks.
"""

from __future__ import annotations

from collections.abc import Mapping

TICKETS_READ = "tickets:read"
TICKETS_WRITE = "tickets:write"
KPIS_READ = "kpis:read"
# a wall screen's token: the wallboard's figures of its tenants (GET …/wallboard) and nothing else
WALLBOARD_READ = "wallboard:read"
SCOPES = frozenset({TICKETS_READ, TICKETS_WRITE, KPIS_READ, WALLBOARD_READ})
PARTNER_SCOPES = frozenset({TICKETS_READ, TICKETS_WRITE})
ANY_TOKEN = ""  # a route every valid token may use, whatever its scopes (who am I)

# the live KPI page (web.wallboard); the same roles as GET /api/tenants/{tenant}/kpis
KPI_PAGE_ROLES = ("agent", "manager", "admin")

# the statuses a partner may set: it works the order, closing and reopening stay with the helpdesk
PARTNER_STATUSES = frozenset({"in_progress", "waiting", "resolved"})

_T = "/api/tenants/{tenant}"
_TICKET = _T + "/tickets/{ticket_id}"

# (route path as aiohttp's resource.canonical spells it) -> {method: scope}
TOKEN_ROUTES: Mapping[str, Mapping[str, str]] = {
    "/api/me": {"GET": ANY_TOKEN},
    _T + "/tickets": {"GET": TICKETS_READ, "POST": TICKETS_WRITE},
    _T + "/tickets/by-number/{number}": {"GET": TICKETS_READ},
    _TICKET: {"GET": TICKETS_READ, "PATCH": TICKETS_WRITE},
    _TICKET + "/history": {"GET": TICKETS_READ},
    _TICKET + "/comments": {"POST": TICKETS_WRITE},
    _TICKET + "/assign": {"POST": TICKETS_WRITE},
    _TICKET + "/route": {"POST": TICKETS_WRITE},
    _TICKET + "/status": {"POST": TICKETS_WRITE},
    _TICKET + "/resolve": {"POST": TICKETS_WRITE},
    _TICKET + "/close": {"POST": TICKETS_WRITE},
    _TICKET + "/reopen": {"POST": TICKETS_WRITE},
    _TICKET + "/classify": {"POST": TICKETS_WRITE},
    # the attachments of a ticket's mails (mailin), read like the ticket
    _TICKET + "/attachments": {"GET": TICKETS_READ},
    _TICKET + "/attachments/{attachment_id}": {"GET": TICKETS_READ},
    _T + "/categories": {"GET": TICKETS_READ},
    _T + "/groups": {"GET": TICKETS_READ},
    _T + "/agents": {"GET": TICKETS_READ},
    _T + "/kpis": {"GET": KPIS_READ},
    # the wallboard's figures (metrics.wallboard): a read-only token for a screen on the wall, or a session
    _T + "/wallboard": {"GET": WALLBOARD_READ},
    # the monthly report for a reporting job: a manager's token with kpis:read (agents stay refused by role)
    _T + "/reports/{month}": {"GET": KPIS_READ},
}


# what a session may do before it acknowledged the confidentiality text (§ 203 StGB, accounts.confidentiality):
# read who it is, read and acknowledge the text, choose its language, log out — every other route is 403
# (web.auth.NotAcknowledged) and every page sends it to /confidentiality first (web.pages.page_principal)
BEFORE_ACKNOWLEDGEMENT: Mapping[str, frozenset[str]] = {
    "/api/me": frozenset({"GET"}),
    "/api/me/locale": frozenset({"PUT"}),
    "/api/me/confidentiality": frozenset({"GET", "POST"}),
    "/api/logout": frozenset({"POST"}),
}


def before_acknowledgement(method: str, path: str) -> bool:
    """Whether ``method path`` is open to a session that has not acknowledged the confidentiality text yet."""
    return ("GET" if method == "HEAD" else method) in BEFORE_ACKNOWLEDGEMENT.get(path, frozenset())


def token_scope(method: str, path: str) -> str | None:
    """The scope a bearer token needs for ``method path``; ``ANY_TOKEN``; None when tokens are refused there."""
    methods = TOKEN_ROUTES.get(path)
    if methods is None:
        return None
    return methods.get("GET" if method == "HEAD" else method)
