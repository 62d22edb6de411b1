"""The login rate limit: lockout per username and per address with 429 + Retry-After, reset by a good login,
in memory and shared through Redis; every login, failure and lockout in the audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from tests.security.conftest import FakeAmi, World, app_db
from tests.support.helpers import REDIS_URL
from tests.support.webapp import PASSWORD, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.audit.log import AuditLog

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


async def _app(world: World, aiohttp_client: Any, **settings: Any) -> TestClient:
    return await aiohttp_client(init_app(web_settings(world.url, **settings), ami=lambda: FakeAmi()))


async def _login(client: TestClient, username: str, password: str) -> tuple[int, dict[str, Any], Any]:
    response = await client.post("/api/login", json={"username": username, "password": password})
    return response.status, await response.json(), response.headers


async def test_a_username_is_locked_out_after_n_failures_and_a_good_login_resets_the_count(
    world: World, aiohttp_client: Any
) -> None:
    client = await _app(world, aiohttp_client, login_max_failures=3, login_lockout_s=600)
    # two failures, then the right password: the count starts again
    for _ in range(2):
        assert (await _login(client, "ben", "falsch"))[0] == 401
    assert (await _login(client, "ben", PASSWORD))[0] == 200
    for _ in range(2):
        assert (await _login(client, "ben", "falsch"))[0] == 401
    # anna: the third failure locks her out, with a clear answer
    assert (await _login(client, "anna", "falsch"))[0] == 401
    assert (await _login(client, "anna", "falsch"))[0] == 401
    status, body, headers = await _login(client, "anna", "falsch")
    assert status == 429 and body["error_id"] == "too-many-attempts"
    assert body["details"]["locked"] == "username" and 590 <= body["details"]["retry_after_s"] <= 600
    assert 590 <= int(headers["Retry-After"]) <= 600
    # locked: even the right password is refused, before it is looked at; other users go on
    status, body, headers = await _login(client, "ANNA ", PASSWORD)
    assert status == 429 and int(headers["Retry-After"]) <= 600
    assert (await _login(client, "carl", PASSWORD))[0] == 200

    page = await AuditLog(app_db(client)).page(limit=50)
    actions = [(e.action, e.actor) for e in reversed(page.entries)]
    assert actions.count(("login_failed", "anna")) == 3
    assert ("login_locked", "anna") in actions
    assert actions.count(("login_ok", "ben")) == 1 and ("login_ok", "carl") in actions
    locked = next(e for e in page.entries if e.action == "login_locked")
    assert locked.ip == "127.0.0.1" and locked.details == {"locked": "username", "for_s": 600}


async def test_an_address_is_locked_out_after_failures_across_usernames(world: World, aiohttp_client: Any) -> None:
    client = await _app(world, aiohttp_client, login_max_failures=10, login_ip_max_failures=4)
    for name in ("anna", "ben", "carl"):
        assert (await _login(client, name, "falsch"))[0] == 401
    status, body, _ = await _login(client, "nobody", "falsch")
    assert status == 429 and body["details"]["locked"] == "address"
    assert (await _login(client, "maria", PASSWORD))[0] == 429


@pytest.mark.slow
async def test_the_lockout_ends(world: World, aiohttp_client: Any) -> None:
    client = await _app(world, aiohttp_client, login_max_failures=1, login_lockout_s=1)
    assert (await _login(client, "anna", "falsch"))[0] == 429
    assert (await _login(client, "anna", PASSWORD))[0] == 429
    await asyncio.sleep(1.2)
    assert (await _login(client, "anna", PASSWORD))[0] == 200


@pytest.mark.redis
async def test_with_redis_every_process_counts_the_same_failures_under_the_prefix(
    world: World, aiohttp_client: Any, redis_prefix: str
) -> None:
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix, "login_max_failures": 3}
    first = await _app(world, aiohttp_client, **settings)
    second = await _app(world, aiohttp_client, **settings)
    assert (await _login(first, "anna", "falsch"))[0] == 401
    assert (await _login(second, "anna", "falsch"))[0] == 401
    status, _, headers = await _login(first, "anna", "falsch")
    assert status == 429 and int(headers["Retry-After"]) > 0
    assert (await _login(second, "anna", PASSWORD))[0] == 429
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=redis_prefix + "*")]
    finally:
        await client.aclose()
    login_keys = [k for k in keys if k.startswith(redis_prefix + "login:")]
    assert login_keys and all("anna" not in k for k in login_keys)  # the username only as a digest


async def _login_from(client: TestClient, forwarded: str, password: str = "falsch", name: str = "anna") -> int:
    response = await client.post(
        "/api/login", json={"username": name, "password": password}, headers={"X-Forwarded-For": forwarded}
    )
    return response.status


async def test_behind_a_trusted_proxy_each_client_address_counts_on_its_own(world: World, aiohttp_client: Any) -> None:
    """Issue 17: the web processes sit behind a load balancer; without this every login would come from it and
    four wrong passwords anywhere would lock the whole hospital out."""
    client = await _app(world, aiohttp_client, login_max_failures=10, login_ip_max_failures=2,
                        trusted_proxies="127.0.0.0/8, ::1")  # fmt: skip
    assert await _login_from(client, "10.1.1.1") == 401
    assert await _login_from(client, "10.1.1.1") == 429  # that address is locked out ...
    assert await _login_from(client, "10.2.2.2", PASSWORD, "ben") == 200  # ... the next client is not
    # a client writing its own X-Forwarded-For: the proxy appends the real one, which is what counts
    assert await _login_from(client, "10.2.2.2, 10.1.1.1") == 429
    assert await _login_from(client, "10.1.1.1, 10.3.3.3", PASSWORD, "carl") == 200
    assert await _login_from(client, "not-an-address", PASSWORD, "maria") == 200  # the proxy's own address then
    page = await AuditLog(app_db(client)).page(limit=50)
    assert {e.ip for e in page.entries if e.action == "login_ok"} == {"10.2.2.2", "10.3.3.3", "127.0.0.1"}


async def test_an_untrusted_peer_cannot_choose_its_address(world: World, aiohttp_client: Any) -> None:
    client = await _app(world, aiohttp_client, login_max_failures=10, login_ip_max_failures=2)
    assert await _login_from(client, "10.1.1.1") == 401
    assert await _login_from(client, "10.9.9.9") == 429  # the peer (127.0.0.1) is what counts, not the header
