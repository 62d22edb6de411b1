"""The console's HTTP and WebSocket API: login, CSRF, pops to the right agent only, tenants kept apart."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.support.helpers import eventually
from tests.support.webapp import TENANT_A, TENANT_B, Seeded, app_of, login
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallOffered
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.web import keys

T0 = 1_800_000_000.0


def answered_call(linkedid: str = "1800000000.1", *, number: str = "+492319860572", queue: str = "hotline",
                  interface: str = "PJSIP/101", tenant: str = TENANT_A) -> CallRecord:  # fmt: skip
    return CallRecord(
        call_id=f"{linkedid}@{queue}",
        linkedid=linkedid,
        uniqueid=linkedid,
        queue=queue,
        tenant=tenant,
        entered_at=T0,
        caller_number=number,
        caller_name="MUELLER J",
        answered_at=T0 + 12,
        wait_s=12.0,
        agent="Anna Becker",
        agent_interface=interface,
    )


def composer(client: TestClient) -> ScreenPop:
    app = app_of(client)
    return ScreenPop(
        app[keys.DB],
        accounts=app[keys.ACCOUNTS],
        tickets=app[keys.TICKETS],
        callbacks=app[keys.CALLBACKS],
        directory=app[keys.DIRECTORY],
        fanout=app[keys.FANOUT],
    )


async def next_message(ws: Any, kind: str, within: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == kind:
                return data


async def assert_silent(ws: Any, seconds: float = 0.3) -> None:
    """Nothing arrives on ``ws`` within ``seconds``."""
    try:
        msg = await asyncio.wait_for(ws.receive(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message: {msg.data}")


async def test_login_sets_a_hardened_session_cookie(client: TestClient) -> None:
    bad = await client.post("/api/login", json={"username": "anna", "password": "wrong password"})
    assert bad.status == 401 and (await bad.json())["error_id"] == "not-authenticated"
    good = await client.post("/api/login", json={"username": "anna", "password": "correct horse battery"})
    assert good.status == 200
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = await (await client.get("/api/me")).json()
    assert me["account"]["username"] == "anna" and me["account"]["tenants"] == [TENANT_A]
    assert "password" not in json.dumps(me) and "scrypt" not in json.dumps(me)


async def test_state_changing_requests_need_the_csrf_token(client: TestClient) -> None:
    csrf = await login(client, "anna")
    url = f"/api/tenants/{TENANT_A}/tickets/1/classify"
    body = {"category_id": 1, "impact": 3, "urgency": 3}
    assert (await client.post(url, json=body)).status == 403
    assert (await client.post(url, json=body, headers={"X-CSRF-Token": "forged"})).status == 403
    foreign = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert (await client.post(url, json=body, headers=foreign)).status == 403
    # right token, no such ticket: past the CSRF check
    assert (await client.post(url, json=body, headers={"X-CSRF-Token": csrf})).status == 404


async def test_console_requires_login(client: TestClient) -> None:
    response = await client.get("/console", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/login?next=%2Fconsole"
    assert (await client.get("/api/me")).status == 401
    assert (await client.get("/ws/console")).status == 401


async def test_answered_call_opens_one_ticket_and_pops_on_that_agents_console_only(
    client: TestClient, other: TestClient, seeded: Seeded
) -> None:
    await login(client, "anna")
    await login(other, "ben")
    anna_ws = await client.ws_connect("/ws/console")
    ben_ws = await other.ws_connect("/ws/console")
    await next_message(anna_ws, "hello")
    await next_message(ben_ws, "hello")
    pops = composer(client)
    call = answered_call()
    pops(CallOffered(call, T0))
    pops(CallAnswered(call, T0 + 12))
    pop = await next_message(anna_ws, "pop")
    assert pop["tenant"] == TENANT_A and pop["agent_id"] == seeded.anna.id
    assert pop["caller"]["kind"] == "user" and pop["caller"]["user"]["name"] == "Dr. Jürgen Müller"
    assert pop["ticket"]["number"].startswith("UHD-") and pop["ticket_created"] is True
    assert pop["ticket"]["requester"]["user_id"] == pop["caller"]["user"]["id"]
    assert any(node["name"].startswith("KIS") for node in pop["categories"])
    # the same conversation answered again (transfer to a second queue, a replay): the same ticket
    pops(CallAnswered(answered_call(queue="backoffice"), T0 + 40))
    again = await next_message(anna_ws, "pop")
    assert again["ticket"]["id"] == pop["ticket"]["id"] and again["ticket_created"] is False
    await pops.drain()
    await assert_silent(ben_ws)  # Ben is of the same tenant, yet not the agent who answered
    await anna_ws.close()
    await ben_ws.close()
    await pops.close()


async def test_console_reconnecting_during_the_call_gets_the_pop_it_missed(client: TestClient) -> None:
    await login(client, "anna")
    pops = composer(client)
    call = answered_call("1800000000.7")
    pops(CallAnswered(call, T0 + 12))
    await pops.drain()
    ws = await client.ws_connect("/ws/console")
    await next_message(ws, "hello")
    missed = await next_message(ws, "pop")
    assert missed["replayed"] is True and missed["call"]["linkedid"] == "1800000000.7"
    await ws.close()
    call.outcome, call.ended_at, call.talk_s = Outcome.ANSWERED, T0 + 60, 48.0
    pops(CallEnded(call, T0 + 60))
    await pops.drain()
    ws = await client.ws_connect("/ws/console")
    await next_message(ws, "hello")
    await assert_silent(ws)  # a finished call does not pop again
    await ws.close()
    await pops.close()


async def test_classify_sets_priority_and_history(client: TestClient) -> None:
    csrf = await login(client, "anna")
    pops = composer(client)
    pops(CallAnswered(answered_call("1800000000.9"), T0))
    await pops.drain()
    await pops.close()
    categories = (await (await client.get(f"/api/tenants/{TENANT_A}/categories")).json())["categories"]
    kis = next(node for node in categories if node["name"].startswith("KIS"))
    ticket = (await (await client.get(f"/api/tenants/{TENANT_A}/tickets/1")).json())["ticket"]
    response = await client.post(
        f"/api/tenants/{TENANT_A}/tickets/{ticket['id']}/classify",
        json={"category_id": kis["id"], "impact": 2, "urgency": 2, "subject": "KIS hängt", "description": "seit 8 Uhr"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 200, await response.text()
    classified = (await response.json())["ticket"]
    assert classified["category"]["id"] == kis["id"] and classified["status"] == "in_progress"
    assert classified["priority"] in (1, 2)  # Dr. Müller is a VIP: urgency one level up


async def test_another_tenants_data_looks_like_nothing(client: TestClient, other: TestClient) -> None:
    # a ticket of tenant B, then Anna (tenant A only) reaching for it every way she can
    pops = composer(client)
    pops(CallAnswered(answered_call("1800000000.11", tenant=TENANT_B, interface="PJSIP/201"), T0))
    await pops.drain()
    await pops.close()
    carl = other
    await login(carl, "carl")
    own = await carl.get(f"/api/tenants/{TENANT_B}/tickets/1")
    assert own.status == 200
    csrf = await login(client, "anna")
    for path in (
        f"/api/tenants/{TENANT_B}/tickets/1",
        f"/api/tenants/{TENANT_B}/categories",
        f"/api/tenants/{TENANT_B}/callbacks",
        f"/api/tenants/{TENANT_B}/directory/search?q=Mueller",
        f"/api/tenants/{TENANT_A}/tickets/1",  # B's ticket id under A's name
    ):
        response = await client.get(path)
        assert response.status == 404, path
        assert "klinikum-sued" not in await response.text()
    classify = await client.post(
        f"/api/tenants/{TENANT_A}/tickets/1/classify",
        json={"category_id": 1, "impact": 1, "urgency": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert classify.status == 404


async def test_hostile_input_gets_a_clear_4xx(client: TestClient) -> None:
    csrf = await login(client, "anna")
    url = f"/api/tenants/{TENANT_A}/tickets/1/classify"
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    cases = [
        (b"{not json", 400, "invalid-json"),
        (b'{"category_id": 1, "impact": 9, "urgency": 3}', 400, "invalid-request"),
        (b'{"category_id": 1, "impact": 3, "urgency": 3, "sneaky": true}', 400, "invalid-request"),
        (b'{"category_id": "one", "impact": 3, "urgency": 3}', 400, "invalid-request"),
        (b"\xff\xfe\x00garbage", 400, None),
        (b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}', 413, None),
    ]
    for body, status, error_id in cases:
        response = await client.post(url, data=io.BytesIO(body), headers=headers)
        assert response.status == status, (body[:40], await response.text())
        payload = await response.json()
        assert "Traceback" not in json.dumps(payload) and payload["error_id"]
        if error_id:
            assert payload["error_id"] == error_id
    assert (await client.get(f"/api/tenants/{TENANT_A}/tickets/abc")).status == 404
    login_bad = await client.post("/api/login", json={"username": "anna"})
    assert login_bad.status == 400


async def test_security_headers_on_pages_and_errors(client: TestClient) -> None:
    for path in ("/login", "/api/me"):
        response = await client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_cross_origin_websocket_is_refused(client: TestClient) -> None:
    await login(client, "anna")
    response = await client.get(
        "/ws/console",
        headers={"Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
                 "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )  # fmt: skip
    assert response.status == 403


async def test_health_reports_the_database(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["database"]["reachable"] is True


async def test_a_pop_is_delivered_once_per_console(client: TestClient, seeded: Seeded) -> None:
    await login(client, "anna")
    first = await client.ws_connect("/ws/console")
    second = await client.ws_connect("/ws/console")
    for ws in (first, second):
        await next_message(ws, "hello")
    hub = app_of(client)[keys.HUB]
    await eventually(lambda: hub.consoles_of(seeded.anna.id) == 2)
    pops = composer(client)
    pops(CallAnswered(answered_call("1800000000.13"), T0))
    for ws in (first, second):
        assert (await next_message(ws, "pop"))["call"]["linkedid"] == "1800000000.13"
    await first.close()
    await second.close()
    await pops.close()


async def test_abandoning_known_caller_goes_on_the_callback_list_until_they_call_again(client: TestClient) -> None:
    await login(client, "anna")
    pops = composer(client)
    gone = CallRecord(
        call_id="1800000000.21@hotline", linkedid="1800000000.21", uniqueid="1800000000.21", queue="hotline",
        tenant=TENANT_A, entered_at=T0, caller_number="0231 98 60 572", caller_name="MUELLER J",
        ended_at=T0 + 40, wait_s=40.0, outcome=Outcome.ABANDONED,
    )  # fmt: skip
    unknown = CallRecord(
        call_id="1800000000.22@hotline", linkedid="1800000000.22", uniqueid="1800000000.22", queue="hotline",
        tenant=TENANT_A, entered_at=T0, caller_number="+4930999999", caller_name="?",
        ended_at=T0 + 40, wait_s=40.0, outcome=Outcome.ABANDONED,
    )  # fmt: skip
    pops(CallEnded(gone, T0 + 40))
    pops(CallEnded(unknown, T0 + 40))
    await pops.drain()
    listed = (await (await client.get(f"/api/tenants/{TENANT_A}/callbacks")).json())["callbacks"]
    assert [(c["caller_number"], c["user_id"] is not None) for c in listed] == [("0231 98 60 572", True)]
    again = CallRecord(
        call_id="1800000100.1@hotline", linkedid="1800000100.1", uniqueid="1800000100.1", queue="hotline",
        tenant=TENANT_A, entered_at=T0 + 100, caller_number="+492319860572", caller_name="MUELLER J",
    )  # fmt: skip
    pops(CallOffered(again, T0 + 100))
    await pops.drain()
    assert (await (await client.get(f"/api/tenants/{TENANT_A}/callbacks")).json())["callbacks"] == []
    await pops.close()


async def test_the_pop_goes_to_the_account_of_the_interface_and_to_the_member_name_only_without_one(
    client: TestClient, other: TestClient, seeded: Seeded
) -> None:
    # the queue member PJSIP/101 (Anna's phone) carries Ben's MemberName (a stale queues.conf entry): the
    # interface decides. A member whose interface no account has (a phone swapped, PJSIP/199) named "Ben
    # Schäfer": then the MemberName decides.
    await login(client, "anna")
    await login(other, "ben")
    anna_ws = await client.ws_connect("/ws/console")
    ben_ws = await other.ws_connect("/ws/console")
    await next_message(anna_ws, "hello")
    await next_message(ben_ws, "hello")
    pops = composer(client)
    misnamed = answered_call("1800000000.31", interface="PJSIP/101")
    misnamed.agent = "Ben Schäfer"
    pops(CallAnswered(misnamed, T0 + 12))
    pop = await next_message(anna_ws, "pop")
    assert pop["agent_id"] == seeded.anna.id and pop["call"]["linkedid"] == "1800000000.31"
    assert pop["ticket"]["agent"] == {"id": seeded.anna.id, "name": "Anna Becker"}
    await pops.drain()
    await assert_silent(ben_ws)
    misnamed.outcome, misnamed.ended_at, misnamed.talk_s = Outcome.ANSWERED, T0 + 60, 48.0
    pops(CallEnded(misnamed, T0 + 60))
    assert (await next_message(anna_ws, "call_ended"))["call"]["linkedid"] == "1800000000.31"
    await pops.drain()
    await assert_silent(ben_ws)

    by_name = answered_call("1800000000.32", number="+4930123456", interface="PJSIP/199")
    by_name.agent = "Ben Schäfer"
    pops(CallAnswered(by_name, T0 + 100))
    pop = await next_message(ben_ws, "pop")
    assert pop["agent_id"] == seeded.ben.id and pop["call"]["linkedid"] == "1800000000.32"
    assert pop["ticket"]["agent"] == {"id": seeded.ben.id, "name": "Ben Schäfer"}
    by_name.outcome, by_name.ended_at, by_name.talk_s = Outcome.ANSWERED, T0 + 160, 48.0
    pops(CallEnded(by_name, T0 + 160))
    assert (await next_message(ben_ws, "call_ended"))["call"]["linkedid"] == "1800000000.32"
    await pops.drain()
    await assert_silent(anna_ws)
    await anna_ws.close()
    await ben_ws.close()
    await pops.close()


async def test_the_pop_lists_the_callers_earlier_tickets_newest_first_without_the_new_one(
    client: TestClient, seeded: Seeded
) -> None:
    # the earlier tickets are read while the new one is written: the new one must not show up among them
    await login(client, "anna")
    ws = await client.ws_connect("/ws/console")
    await next_message(ws, "hello")
    pops = composer(client)
    numbers = []
    for i in range(7):
        pops(CallAnswered(answered_call(f"1800000000.{50 + i}"), T0 + 12 + i))
        pop = await next_message(ws, "pop")
        recent = pop["recent_tickets"]
        assert pop["ticket"]["id"] not in [t["id"] for t in recent]
        assert [t["number"] for t in recent] == numbers[::-1][:5]
        numbers.append(pop["ticket"]["number"])
    await pops.drain()
    await ws.close()
    await pops.close()


async def test_the_agent_who_answered_is_read_once_for_a_while_and_a_missing_one_every_time(
    client: TestClient, seeded: Seeded
) -> None:
    pops = composer(client)
    accounts = app_of(client)[keys.ACCOUNTS]
    reads: list[tuple[str | None, str | None]] = []

    class Counting:
        @property
        def version(self) -> int:
            return accounts.version

        async def agent_for_call(self, interface: str | None, member_name: str | None) -> Any:
            reads.append((interface, member_name))
            return await accounts.agent_for_call(interface, member_name)

    pops.accounts = Counting()
    await login(client, "anna")
    ws = await client.ws_connect("/ws/console")
    await next_message(ws, "hello")
    for i in range(3):  # answered and ended, three calls: Anna's account read once
        call = answered_call(f"1800000000.{70 + i}")
        pops(CallAnswered(call, T0 + 12))
        call.outcome, call.ended_at, call.talk_s = Outcome.ANSWERED, T0 + 60, 48.0
        pops(CallEnded(call, T0 + 60))
        await pops.drain()
    assert reads == [("PJSIP/101", "Anna Becker")]
    # Anna's account is deactivated in this process: the next call on her phone asks again and pops nowhere
    await accounts.deactivate(seeded.anna.id)
    pops(CallAnswered(answered_call("1800000000.79"), T0 + 12))
    await pops.drain()
    assert reads[1:] == [("PJSIP/101", "Anna Becker")] and pops.stats.without_agent_account == 1
    del reads[1:]
    for i in range(2):  # a phone no account has: asked again each time (an account made meanwhile counts at once)
        nobody = answered_call(f"1800000000.{80 + i}", interface="PJSIP/777")
        nobody.agent = "Unbekannt"
        pops(CallAnswered(nobody, T0 + 12))
        await pops.drain()
    assert reads[1:] == [("PJSIP/777", "Unbekannt")] * 2
    assert pops.stats.without_agent_account == 3
    await ws.close()
    await pops.close()
