"""A seeded world for the security tests: two tenants, every role, API tokens, tickets, callbacks, a status link.

Tenant A (klinikum-nord): agent anna, manager maria, partner acme (group partner:acme, tokens only), a service
account svc (tokens), and tickets: one routed to partner:acme, one at 1st level. Tenant B (klinikum-sued): agent
carl, a ticket and a callback of "Zacharias Südlich", whose name and ticket number must never reach A's people.
Admin olga serves every tenant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from tests import dbfixtures
from tests.mailin.seeding import seed_mail
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, seed, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.articles.files import ArticleFile
from uhd_telephony.articles.importer import import_articles
from uhd_telephony.articles.models import Article
from uhd_telephony.callbacks.models import Callback
from uhd_telephony.errors import AmiNotConnected
from uhd_telephony.incidents.service import IncidentService
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.sla.models import Escalation
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tickets.groups import import_groups
from uhd_telephony.tickets.models import Category, Ticket, TicketHistory
from uhd_telephony.tickets.notify import token_hash
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import tickets
from uhd_telephony.tickets.workflow import TicketWorkflow
from uhd_telephony.web import keys

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db

PARTNER_GROUP = "partner:acme"
SECRET_NAME = "Zacharias Südlich"  # tenant B's requester: never in an answer to tenant A's people
ALL_SCOPES = ["tickets:read", "tickets:write", "kpis:read", "wallboard:read"]


class FakeAmi:
    """Asterisk away: a callback's Originate fails after its entry was claimed (and is released again)."""

    async def send_action(self, action: Any, **_: Any) -> Any:
        raise AmiNotConnected("no connection to Asterisk (test)")


@dataclass
class World:
    url: str
    ids: dict[str, int] = field(default_factory=dict)  # accounts and objects by name
    tokens: dict[str, str] = field(default_factory=dict)  # bearer strings by name
    numbers: dict[str, str] = field(default_factory=dict)  # ticket numbers by name
    status_token: str = ""
    category_a: int = 0


async def build_world(url: str) -> World:
    """Seed the database at ``url`` (migrated by ``seed``)."""
    seeded = await seed(url)
    world = World(url)
    world.ids.update(anna=seeded.anna.id, ben=seeded.ben.id, carl=seeded.carl.id)
    db = Database(url)
    try:
        tenants = TenantService(db)
        await tenants.add(TENANT_A, name="Klinikum Nord", hotlines=[("+49 231 990001", "nord-hotline")])
        await tenants.add(TENANT_B, name="Klinikum Süd", hotlines=[("+49 231 990002", "sued-hotline")])
        from uhd_telephony.accounts.service import AccountService

        accounts = AccountService(db)
        maria = await accounts.create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
        # an operator who also answers the phone: her callbacks ring PJSIP/900
        olga = await accounts.create(
            "olga", PASSWORD, role="admin", display_name="Olga Operator", phone_channel="PJSIP/900"
        )
        acme = await accounts.create("acme", PASSWORD, role="partner", tenants=[TENANT_A], partner_group=PARTNER_GROUP)
        svc = await accounts.create("svc", PASSWORD, role="agent", tenants=[TENANT_A], display_name="Service")
        victim = await accounts.create("victim", PASSWORD, role="agent", tenants=[TENANT_A])
        world.ids.update(maria=maria.id, olga=olga.id, acme=acme.id, svc=svc.id, victim=victim.id)

        tokens = TokenService(db)
        issued = {
            "partner": await tokens.create(acme.id, name="acme ERP", scopes=["tickets:read", "tickets:write"]),
            "token": await tokens.create(svc.id, name="reporting", scopes=ALL_SCOPES),
            "token_noscope": await tokens.create(svc.id, name="kpis only", scopes=["kpis:read"]),
            "throwaway": await tokens.create(svc.id, name="to revoke", scopes=["kpis:read"]),
        }
        for name, token in issued.items():
            world.tokens[name] = token.secret
            world.ids[f"token_{name}"] = token.view.id

        await import_groups(db, TENANT_A, [{"code": PARTNER_GROUP, "mail": "orders@acme.example"}])
        service = TicketService(db)
        flow = TicketWorkflow(service)
        routed = await service.create(
            TENANT_A, channel="web", subject="PACS-Viewer startet nicht", requester=Requester(name="Jürgen Müller"),
            actor=f"agent:{seeded.anna.id}",
        )  # fmt: skip
        await flow.route(TENANT_A, routed.id, group=PARTNER_GROUP, reason="Herstellersupport", actor="system")
        plain = await service.create(
            TENANT_A, channel="web", subject="Drucker", requester=Requester(name="Sabine Weiß"),
            actor=f"agent:{seeded.anna.id}",
        )  # fmt: skip
        foreign = await service.create(
            TENANT_B, channel="phone", subject="KIS hängt", requester=Requester(name=SECRET_NAME, number="0231 555 77"),
            actor=f"agent:{seeded.carl.id}",
        )  # fmt: skip
        world.ids.update(ticket_a=routed.id, ticket_plain=plain.id, ticket_b=foreign.id)
        # issue #19's requests by mail: an attachment of A's partner ticket and of B's, A's helpdesk address
        world.ids.update(await seed_mail(db, routed.id, foreign.id, SECRET_NAME))
        # issue #18's solution articles: one of each tenant (B's names B's secret caller: never in A's answers), one
        # shared by both (what a request about either tenant's ticket may use)
        for tenant, key, title in ((TENANT_A, "article_a", "Drucker druckt nicht"),
                                   (TENANT_B, "article_b", f"KIS-Sonderzugang für {SECRET_NAME}"),
                                   (None, "article_shared", "Kennwort zurücksetzen")):  # fmt: skip
            text = ArticleFile(key, title, "Schritt für Schritt.", (), ("hardware/printer",), f"{key}.md")
            await import_articles(db, [text], tenant)
            async with db.engine.connect() as conn:
                found = select(Article.id).where(Article.slug == key)
                world.ids[key] = int((await conn.execute(found)).scalar_one())
        # issue #18's major incidents: one of each tenant, B's naming B's secret caller, with B's ticket linked
        incidents = IncidentService(service)
        for tenant, key, title, actor, linked in (
            (TENANT_A, "incident_a", "Drucker im Haus A", seeded.anna.id, []),
            (TENANT_B, "incident_b", f"KIS-Ausfall bei {SECRET_NAME}", seeded.carl.id, [foreign.id]),
        ):
            made = await incidents.declare(
                tenant, title=title, caller_message="Bitte warten.", actor=f"agent:{actor}", ticket_ids=linked
            )
            world.ids[key] = made.id
        world.numbers.update(ticket_a=routed.number, ticket_plain=plain.number, ticket_b=foreign.number)
        # the status link of a ticket the walk never resolves: its rating page stays the one refusal throughout
        world.status_token = secrets.token_urlsafe(32)
        async with db.engine.begin() as conn:
            await conn.execute(
                update(tickets).where(tickets.c.id == plain.id).values(status_token_hash=token_hash(world.status_token))
            )
            world.category_a = int(
                (
                    await conn.execute(
                        select(func.min(Category.id)).where(
                            Category.tenant == TENANT_A, Category.parent_id.is_not(None)
                        )
                    )
                ).scalar_one()
            )
            world.ids["category_b"] = int(
                (await conn.execute(select(func.min(Category.id)).where(Category.tenant == TENANT_B))).scalar_one()
            )
        async with db.sessionmaker() as session:
            now = datetime.now(UTC)
            for tenant, name, number, key in (
                (TENANT_A, "Paula Pflege", "0231 9860572", "callback_a"),
                (TENANT_B, SECRET_NAME, "0231 555 77", "callback_b"),
            ):
                row = Callback(
                    tenant=tenant, call_id=f"call-{key}", linkedid=f"link-{key}", caller_number=number,
                    caller_name=name, queue="hotline", abandoned_at=now, wait_s=30.0,
                )  # fmt: skip
                session.add(row)
                await session.flush()
                world.ids[key] = row.id
            # issue #7's escalations: one of A's partner ticket, one of B's ticket (acknowledge, de-escalate)
            for ticket, tenant, key in ((routed.id, TENANT_A, "escalation_a"), (foreign.id, TENANT_B, "escalation_b")):
                escalation = Escalation(
                    ticket_id=ticket, tenant=tenant, kind="warning", target="response", level=1, due_at=now,
                    fired_at=now, notified=[],
                )  # fmt: skip
                session.add(escalation)
                await session.flush()
                world.ids[key] = escalation.id
            await session.commit()
    finally:
        await db.close()
    return world


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """The world seeded once per run (scrypt hashes, imports: about a second) into a file each test copies."""
    path = tmp_path_factory.mktemp("world") / "template.db"
    return path, asyncio.run(build_world(f"sqlite+aiosqlite:///{path}"))


@pytest.fixture
def world(world_template: tuple[Path, World], tmp_path: Path) -> World:
    """A fresh copy of the seeded world on SQLite for this test."""
    return copy_world(world_template, tmp_path)


def copy_world(world_template: tuple[Path, World], tmp_path: Path) -> World:
    """A copy of the seeded SQLite world in ``tmp_path``."""
    template, seeded = world_template
    target = tmp_path / "uhd-test.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{template}{suffix}").exists():
            shutil.copyfile(f"{template}{suffix}", f"{target}{suffix}")
    return dataclasses.replace(
        seeded,
        url=f"sqlite+aiosqlite:///{target}",
        ids=dict(seeded.ids),
        tokens=dict(seeded.tokens),
        numbers=dict(seeded.numbers),
    )


@pytest.fixture
async def client(world: World, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    app = init_app(web_settings(world.url), ami=lambda: FakeAmi())
    yield await aiohttp_client(app)


async def browser(client: TestClient) -> TestClient:
    """Another cookie jar on the same running server (close its session afterwards)."""
    other = TestClient(client.server, cookie_jar=CookieJar(unsafe=True))
    await other.start_server()
    return other


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/login", json={"username": username, "password": password})
    assert response.status == 200, await response.text()
    return str((await response.json())["account"]["csrf_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def row_counts(db: Database) -> dict[str, int]:
    """Rows of the tables a rejected request must not touch."""
    out = {}
    async with db.engine.connect() as conn:
        for name, model in (("tickets", Ticket), ("ticket_history", TicketHistory), ("callbacks", Callback)):
            out[name] = int((await conn.execute(select(func.count()).select_from(model))).scalar_one())
    return out


def app_db(client: TestClient) -> Database:
    return client.server.app[keys.DB]
