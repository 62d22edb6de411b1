"""Finding a tenant's articles: by category, by words in the database's own full-text search, or both.

What a tenant finds: its own active articles and the shared ones, never another tenant's. A category filter keeps
the articles that fit the chosen category: made for it, for one of its ancestors (an article for ``kis`` fits a
ticket of ``kis/login``) or for one below it; without words the closest come first (the category itself, then
below, then above), with words the best match.

Words (any text: quotes, ``*``, ``NEAR``, brackets and the like are no syntax here, only separators; at most
``MAX_WORDS`` words of ``MAX_WORD`` characters count) match when ANY of them is found, the best first:

- PostgreSQL: ``to_tsvector('german', …)`` over title (weight A), tags (B) and body (C) — the GIN index of migration
  0018 — against the words' ``plainto_tsquery('german', …)`` joined by OR, ranked by ``ts_rank``. German stemming:
  "Drucker" finds "Druckers" and "Drucken" (all "druck"), "Passwort" finds "Passwörter"; umlauts are folded
  ("zurucksetzen" finds "zurücksetzen"); stop words ("der", "nicht") are no search words; compounds are not split
  ("Drucker" does not find "Druckertreiber").
- SQLite: FTS5 (``unicode61``, case and diacritics folded: "Passworter" finds "Passwörter") with no stemmer for
  German: each word matches the words that START with it ("Drucker" finds "Druckers" and "Druckertreiber", not
  "Drucken"; "druck" finds all three), ranked by ``bm25`` with the title weighted 10, tags 4, body 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, column, func, literal_column, or_, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.articles.importer import article_categories, articles
from uhd_telephony.articles.models import FTS_TABLE, SEARCH_CONFIG, SEARCH_VECTOR
from uhd_telephony.tickets.history import iso

MAX_QUERY = 1000  # characters of a search text read (the rest is ignored)
MAX_WORDS = 16
MAX_WORD = 64
MAX_CANDIDATES = 200  # articles read before the closest category is put first
DEFAULT_LIMIT = 5
MAX_LIMIT = 50
# letters and digits of any script; everything else separates words (and so can never be query syntax)
_WORD = re.compile(r"[^\W_]+")
_FTS = table(FTS_TABLE, column("rowid"))
SQLITE_WEIGHTS = (10.0, 4.0, 1.0)  # bm25 per column of articles_fts: title, tags, body


@dataclass(frozen=True, slots=True)
class ArticleView:
    """One article as found: its category paths and, from a word search, its rank (higher: better)."""

    id: int
    tenant: str | None
    slug: str
    title: str
    body: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    active: bool
    updated_at: datetime
    rank: float | None = None

    @property
    def shared(self) -> bool:
        return self.tenant is None

    def to_dict(self, titles: Mapping[str, str]) -> dict[str, Any]:
        """The JSON of an article in a list: ``titles`` names its categories (path -> the tenant's title path;
        a path the tree lacks is shown as it is)."""
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "tags": list(self.tags),
            "categories": [{"path": p, "title": titles.get(p, p)} for p in self.categories],
            "shared": self.shared,
            "active": self.active,
            "updated_at": iso(self.updated_at),
            "rank": self.rank,
        }


def words(text: str | None) -> list[str]:
    """The search words of ``text``: lower-case runs of letters and digits, each once, at most ``MAX_WORDS`` of
    at most ``MAX_WORD`` characters."""
    found = _WORD.findall((text or "")[:MAX_QUERY].lower())
    return list(dict.fromkeys(word[:MAX_WORD] for word in found))[:MAX_WORDS]


def visible(tenant: str) -> ColumnElement[bool]:
    """A tenant's active articles: its own and the shared ones."""
    return (articles.c.active.is_(True)) & or_(articles.c.tenant == tenant, articles.c.tenant.is_(None))


def ancestors(path: str) -> list[str]:
    """``kis/sap-ish/admission`` -> ``kis``, ``kis/sap-ish``."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def fits(path: str) -> ColumnElement[bool]:
    """The articles made for ``path``, one of its ancestors or a category below it."""
    c = article_categories.c
    related = or_(c.path.in_([path, *ancestors(path)]), c.path.startswith(path + "/", autoescape=True))
    return select(c.article_id).where(c.article_id == articles.c.id, related).exists()


def closeness(path: str, paths: Sequence[str]) -> int:
    """How near an article with ``paths`` is to ``path``: 0 made for it, 1 for one below it, 2 for one above."""
    if path in paths:
        return 0
    return 1 if any(p.startswith(path + "/") for p in paths) else 2


def _postgresql(stmt: Select[Any], terms: Sequence[str]) -> Select[Any]:
    config: ColumnElement[Any] = literal_column(f"'{SEARCH_CONFIG}'::regconfig")
    queries: list[ColumnElement[Any]] = [
        func.plainto_tsquery(config, bindparam(f"w{i}", term)) for i, term in enumerate(terms)
    ]
    query = reduce(lambda a, b: a.op("||")(b), queries)
    vector: ColumnElement[Any] = literal_column(SEARCH_VECTOR)
    rank = func.ts_rank(vector, query)
    return stmt.add_columns(rank.label("rank")).where(vector.op("@@")(query)).order_by(rank.desc())


def _sqlite(stmt: Select[Any], terms: Sequence[str]) -> Select[Any]:
    # every word a quoted prefix phrase: a quote cannot occur inside one (words are letters and digits only)
    match = " OR ".join(f'"{term}"*' for term in terms)
    rank = -func.bm25(literal_column(FTS_TABLE), *SQLITE_WEIGHTS)
    return (
        stmt.add_columns(rank.label("rank"))
        .join(_FTS, _FTS.c.rowid == articles.c.id)
        .where(literal_column(FTS_TABLE).op("MATCH")(bindparam("match", match)))
        .order_by(rank.desc())
    )


async def paths_of(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[str]]:
    """The category paths of each of the articles ``ids``."""
    out: dict[int, list[str]] = {}
    if ids:
        stmt = select(article_categories).where(article_categories.c.article_id.in_(list(ids)))
        for row in (await conn.execute(stmt.order_by(article_categories.c.path))).all():
            out.setdefault(row.article_id, []).append(row.path)
    return out


def view(row: Mapping[Any, Any], paths: Sequence[str], rank: float | None = None) -> ArticleView:
    """The ArticleView of an ``articles`` row."""
    tags = tuple(t.strip() for t in row["tags"].split(",") if t.strip())
    return ArticleView(
        id=row["id"], tenant=row["tenant"], slug=row["slug"], title=row["title"], body=row["body"], tags=tags,
        categories=tuple(paths), active=bool(row["active"]), updated_at=row["updated_at"], rank=rank,
    )  # fmt: skip


def statement(dialect: str, tenant: str, path: str | None, terms: Sequence[str]) -> Select[Any]:
    """The query of ``find`` on ``dialect``: the tenant's articles fitting ``path`` and matching ``terms``."""
    stmt = select(articles).where(visible(tenant))
    if path is not None:
        stmt = stmt.where(fits(path))
    if terms:
        stmt = _postgresql(stmt, terms) if dialect == "postgresql" else _sqlite(stmt, terms)
    return stmt.order_by(articles.c.title, articles.c.id).limit(MAX_CANDIDATES)


async def find(
    conn: AsyncConnection, tenant: str, *, path: str | None = None, text: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[ArticleView]:
    """The tenant's articles fitting category ``path`` and/or matching the words of ``text``, best first (module
    docstring); neither: the tenant's articles by title."""
    terms = words(text)
    if not terms and text is not None and text.strip():
        return []  # a text without a single word (only punctuation): nothing matches it
    rows = (await conn.execute(statement(conn.dialect.name, tenant, path, terms))).mappings().all()
    paths = await paths_of(conn, [r["id"] for r in rows])
    found = [view(r, paths.get(r["id"], ()), float(r["rank"]) if terms else None) for r in rows]
    if path is not None and not terms:
        # the closest category first, by title within it (a word search keeps its rank's order)
        found.sort(key=lambda a: closeness(path, a.categories))
    return found[: max(1, min(limit, MAX_LIMIT))]
