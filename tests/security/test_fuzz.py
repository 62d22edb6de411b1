"""Hostile input from the OpenAPI document: schemathesis 4 + hypothesis against the real app on a loopback port.

The app runs in the test's event loop (aiohttp AppRunner on 127.0.0.1, any free port); schemathesis is
synchronous (requests), so the fuzzing runs in a worker thread meanwhile. Every operation of
``/api/openapi.json`` gets valid (positive) and schema-violating (negative) requests, as an admin (session
cookie + CSRF token: every route and tenant; on PostgreSQL) and as an API token where tokens are accepted (on
SQLite); valid requests once more with the path naming tenant A's real objects. Checked: no 5xx, no
stack trace in a body, the status, content type and body as documented, and that a rejected (4xx) request wrote
nothing (rows of tickets, ticket_history, callbacks before and after each one). Bounded: a few examples per
operation and mode, no shrinking, derandomized, so a run takes seconds and repeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import ClientSession, web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance
from schemathesis.core.failures import Failure, FailureGroup

from tests.security.conftest import FakeAmi, World, build_world, row_counts
from tests.support.webapp import PASSWORD, TENANT_A, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.store.db import Database
from uhd_telephony.web import keys
from uhd_telephony.web.permissions import token_scope

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

MAX_EXAMPLES = 5  # per operation and mode
# ends the session the fuzzer uses; its behaviour is the route walk's business
SKIP = {("POST", "/api/logout")}
STACK_TRACE_MARKS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc", "asyncpg.exceptions")
# no 5xx is checked by ``check`` itself: a callback dial while Asterisk is away is a documented 503, not a bug
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
TABLES = ("tickets", "ticket_history", "callbacks")
AUTH_HEADERS = {"authorization", "x-csrf-token", "cookie"}


@dataclass
class Server:
    base_url: str
    spec: dict[str, Any]
    cookie: str
    csrf: str
    db: Database
    loop: asyncio.AbstractEventLoop

    def counts(self) -> tuple[int, ...]:
        """Rows of tickets, ticket_history, callbacks, asked from the fuzzing thread through the app's loop."""
        found = asyncio.run_coroutine_threadsafe(row_counts(self.db), self.loop).result(timeout=30)
        return tuple(found[table] for table in TABLES)


@dataclass
class Findings:
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    rejected: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    transport_refusals: int = 0  # request lines over the HTTP layer's limit (``refused_by_http``)


@pytest.fixture
async def world_pg(pg_url: str) -> World:
    """The seeded world on PostgreSQL: the strict one (a NUL byte in text is an error there, a miss in SQLite)."""
    return await build_world(pg_url)


async def serve(world: World) -> AsyncIterator[Server]:
    app = init_app(web_settings(world.url, login_ip_max_failures=10_000), ami=lambda: FakeAmi())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        async with ClientSession(base) as http:
            login = await http.post("/api/login", json={"username": "olga", "password": PASSWORD})
            assert login.status == 200
            csrf = (await login.json())["account"]["csrf_token"]
            cookie = login.cookies["uhd_session"].value
            spec = await (await http.get("/api/openapi.json")).json()
        yield Server(base, spec, cookie, csrf, app[keys.DB], asyncio.get_running_loop())
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(world: World) -> AsyncIterator[Server]:
    async for running in serve(world):
        yield running


@pytest.fixture
async def server_pg(world_pg: World) -> AsyncIterator[Server]:
    async for running in serve(world_pg):
        yield running


def upstream_down(response: requests.Response) -> bool:
    """A 502/503 that says Asterisk is away or refused (the test's FakeAmi): documented, not a server fault."""
    if response.status_code not in (502, 503):
        return False
    try:
        return str(response.json().get("error_id", "")).startswith("ami-")
    except ValueError:
        return False


def refused_by_http(response: Any) -> bool:
    """A request line or header over aiohttp's 8 KiB limit: refused by the HTTP layer before the app (400, plain
    text, README "Hardening"); the app's documented answers do not apply, the write check still does.
    ``response``: schemathesis' own (headers as lists under lower-case names) or a requests one."""
    headers = {str(k).lower(): v for k, v in dict(response.headers).items()}
    kind = headers.get("content-type") or ""
    if isinstance(kind, list):
        kind = kind[0] if kind else ""
    return response.status_code == 400 and kind.startswith("text/plain") and "bytes when reading" in response.text[:200]


def real_ids(world: World) -> dict[str, Any]:
    """Path parameters naming tenant A's real objects (the fuzzer's own ids are mostly of nothing)."""
    return {
        "tenant": TENANT_A,
        "ticket_id": world.ids["ticket_a"],
        "callback_id": world.ids["callback_a"],
        "escalation_id": world.ids["escalation_a"],
        "attachment_id": world.ids["attachment_a"],
        "address_id": world.ids["mail_address"],
        "article_id": world.ids["article_a"],
        "incident_id": world.ids["incident_a"],
        "account_id": world.ids["victim"],
        "token_id": world.ids["token_throwaway"],
        "number": world.numbers["ticket_a"],
    }


SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't minimise
    suppress_health_check=list(HealthCheck),
)


def fuzz(
    server: Server,
    headers: dict[str, str],
    cookies: dict[str, str],
    real_ids: dict[str, Any],
    only: Callable[[str, str], bool] = lambda method, path: True,
) -> Findings:
    """Run every operation of the document in both modes; collect what went wrong instead of stopping."""
    schema = schemathesis.openapi.from_dict(server.spec)
    found = Findings()
    session = requests.Session()

    def check(*, case: Any, mode: GenerationMode) -> None:
        # the document's security schemes make schemathesis invent a cookie, a CSRF token or a bearer token;
        # who may do what is the route walk's business: here every request is the fuzzing principal's own
        if case.headers:
            case.headers = {k: v for k, v in case.headers.items() if k.lower() not in AUTH_HEADERS}
        if case.cookies:
            case.cookies = {k: v for k, v in case.cookies.items() if k != "uhd_session"}
        writes = case.method.upper() not in ("GET", "HEAD")
        before = server.counts() if writes else None
        response = case.call(base_url=server.base_url, session=session, headers=headers, cookies=cookies)
        found.requests += 1
        found.statuses[response.status_code] = found.statuses.get(response.status_code, 0) + 1
        where = f"{mode.value} {case.method} {case.formatted_path} -> {response.status_code}"
        text = response.text
        if any(mark in text for mark in STACK_TRACE_MARKS):
            found.failures.append(f"{where}: a stack trace in the body: {text[:200]}")
        if response.status_code >= 500 and not upstream_down(response):
            found.failures.append(f"{where}: {text[:200]}")
        if 400 <= response.status_code < 500:
            found.rejected += 1
            after = server.counts() if writes else None
            if after != before:
                found.failures.append(f"{where}: a rejected request wrote rows {before} -> {after}")
        if refused_by_http(response):
            found.transport_refusals += 1
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as exc:  # the checks that failed (a group is a BaseExceptionGroup)
            found.failures.append(f"{where}: {str(exc)[:600]}")

    def examples(strategy: Any, mode: GenerationMode) -> Callable[[], None]:
        @SETTINGS
        @given(case=strategy)
        def run(case: Any) -> None:
            check(case=case, mode=mode)

        return run  # type: ignore[no-any-return]

    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            method, path = operation.method.upper(), operation.path
            if (method, path) in SKIP or not only(method, path):
                continue
            known = {name: value for name, value in real_ids.items() if "{" + name + "}" in path}
            runs = [(GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
            if known:  # valid requests about real objects reach past "not found" into the handlers
                runs.append((GenerationMode.POSITIVE, known))
            for mode, fixed in runs:
                try:
                    examples(operation.as_strategy(generation_mode=mode, path_parameters=fixed or None), mode)()
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body): negative mode is moot
                    if mode is GenerationMode.POSITIVE:
                        raise
    finally:
        session.close()
    return found


@pytest.mark.slow
@pytest.mark.postgres
async def test_the_api_survives_hostile_input_and_answers_as_documented(server_pg: Server, world_pg: World) -> None:
    """As an admin (every route, every tenant) on PostgreSQL."""
    admin = await asyncio.to_thread(
        fuzz, server_pg, {"X-CSRF-Token": server_pg.csrf}, {"uhd_session": server_pg.cookie}, real_ids(world_pg)
    )
    assert not admin.failures, "\n".join(admin.failures)
    assert admin.requests > 300 and admin.rejected > 100 and admin.statuses.get(200, 0) > 50, admin.statuses


@pytest.mark.slow
async def test_bearer_token_requests_survive_hostile_input(server: Server, world: World) -> None:
    """As a service account's token (the routes tokens may use) on SQLite."""
    token = await asyncio.to_thread(
        fuzz,
        server,
        {"Authorization": f"Bearer {world.tokens['token']}"},
        {},
        real_ids(world),
        lambda method, path: token_scope(method, path) is not None,  # where tokens are refused: the walk's 403
    )
    assert not token.failures, "\n".join(token.failures)
    assert token.requests > 200 and token.statuses.get(200, 0) > 20, token.statuses
