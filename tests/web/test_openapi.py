"""GET /api/openapi.json: a valid OpenAPI 3.1 document of every JSON route the app has, true to what they answer."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.support.webapp import TENANT_A, app_of
from tests.tickets.webapp import Api

JSON_ROUTE = re.compile(r"^(/api/|/healthz$)")


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*(\{[^}]*\}[^}]*)*)?\}", r"{\1}", path)


def _registered(client: TestClient) -> set[tuple[str, str]]:
    """(METHOD, path) of every JSON route registered on the running app, regexes stripped from the path."""
    routes = set()
    for route in app_of(client).router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method != "HEAD" and JSON_ROUTE.match(path):
            routes.add((route.method, _openapi_path(path)))
    return routes


async def _spec(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200 and response.content_type == "application/json"
    return dict(await response.json())


def _matches(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """``instance`` is valid against ``schema`` whose $refs point into the document's components."""
    Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)


async def test_the_document_is_valid_openapi_3_1(client: TestClient) -> None:
    spec = await _spec(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # openapi-spec-validator: the 3.1 meta-schema and every $ref resolvable


async def test_every_json_route_of_the_app_is_documented(client: TestClient) -> None:
    spec = await _spec(client)
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    registered = _registered(client)
    assert registered, "no JSON routes found"
    assert registered == documented
    for method, path in registered:
        operation = spec["paths"][path][method.lower()]
        where = f"{method} {path}"
        assert not operation.get("x-undocumented"), f"{where}: describe it with web.openapi.documented"
        assert operation["summary"] and operation["operationId"], where
        success = [s for s in operation["responses"] if s.startswith("2")]
        assert success, where
        for status in success:
            assert "schema" in operation["responses"][status]["content"]["application/json"], where
        errors = {s for s in operation["responses"] if s.startswith("4")}
        if operation["security"]:
            assert {"401", "403"} <= errors, where
        if "{" in path:
            assert "404" in errors, where
        if "requestBody" in operation:
            assert {"400", "413"} <= errors, where
        for status in errors:
            assert operation["responses"][status]["$ref"].startswith("#/components/responses/"), where
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_ticket_routes_have_their_bodies_parameters_and_errors(client: TestClient) -> None:
    spec = await _spec(client)
    tickets = spec["paths"]["/api/tenants/{tenant}/tickets"]
    assert tickets["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateTicketBody"
    }
    assert "201" in tickets["post"]["responses"]
    params = {p["name"]: p for p in tickets["get"]["parameters"]}
    assert {"tenant", "status", "priority", "category", "group", "agent", "q", "sort", "limit", "cursor"} <= set(params)
    assert params["status"]["schema"]["type"] == "array" and params["status"]["explode"] is True
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 200)
    status = spec["paths"]["/api/tenants/{tenant}/tickets/{ticket_id}/status"]["post"]
    assert {"400", "401", "403", "404", "409", "413"} <= set(status["responses"])
    assert status["security"] == [{"session": [], "csrf": []}, {"bearer": []}]  # issue #8: API tokens too
    error = spec["components"]["responses"]["Conflict"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) == {"error_id", "message", "details"}
    login = spec["paths"]["/api/login"]["post"]
    assert login["security"] == [] and login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    kpis = [p for p in spec["paths"] if p.endswith("/kpis")]
    for path in kpis:  # issue #6's route, described by its own models
        assert "x-undocumented" not in spec["paths"][path]["get"]


async def test_answers_match_the_document(client: TestClient) -> None:
    """The document is true: real answers, errors included, validate against the schemas it names."""
    spec = await _spec(client)
    anna = await Api(client).login("anna")

    def schema_of(path: str, method: str, status: int) -> dict[str, Any]:
        response = spec["paths"][path][method]["responses"][str(status)]
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        return dict(response["content"]["application/json"]["schema"])

    base = "/api/tenants/{tenant}/tickets"
    created = await anna.post("/tickets", {"channel": "web", "subject": "x", "requester": {"name": "y"}}, expect=201)
    _matches(spec, schema_of(base, "post", 201), created)
    tid = created["ticket"]["id"]
    _matches(spec, schema_of(base, "get", 200), await anna.get("/tickets"))
    _matches(spec, schema_of(base + "/{ticket_id}", "get", 200), await anna.get(f"/tickets/{tid}"))
    _matches(spec, schema_of(base + "/{ticket_id}/history", "get", 200), await anna.get(f"/tickets/{tid}/history"))
    comment = await anna.post(f"/tickets/{tid}/comments", {"text": "x", "public": True}, expect=201)
    _matches(spec, schema_of(base + "/{ticket_id}/comments", "post", 201), comment)
    routed = await anna.post(f"/tickets/{tid}/route", {"group": "2nd_level", "reason": "x"})
    _matches(spec, schema_of(base + "/{ticket_id}/route", "post", 200), routed)
    conflict = await anna.post(f"/tickets/{tid}/close", {}, expect=409)
    _matches(spec, schema_of(base + "/{ticket_id}/close", "post", 409), conflict)
    invalid = await anna.post(f"/tickets/{tid}/comments", {"text": ""}, expect=400)
    _matches(spec, schema_of(base + "/{ticket_id}/comments", "post", 400), invalid)
    _matches(spec, schema_of("/api/me", "get", 200), await (await client.get("/api/me")).json())
    _matches(spec, schema_of("/api/tenants/{tenant}/categories", "get", 200), await anna.get("/categories"))
    _matches(spec, schema_of("/api/tenants/{tenant}/agents", "get", 200), await anna.get("/agents"))
    users = await anna.get("/directory/search?q=mueller")
    _matches(spec, schema_of("/api/tenants/{tenant}/directory/search", "get", 200), users)
    _matches(spec, schema_of("/api/tenants/{tenant}/callbacks", "get", 200), await anna.get("/callbacks"))
    health = await (await client.get("/healthz")).json()
    _matches(spec, schema_of("/healthz", "get", 200), health)
    assert TENANT_A in anna.url()
