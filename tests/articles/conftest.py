"""Solution article fixtures: a migrated database with both tenants' category trees, article folders written on the
fly, and the seeded web app (tests/web) for the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from tests import dbfixtures
from tests.tickets.webapp import Api, client, other, seeded  # noqa: F401  (fixtures, registered here)
from uhd_telephony.articles.files import ArticleFile
from uhd_telephony.articles.importer import import_articles
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories

TENANT_A, TENANT_B = "klinikum-nord", "klinikum-sued"
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish

__all__ = ["Api", "add", "article", "with_trees", "write"]


@contextlib.asynccontextmanager
async def with_trees(url: str) -> AsyncIterator[Database]:
    """The database at ``url``, migrated, where both tenants have the example category tree; closed after."""
    await migrate(url)
    database = Database(url)
    try:
        for tenant in (TENANT_A, TENANT_B):
            await import_categories(database, tenant, DEFAULT_CATEGORIES)
        yield database
    finally:
        await database.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """``with_trees`` on SQLite, then on PostgreSQL."""
    async with with_trees(db_url) as database:
        yield database


def write(
    folder: Path,
    name: str,
    *,
    title: str,
    categories: Sequence[str] = ("kis/login",),
    body: str = "Schritt für Schritt.",
    extra: str = "",
) -> Path:
    """An article file ``name`` in ``folder`` (made if need be)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    cats = ", ".join(categories)
    path.write_text(f'---\ntitle: "{title}"\ncategories: [{cats}]\n{extra}---\n{body}\n', encoding="utf-8")
    return path


def article(
    slug: str, title: str, body: str = "Schritt für Schritt.", categories: Sequence[str] = ("kis/login",),
    tags: Sequence[str] = (),
) -> ArticleFile:  # fmt: skip
    """An article as a file would give it."""
    return ArticleFile(slug, title, body, tuple(tags), tuple(categories), f"{slug}.md")


async def add(db: Database, tenant: str | None, *articles: ArticleFile) -> None:
    """These articles as the whole of ``tenant``'s scope (None: shared)."""
    await import_articles(db, list(articles), tenant)
