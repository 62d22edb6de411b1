"""The OpenAPI 3.1 document of every JSON route, served at ``GET /api/openapi.json``.

Built from the app's router and the Pydantic models each handler declares: a handler is described once, by
``@documented(...)`` beside it or ``document(handler, Operation(...))``, and the document lists whatever routes
are registered — a JSON route (``/api/…``, ``/healthz``) without a description shows up as ``x-undocumented``
(and fails tests/web/test_openapi.py), never silently missing. Errors share one schema,
``{"error_id", "message", "details"}`` (``web.middleware``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.web.permissions import token_scope

Handler = Callable[..., Any]
JSON_ROUTE = re.compile(r"^(/api/|/healthz$)")
TITLE = "uhd-telephony API"
VERSION = "1"
SESSION_COOKIE = "uhd_session"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
Q = TypeVar("Q", bound=BaseModel)

ERRORS: Mapping[int, tuple[str, str]] = {
    400: ("BadRequest", "invalid input: invalid-json, bad-encoding, invalid-request (details.problems), invalid-…"),
    401: ("NotAuthenticated", "not logged in, wrong username or password, or an invalid/revoked API token"),
    403: (
        "Forbidden",
        "not allowed for this role, an API token without the scope (or on a route tokens may not use), "
        "or a missing or wrong CSRF token / foreign Origin",
    ),
    404: ("NotFound", "no such object, or one of a tenant the account does not work for"),
    409: ("Conflict", "the object's state does not allow this (e.g. an illegal status transition: details.from/to)"),
    413: ("PayloadTooLarge", "the request body is larger than 1 MiB"),
    429: ("TooManyAttempts", "too many failed logins: locked out for details.retry_after_s (also Retry-After)"),
    502: ("BadGateway", "Asterisk refused or failed the action, or a tenant's LDAP directory could not be read"),
    503: ("Unavailable", "no connection to Asterisk, or a component is down"),
}


@dataclass(frozen=True, slots=True)
class Operation:
    """What the document says about one handler."""

    summary: str
    response: type[BaseModel] | dict[str, Any] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # besides those every route of its kind can answer (see ``_error_statuses``)
    description: str = ""
    public: bool = False  # no session needed
    tag: str | None = None
    # more statuses that answer with the response model (the health check's 503)
    also: Mapping[int, str] = field(default_factory=dict)
    # other media types the success answer may have besides JSON (an export's ``format=csv``), as text
    media: tuple[str, ...] = ()


_OPERATIONS: dict[Handler, Operation] = {}


def document(handler: Handler, operation: Operation) -> None:
    """Describe ``handler`` in the document (for a handler defined where this module cannot be imported)."""
    _OPERATIONS[handler] = operation


def documented(summary: str, **details: Any) -> Callable[[Handler], Handler]:
    """Decorator: describe the handler with an ``Operation(summary, **details)``."""

    def mark(handler: Handler) -> Handler:
        document(handler, Operation(summary, **details))
        return handler

    return mark


def single_query(request: web.Request, model: type[Q]) -> Q:
    """The query string as ``model`` (a handler's documented ``query=``); a parameter given twice is an error."""
    raw: dict[str, str] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidInput(Msg("query parameter %(name)s given more than once", name=Quoted(name)), {"field": name})
        raw[name] = values[0]
    return model.model_validate(raw)


# -- models of the routes web/ serves itself ----------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error_id: str = Field(examples=["invalid-request", "not-found", "conflict"])
    message: str = Field(description="what went wrong, in English (for programs and logs)")
    text: str | None = Field(
        default=None, description="the same for people, in the account's language (else Accept-Language; German)"
    )
    details: dict[str, Any]


class TokenInfo(BaseModel):
    id: int
    scopes: list[str]


class AccountOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Literal["admin", "agent", "manager", "partner", "dpo"]
    tenants: list[str]
    confidentiality_acknowledged: bool = Field(
        default=True, description="false: the account must acknowledge the § 203 text first (/confidentiality)"
    )
    csrf_token: str = Field(description="send as X-CSRF-Token with every POST, PATCH, PUT and DELETE")
    partner_group: str | None = Field(description="a partner's support group, partner:<firm>")
    locale: Literal["de", "en"] = Field(description="the language of the account's pages and answers")
    tenant_names: dict[str, str] = Field(
        default_factory=dict, description="GET /api/me: the display name of each tenant the account serves"
    )
    token: TokenInfo | None = Field(default=None, description="the API token of this request, when it has one")


class AccountResponse(BaseModel):
    account: AccountOut
    features: list[str] = Field(
        default_factory=list,
        description="optional parts this server runs (GET /api/me): demo = the embedded demo's softphone and /api/demo",
    )


class OkResponse(BaseModel):
    ok: bool


class HealthResponse(BaseModel):
    """Each component's status; more components may appear beside ``database``."""

    model_config = ConfigDict(extra="allow")
    healthy: bool
    database: dict[str, Any]


class CategoryNode(BaseModel):
    id: int
    code: str
    path: str
    name: str
    group: str
    default_impact: int | None
    default_urgency: int | None
    active: bool
    children: list[CategoryNode]


class CategoriesResponse(BaseModel):
    categories: list[CategoryNode]


class CallbackOut(BaseModel):
    id: int
    tenant: str
    call_id: str
    linkedid: str
    caller_number: str
    caller_name: str
    user_id: int | None
    queue: str
    abandoned_at: str
    wait_s: float | None
    status: str
    cleared_reason: str | None
    claimed_by: int | None
    claimed_at: str | None
    attempts: int
    last_attempt_at: str | None
    done_at: str | None
    note: str | None
    created_at: str


class CallbacksResponse(BaseModel):
    callbacks: list[CallbackOut]


class CallbackResponse(BaseModel):
    callback: CallbackOut


class PhoneOut(BaseModel):
    kind: str
    number: str
    raw: str


class DirectoryUserOut(BaseModel):
    id: int | None
    external_id: str
    name: str
    department: str | None
    role: str
    location: str | None
    email: str | None
    vip: bool
    phones: list[PhoneOut]


class DirectoryUsersResponse(BaseModel):
    users: list[DirectoryUserOut]


class DirectorySearchQuery(BaseModel):
    q: str = Field(default="", max_length=100, description="at least 2 characters; case and umlauts folded")


SPEC: web.AppKey[dict[str, Any]] = web.AppKey("openapi_spec", dict)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of this app, built once on first request."""
    cache = request.app[SPEC]
    if "spec" not in cache:
        cache["spec"] = build(request.app)
    return web.json_response(cache["spec"])


def _web_operations() -> dict[Handler, Operation]:
    return {
        openapi_json: Operation("This document", response={"type": "object"}, public=True, tag="meta"),
    }


# -- building the document ----------------------------------------------------------------------------------


def _operation_of(handler: Handler, web_ops: Mapping[Handler, Operation]) -> Operation | None:
    return _OPERATIONS.get(handler) or web_ops.get(handler)


def _path_parameters(resource: web.AbstractResource) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path (``{name}`` without aiohttp's regexes) and its parameters."""
    info = resource.get_info()
    if "formatter" not in info:
        return resource.canonical, []
    names = list(info["pattern"].groupindex)
    params = []
    for name in names:
        schema: dict[str, Any]
        if name.endswith("_id"):
            schema = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
        elif name == "tenant":
            schema = {"type": "string", "minLength": 1, "maxLength": 64}
        else:
            schema = {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return str(info["formatter"]), params


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "tenants"] and len(parts) > 3:
        return parts[3]
    return parts[1] if parts[:1] == ["api"] and len(parts) > 1 else parts[0]


def _operation_id(handler: Handler) -> str:
    parts = handler.__module__.split(".")
    prefix = parts[-2] if parts[-1] == "api" and len(parts) > 1 else parts[-1]
    return f"{prefix}_{handler.__name__}"


def _error_statuses(op: Operation, method: str, has_path_params: bool) -> list[int]:
    statuses = set(op.errors)
    if not op.public:
        statuses |= {401, 403}
    if has_path_params:
        statuses.add(404)
    if op.body is not None:
        statuses |= {400, 413}
    if op.query is not None:
        statuses.add(400)
    return sorted(statuses)


def _query_parameters(model: type[BaseModel], schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("description"):
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param.update(style="form", explode=True)
        params.append(param)
    return params


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every JSON route registered on ``app``."""
    web_ops = _web_operations()
    found: list[tuple[str, str, list[dict[str, Any]], Handler, Operation | None]] = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method in ("HEAD", "*"):
            continue
        path, params = _path_parameters(resource)
        if not JSON_ROUTE.match(path):
            continue
        found.append((route.method, path, params, route.handler, _operation_of(route.handler, web_ops)))

    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for *_, op in found:
        if op is None:
            continue
        for model, mode in ((op.body, "validation"), (op.query, "validation"), (op.response, "serialization")):
            if isinstance(model, type) and (model, mode) not in wanted:
                wanted.append((model, mode))  # type: ignore[arg-type]
    refs, defs = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    def resolved(model: type[BaseModel]) -> Mapping[str, Any]:
        name = ref(model, "validation")["$ref"].rsplit("/", 1)[-1]
        return schemas[name]

    paths: dict[str, dict[str, Any]] = {}
    for method, path, params, handler, op in found:
        entry: dict[str, Any]
        if op is None:
            entry = {
                "operationId": _operation_id(handler),
                "summary": handler.__name__,
                "x-undocumented": True,
                "responses": {"default": {"description": "undocumented"}},
            }
            paths.setdefault(path, {})[method.lower()] = entry
            continue
        entry = {"operationId": _operation_id(handler), "summary": op.summary, "tags": [op.tag or _tag(path)]}
        if op.description:
            entry["description"] = op.description
        parameters = list(params)
        if op.query is not None:
            parameters += _query_parameters(op.query, resolved(op.query))
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.body, "validation")}},
            }
        if isinstance(op.response, type):
            schema = ref(op.response, "serialization")
        else:
            schema = op.response or {"type": "object"}
        content = {"application/json": {"schema": schema}, **{m: {"schema": {"type": "string"}} for m in op.media}}
        responses: dict[str, Any] = {str(op.status): {"description": op.summary, "content": content}}
        for status, text in op.also.items():
            responses[str(status)] = {"description": text, "content": {"application/json": {"schema": schema}}}
        for status in _error_statuses(op, method, bool(params)):
            responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
        entry["responses"] = responses
        if not op.public:
            entry["security"] = [{"session": []}] if method in SAFE else [{"session": [], "csrf": []}]
            if token_scope(method, path) is not None:  # security.permissions: the routes tokens may use
                entry["security"].append({"bearer": []})
        else:
            entry["security"] = []
        paths.setdefault(path, {})[method.lower()] = entry

    error_ref = ref(ErrorBody, "serialization")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Tickets, categories, callbacks and the caller directory of the IT user helpdesk. "
            "Log in with POST /api/login; the session is a cookie, and every state-changing request carries "
            "the account's CSRF token in X-CSRF-Token. Machines (partners, service accounts) send an API token "
            "as Authorization: Bearer uhd_<id>_<secret> instead, on the routes that list the bearer scheme.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": {
                name: {"description": text, "content": {"application/json": {"schema": error_ref}}}
                for name, text in ERRORS.values()
            },
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token, uhd_<id>_<secret> (admin API: POST .../tokens); no CSRF token",
                },
            },
        },
    }


def add_routes(app: web.Application) -> None:
    """``GET /api/openapi.json`` (public: it describes the API, it holds no data)."""
    app[SPEC] = {}
    app.router.add_get("/api/openapi.json", openapi_json)
