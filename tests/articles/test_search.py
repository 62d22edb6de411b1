"""Finding articles in the database's own full-text search: German words as each database matches them, the category
filter (ancestors and descendants fit), a tenant's own and the shared articles and never another tenant's, and
queries full of search syntax that are only words."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.articles.conftest import TENANT_A, TENANT_B, add, article, with_trees
from uhd_telephony.articles.search import MAX_WORDS, closeness, find, statement, words
from uhd_telephony.store.db import Database

PRINTER = article(
    "drucker",
    "Drucker druckt nicht",
    "Der Auftrag hängt in der Warteschlange des Druckers. Erst den Papierstau prüfen.",
    ("hardware/printer",),
    ("Warteschlange",),
)
PASSWORD = article(
    "kennwort", "Kennwort zurücksetzen", "Passwörter laufen nach 90 Tagen ab. Einmalkennwort vergeben.", ("kis/login",)
)
PRINTING = article("pdf", "PDF lässt sich nicht drucken", "Als Bild drucken.", ("standard-apps/pdf",))
DRIVER = article("treiber", "Druckertreiber installieren", "Über das Softwareportal.", ("hardware/printer",))


async def found(
    db: Database, query: str | None = None, *, tenant: str = TENANT_A, path: str | None = None
) -> list[str]:
    async with db.engine.connect() as conn:
        return [a.slug for a in await find(conn, tenant, text=query, path=path, limit=50)]


@pytest.fixture
async def library(db: Database) -> Database:
    """The four shared articles, on SQLite and on PostgreSQL."""
    await add(db, None, PRINTER, PASSWORD, PRINTING, DRIVER)
    return db


@pytest.fixture
async def pg_library(pg_url: str) -> AsyncIterator[Database]:
    """The same on PostgreSQL alone: what its German configuration does."""
    async with with_trees(pg_url) as db:
        await add(db, None, PRINTER, PASSWORD, PRINTING, DRIVER)
        yield db


@pytest.fixture
async def sqlite_library(sqlite_url: str) -> AsyncIterator[Database]:
    """The same on SQLite alone: what its FTS5 table does."""
    async with with_trees(sqlite_url) as db:
        await add(db, None, PRINTER, PASSWORD, PRINTING, DRIVER)
        yield db


async def test_the_title_weighs_more_than_the_body(library: Database) -> None:
    await add(library, TENANT_A, article("stau", "Papierstau beheben", "Klappe öffnen.", ("hardware/printer",)))
    # "Papierstau" is the title of one article and in the body of another
    assert (await found(library, "Papierstau"))[:2] == ["stau", "drucker"]


async def test_what_both_databases_find(library: Database) -> None:
    assert await found(library, "Kennwort") == ["kennwort"]
    assert await found(library, "KENNWORT zurücksetzen") == ["kennwort"]
    assert await found(library, "zurucksetzen") == ["kennwort"]  # umlauts folded
    assert await found(library, "Passworter") == ["kennwort"]  # "Passwörter" without its umlaut
    assert await found(library, "Warteschlange") == ["drucker"]  # a tag
    assert await found(library, "Chipkarte") == []
    assert await found(library, "Chipkarte Kennwort") == ["kennwort"]  # any of the words


async def test_german_stemming_on_postgresql(pg_library: Database) -> None:
    """PostgreSQL's German configuration stems words; SQLite matches prefixes (the next test)."""
    library = pg_library
    # 'german' stems Drucker, Druckers, drucken to one word, and a plural to its singular
    assert set(await found(library, "Druckers")) == {"drucker", "pdf"}
    assert set(await found(library, "drucken")) == {"drucker", "pdf"}
    assert await found(library, "Passwort") == ["kennwort"]  # finds "Passwörter"
    assert await found(library, "Einmalkennworte") == ["kennwort"]
    assert await found(library, "Drucker") != [] and "treiber" not in await found(library, "Drucker")  # no compounds
    assert await found(library, "der die nicht") == []  # stop words are no search words


async def test_prefixes_on_sqlite(sqlite_library: Database) -> None:
    """SQLite's FTS5 has no German stemmer: it matches the words that start with a search word."""
    library = sqlite_library
    assert set(await found(library, "Drucker")) == {"drucker", "treiber"}  # Drucker, Druckers, Druckertreiber
    assert await found(library, "Druckers") == ["drucker"]
    assert set(await found(library, "druck")) == {"drucker", "pdf", "treiber"}
    assert await found(library, "Passwort") == ["kennwort"]  # the start of "Passwörter"
    assert await found(library, "drucken") == ["pdf"]  # no stemming: "Drucker" is not "drucken"


async def test_the_category_filter_takes_ancestors_and_descendants(library: Database) -> None:
    await add(library, TENANT_A, article("hw", "Hardware allgemein", categories=("hardware",)),
              article("etikett", "Etiketten", categories=("hardware/printer/label-printer",)))  # fmt: skip
    # the chosen category first, then those below it, then those above
    assert await found(library, path="hardware/printer") == ["drucker", "treiber", "etikett", "hw"]
    assert await found(library, path="hardware/printer/label-printer") == ["etikett", "drucker", "treiber", "hw"]
    assert await found(library, path="hardware") == ["hw", "drucker", "treiber", "etikett"]
    assert await found(library, path="kis") == ["kennwort"]
    assert await found(library, path="kis/login") == ["kennwort"]
    assert await found(library, path="pacs") == []
    assert await found(library, path="hard") == []  # a prefix of a code is another category
    # with words: those that fit and match, the best match first
    async with library.engine.connect() as conn:
        matched = await find(conn, TENANT_A, text="Etiketten Drucker", path="hardware/printer", limit=50)
    assert {"etikett", "drucker"} <= {a.slug for a in matched} <= {"etikett", "drucker", "treiber"}
    ranks = [a.rank for a in matched]
    assert all(r is not None for r in ranks) and ranks == sorted(ranks, reverse=True)  # type: ignore[type-var]


def test_closeness() -> None:
    assert closeness("kis/login", ["kis/login", "pacs"]) == 0
    assert closeness("kis", ["kis/login"]) == 1
    assert closeness("kis/login", ["kis"]) == 2


async def test_a_tenant_finds_its_own_and_the_shared_never_anothers(library: Database) -> None:
    await add(library, TENANT_B, article("geheim", "Drucker im OP Süd", categories=("hardware/printer",)))
    await add(library, TENANT_A, article("nord", "Drucker Station Nord", categories=("hardware/printer",)))
    assert "geheim" not in await found(library, "Drucker")
    assert "geheim" not in await found(library, path="hardware/printer")
    assert "geheim" not in await found(library)
    assert "nord" in await found(library, "Drucker") and "drucker" in await found(library, "Drucker")
    assert "geheim" in await found(library, "Drucker", tenant=TENANT_B)
    assert "nord" not in await found(library, "Drucker", tenant=TENANT_B)
    assert await found(library, "Drucker", tenant="klinikum-ost") == await found(library, "Drucker", tenant="x")


HOSTILE = [
    '"',
    "'",
    '""*',
    "*",
    "Drucker*",
    "NEAR(Drucker Kennwort, 2)",
    "Drucker AND OR NOT",
    "title:Drucker",
    "{title tags}: Drucker",
    "^Drucker",
    "-Drucker",
    "Drucker & | ! <-> :*",
    "') OR 1=1 --",
    "\\",
    "%_%",
    "\u0000",
    "ß" * 5000,
    "Drucker " * 2000,
    " ".join(f"wort{i}" for i in range(500)),
    "🖨️ Drücker ☃",
    "\u202e\u200b",
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_are_only_words(library: Database, query: str) -> None:
    result = await found(library, query)  # never an error
    assert set(result) <= {"drucker", "kennwort", "pdf", "treiber"}
    if "Drucker" in query:
        assert "drucker" in result


def test_the_words_of_a_query() -> None:
    assert words('NEAR("Drucker" Kennwort)* -OR ^x') == ["near", "drucker", "kennwort", "or", "x"]
    assert words("a_b c.d") == ["a", "b", "c", "d"]
    assert len(words(" ".join(f"w{i}" for i in range(100)))) == MAX_WORDS
    assert words("x" * 500) == ["x" * 64]
    assert words(None) == [] and words("!!! ???") == []


async def test_only_punctuation_finds_nothing(library: Database) -> None:
    assert await found(library, "!!! ??? ...") == []
    assert len(await found(library, "")) == 4  # no words at all: the articles by title


async def test_postgresql_uses_the_gin_index(pg_library: Database) -> None:
    library = pg_library
    # enough of the tenant's articles that its few matches are best found through the index
    many = [article(f"a{i}", f"Routine {i}", f"Ablauf {i} der Station.", ("pacs",)) for i in range(400)]
    await add(library, TENANT_A, *many, article("selten", "Chipkartenleser", categories=("pacs",)))
    query = statement("postgresql", TENANT_A, None, ["chipkartenleser"])
    compiled = query.compile(library.engine.sync_engine, compile_kwargs={"literal_binds": True})
    async with library.engine.connect() as conn:
        await conn.execute(text("ANALYZE articles"))
        plan = "\n".join(row[0] for row in await conn.execute(text(f"EXPLAIN {compiled}")))
        assert [a.slug for a in await find(conn, TENANT_A, text="Chipkartenleser")] == ["selten"]
    assert "ix_articles_search" in plan, plan
