"""Feedback fixtures: the routing tests' seeded world (two tenants, the directory with mail addresses, the real
SMTP receiver and outbox worker), and tickets closed through the workflow so the closure mail is the real one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from tests.outbox.sinks import text_of
from tests.tickets.routing import conftest as routing
from tests.tickets.routing.conftest import MUELLER, TENANT, World
from uhd_telephony.app.web import init_app
from uhd_telephony.feedback import plugin as _feedback  # noqa: F401  (the closure mail's rating links)
from uhd_telephony.feedback.models import ratings
from uhd_telephony.feedback.page import CLOCK
from uhd_telephony.outbox.models import outbox
from uhd_telephony.tickets.view import tickets
from uhd_telephony.tickets.workflow import TicketWorkflow

aiosqlite_threads_finish = routing.aiosqlite_threads_finish
db = routing.db
smtp = routing.smtp
hooks = routing.hooks
sender = routing.sender
world = routing.world

PUBLIC = "https://helpdesk.example.org"
# "1 (gar nicht zufrieden): https://…/status/<token>/rating?score=1"
RATING_LINK = re.compile(r"^(\d) \(([^)]*)\): (https?://\S+/status/([A-Za-z0-9_-]+)/rating\?score=(\d))\r?$", re.M)


@dataclass
class Closed:
    """A ticket closed through the workflow, and the rating links of its closure mail."""

    id: int
    number: str
    token: str
    links: dict[int, str]  # score -> the path of its link (/status/<token>/rating?score=n)
    mail: str


async def close(world: World, ticket_id: int, *, tenant: str = TENANT) -> None:
    flow = TicketWorkflow(world.tickets)
    await flow.transition(tenant, ticket_id, "resolved", note="Neu gestartet", actor="agent:3")
    await flow.transition(tenant, ticket_id, "closed", note=None, actor="agent:3")


def rating_links(text: str) -> dict[int, str]:
    """The German part's links (the first five), by score, as paths of this server."""
    found = RATING_LINK.findall(text)
    assert len(found) == 10, text  # five in German, five in English
    links = {int(score): url.removeprefix(PUBLIC) for score, _, url, _, linked in found[:5] if score == linked}
    assert sorted(links) == [1, 2, 3, 4, 5]
    return links


async def closed_ticket(world: World, n: int = 1, *, tenant: str = TENANT, to: str = MUELLER) -> Closed:
    """A phone ticket of P-10001 (who has a mail address), resolved and closed; its closure mail delivered."""
    ticket = await world.phone_ticket(n, tenant=tenant)
    await world.tickets.classify(
        tenant, ticket.id, category_id=await world.category_id("pacs/viewer", tenant), impact=3, urgency=3,
        actor="agent:3",
    )  # fmt: skip
    await close(world, ticket.id, tenant=tenant)
    await world.deliver()
    mail = closure_mail(world, ticket.number, to)
    links = rating_links(mail)
    token = links[1].split("/")[2]
    return Closed(ticket.id, ticket.number, token, links, mail)


def closure_mail(world: World, number: str, to: str = MUELLER) -> str:
    """The text of the last closure mail of ticket ``number`` (mails of one delivery arrive in any order)."""
    closures = [m for m in world.smtp.to(to) if m["Subject"].startswith(f"[{number}] Ihre Anfrage wurde abgeschlossen")]
    assert closures, [m["Subject"] for m in world.smtp.to(to)]
    return text_of(closures[-1])


async def client_of(world: World, aiohttp_client: Any) -> TestClient:
    """The app without a login (the caller has no account), on the world's clock."""
    app = init_app(world.settings)
    app[CLOCK] = world.clock
    return await aiohttp_client(app)


async def rating_rows(world: World) -> list[dict[str, Any]]:
    async with world.db.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(ratings).order_by(ratings.c.id))).mappings()]


async def age(world: World, ticket_id: int, days: float) -> None:
    """Move the ticket's resolution and closing ``days`` into the past."""
    async with world.db.engine.begin() as conn:
        row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).mappings().one()
        await conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(
                resolved_at=row["resolved_at"] - timedelta(days=days), closed_at=row["closed_at"] - timedelta(days=days)
            )
        )


async def queued_texts(world: World) -> list[str]:
    async with world.db.engine.connect() as conn:
        return [r["text"] for r in (await conn.execute(select(outbox.c.body))).scalars() if isinstance(r, dict)]
