"""First-contact resolution per solution article in the monthly report: a month of tickets with articles used,
solved or not, routed on, reopened and closed, counted exactly on SQLite and PostgreSQL; the JSON's ``articles``
and the HTML's section with its definitions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.articles.conftest import TENANT_A, TENANT_B
from uhd_telephony.articles.files import EXAMPLES
from uhd_telephony.articles.importer import import_articles
from uhd_telephony.articles.models import Article
from uhd_telephony.articles.service import ArticleService
from uhd_telephony.metrics import report
from uhd_telephony.metrics.articles import UseFact, figures
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.workflow import TicketWorkflow

BERLIN = ZoneInfo("Europe/Berlin")
KIS, PASSWORD, PRINTER = "kis-anmeldung", "kennwort-zuruecksetzen", "drucker-druckt-nicht"


def november(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=BERLIN)


class Desk:
    """Agents at work in a month: the service's clock set for each step."""

    def __init__(self, db: Database) -> None:
        self.at = november(2)
        self.service = TicketService(db, now=lambda: self.at)
        self.flow = TicketWorkflow(self.service)
        self.articles = ArticleService(db)
        self.ids: dict[str, int] = {}

    async def ticket(self, at: datetime, tenant: str = TENANT_A) -> int:
        self.at = at
        view = await self.service.create(
            tenant, channel="phone", subject="Anruf", requester=Requester(name="Jürgen Müller"), actor="agent:1"
        )
        return view.id

    async def use(self, ticket: int, slug: str, solved: bool, tenant: str = TENANT_A) -> None:
        await self.articles.record(self.flow, tenant, ticket, self.ids[slug], solved=solved, actor="agent:1")

    async def status(self, ticket: int, to: str, note: str = "weiter") -> None:
        await self.flow.transition(TENANT_A, ticket, to, note=note, actor="agent:1")

    async def route(self, ticket: int) -> None:
        await self.flow.route(TENANT_A, ticket, group="2nd_level", reason="nicht gelöst", actor="agent:1")


async def store_month(db: Database) -> None:
    """The month (tickets T1..T8 of tenant A in November) and what must not count."""
    await import_articles(db, EXAMPLES)
    desk = Desk(db)
    async with db.engine.connect() as conn:
        desk.ids = {row.slug: row.id for row in await conn.execute(select(Article.slug, Article.id))}
    t1 = await desk.ticket(november(2))  # KIS solved it: first contact
    await desk.use(t1, KIS, True)
    t2 = await desk.ticket(november(3))  # KIS tried, then 2nd level
    await desk.use(t2, KIS, False)
    await desk.route(t2)
    t3 = await desk.ticket(november(4))  # password solved it, then reopened: not at first contact
    await desk.use(t3, PASSWORD, True)
    await desk.status(t3, "reopened", "geht wieder nicht")
    t4 = await desk.ticket(november(5))  # at 2nd level first, then solved with the printer article
    await desk.route(t4)
    await desk.use(t4, PRINTER, True)
    t5 = await desk.ticket(november(6))  # KIS did not help, the password article did: first contact
    await desk.use(t5, KIS, False)
    await desk.use(t5, PASSWORD, True)
    t8 = await desk.ticket(november(30, 23))  # the printer article, then closed: first contact (Berlin's November)
    await desk.use(t8, PRINTER, True)
    await desk.status(t8, "closed", "erledigt")
    await desk.ticket(november(7))  # no article at all: in no figure of the section
    october = await desk.ticket(datetime(2026, 10, 31, 23, 30, tzinfo=BERLIN))  # created in October
    desk.at = november(8)
    await desk.use(october, KIS, True)
    other = await desk.ticket(november(9), tenant=TENANT_B)  # another tenant's
    await desk.use(other, KIS, True, tenant=TENANT_B)


async def test_first_contact_resolution_per_article_in_a_month(db: Database) -> None:
    await store_month(db)
    built = await report.build(db, TENANT_A, "2026-11", now=datetime(2026, 12, 1, 6, tzinfo=BERLIN))
    body = report.to_json(built)
    rows = {r["title"]: (r["used"], r["solved"], r["first_contact"], r["rate"]) for r in body["articles"]["by_article"]}
    assert rows == {
        "KIS: Anmeldung schlägt fehl": (3, 1, 1, 1 / 3),  # T1 solved, T2 and T5 not
        "Kennwort zurücksetzen (Windows und KIS)": (2, 2, 1, 0.5),  # T3 reopened, T5
        "Drucker druckt nicht": (2, 2, 1, 0.5),  # T4 routed on before, T8 closed
    }
    assert body["articles"]["by_article"][0]["title"] == "KIS: Anmeldung schlägt fehl"  # the most used first
    assert all(r["shared"] for r in body["articles"]["by_article"])
    # every ticket once: T1, T2, T3, T4, T5, T8 used; T2 not solved; T1, T5, T8 at first contact
    assert body["articles"]["tickets"] == {"article_id": None, "title": "", "shared": False, "used": 6, "solved": 5,
                                           "first_contact": 3, "rate": 0.5}  # fmt: skip
    assert (body["article_tickets"], body["article_tickets_solved"], body["article_first_contact"]) == (6, 5, 3)
    assert body["article_first_contact_resolution"] == 0.5
    assert "nie wiedereröffnet" in body["definitions"]["article_first_contact"]  # the report's language: German


async def test_the_html_shows_the_section_with_its_definitions(db: Database) -> None:
    await store_month(db)
    built = await report.build(db, TENANT_A, "2026-11", now=datetime(2026, 12, 1, 6, tzinfo=BERLIN))
    html = await report.to_html(built)
    section = html[html.index('<h2 id="articles">') :]
    assert section.startswith('<h2 id="articles">Lösungsartikel (Sofort-Support)</h2>')
    assert "<td>KIS: Anmeldung schlägt fehl <span" in section and "für alle Mandanten" in section
    assert "33,3\u00a0%" in section and "50,0\u00a0%" in section  # German percentages
    assert "Davon die Tickets, die (zum Zeitpunkt des Berichts) gelöst oder geschlossen sind" in section
    assert 'id="kpi-article_first_contact_resolution"' in html  # among the figures too
    csv = report.to_csv(built)
    assert "article_first_contact_resolution,Erstlösungsquote mit Lösungsartikeln,0.5," in csv
    english = await report.to_html(await report.build(db, TENANT_A, "2026-11", locale="en"))
    assert "Solution articles (instant support)" in english and "for every tenant" in english


async def test_a_month_without_articles_says_so(db: Database) -> None:
    built = await report.build(db, TENANT_A, "2026-11")
    body = report.to_json(built)
    assert body["articles"] == {"tickets": {"article_id": None, "title": "", "shared": False, "used": 0, "solved": 0,
                                            "first_contact": 0, "rate": None}, "by_article": []}  # fmt: skip
    html = await report.to_html(built)
    assert "Bei keinem Ticket des Monats wurde ein Lösungsartikel vermerkt." in html


def test_the_definition_ticket_by_ticket() -> None:
    def fact(article: int, ticket: int, solved: bool, status: str = "resolved", routed: bool = False,
             reopened: bool = False) -> UseFact:  # fmt: skip
        return UseFact(article, ticket, solved, status, routed, reopened)

    counted = figures(
        [
            fact(1, 1, True),  # first contact
            fact(1, 2, True, status="in_progress"),  # marked solved, yet the ticket is not resolved now
            fact(1, 3, True, routed=True),
            fact(1, 4, True, reopened=True),
            fact(1, 5, False),
            fact(2, 5, True, status="closed"),  # another article solved ticket 5
        ],
        {1: ("Eins", True), 2: ("Zwei", False)},
    )
    one, two = counted.rows
    assert (one.title, one.used, one.solved, one.first_contact, one.rate) == ("Eins", 5, 4, 1, 0.2)
    assert (two.title, two.shared, two.used, two.solved, two.first_contact) == ("Zwei", False, 1, 1, 1)
    assert (counted.total.used, counted.total.solved, counted.total.first_contact) == (5, 5, 2)
