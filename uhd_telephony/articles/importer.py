"""Importing a folder of article files (``articles.files``) into one scope: a tenant's own articles, or the shared
ones (``tenant`` None) every tenant finds beside its own.

The folder is the whole scope: each article is upserted by its slug, one whose file is gone is deactivated (and
reported, never deleted: tickets solved with it keep naming it), one that comes back is active again. Everything is
checked before anything is written, in one transaction: a bad file (its problem named), a category path the
tenant's tree does not have, and nothing is written. A shared article's paths are checked against no single tree;
those no tenant's tree has are reported (``unknown_categories``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, false, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.articles.files import ArticleError, ArticleFile, read_folder
from uhd_telephony.articles.models import Article, ArticleCategory
from uhd_telephony.errors import Conflict
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenant import check_tenant
from uhd_telephony.tickets.models import Category

articles = table_of(Article)
article_categories = table_of(ArticleCategory)
categories = table_of(Category)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did; ``deactivated``: the articles whose file is gone (slug, title, file)."""

    tenant: str | None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: tuple[dict[str, str], ...] = ()
    unknown_categories: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": list(self.deactivated),
            "unknown_categories": list(self.unknown_categories),
        }


def in_scope(tenant: str | None) -> Any:
    """The articles of one scope: a tenant's own, or the shared ones."""
    return articles.c.tenant.is_(None) if tenant is None else articles.c.tenant == tenant


async def _known_paths(conn: AsyncConnection, tenant: str | None) -> set[str]:
    """The category paths of the tenant's tree (inactive ones too); for shared articles, of every tenant's."""
    stmt = select(categories.c.path).distinct()
    if tenant is not None:
        stmt = stmt.where(categories.c.tenant == tenant)
    return set((await conn.execute(stmt)).scalars())


def _unknown(files: Sequence[ArticleFile], known: set[str], tenant: str | None) -> tuple[str, ...]:
    """The paths the tree lacks; for a tenant the first one is an error naming its file."""
    missing: dict[str, str] = {}
    for article in files:
        for path in article.categories:
            if path not in known:
                missing.setdefault(path, article.source)
    if tenant is not None and missing:
        path, source = next(iter(missing.items()))
        raise ArticleError(
            f"article {source}: the category tree of {tenant!r} has no category {path!r} "
            "(uhd-telephony import-categories; the path is the codes joined by '/')",
            {"file": source, "category": path},
        )
    return tuple(sorted(missing))


def _values(article: ArticleFile) -> dict[str, Any]:
    return {
        "title": article.title,
        "body": article.body,
        "tags": article.tag_text,
        "source": article.source,
        "digest": article.digest,
        "active": True,
    }


async def _categories(conn: AsyncConnection, article_id: int, paths: Sequence[str], *, replace: bool) -> None:
    if replace:
        await conn.execute(delete(article_categories).where(article_categories.c.article_id == article_id))
    await conn.execute(insert(article_categories), [{"article_id": article_id, "path": p} for p in paths])


async def _write(
    conn: AsyncConnection, tenant: str | None, files: Sequence[ArticleFile], now: datetime
) -> tuple[int, int, int, list[dict[str, str]]]:
    existing = {r["slug"]: r for r in (await conn.execute(select(articles).where(in_scope(tenant)))).mappings()}
    created = updated = unchanged = 0
    for article in files:
        values = _values(article)
        row = existing.get(article.slug)
        if row is None:
            stmt = insert(articles).values(tenant=tenant, slug=article.slug, created_at=now, updated_at=now, **values)
            article_id = (await conn.execute(stmt.returning(articles.c.id))).scalar_one()
            await _categories(conn, article_id, article.categories, replace=False)
            created += 1
        elif all(row[key] == value for key, value in values.items()):
            unchanged += 1
        else:
            await conn.execute(update(articles).where(articles.c.id == row["id"]).values(updated_at=now, **values))
            await _categories(conn, row["id"], article.categories, replace=True)
            updated += 1
    slugs = {article.slug for article in files}
    gone = [row for slug, row in existing.items() if slug not in slugs and row["active"]]
    if gone:
        await conn.execute(
            update(articles).where(articles.c.id.in_([r["id"] for r in gone])).values(active=False, updated_at=now)
        )
    deactivated = [{"slug": r["slug"], "title": r["title"], "file": r["source"]} for r in gone]
    return created, updated, unchanged, deactivated


async def import_articles(
    db: Database, folder: str | os.PathLike[str] | Sequence[ArticleFile], tenant: str | None = None
) -> ImportResult:
    """Upsert the articles of ``folder`` (or those read from it already: ``files.read_folder``) into ``tenant``'s
    scope (None: shared) in one transaction (module docstring); ArticleError names a bad file, nothing written."""
    if tenant is not None:
        check_tenant(tenant, ArticleError)
    if isinstance(folder, str | os.PathLike):
        files: Sequence[ArticleFile] = await asyncio.to_thread(read_folder, folder)
    else:
        files = folder
    now = datetime.now(UTC)
    try:
        async with db.engine.begin() as conn:
            # a write first: SQLite takes its write lock here, so the reads below and the writes after them are
            # one transaction; two imports of one scope run one after the other
            await conn.execute(update(articles).where(false()).values(updated_at=now))
            unknown = _unknown(files, await _known_paths(conn, tenant), tenant)
            created, updated, unchanged, deactivated = await _write(conn, tenant, files, now)
    except IntegrityError as exc:
        # another import of the same scope committed the same new slug between our read and our insert
        raise Conflict(f"the articles of {tenant or 'every tenant'!r} changed during the import: run it again") from exc
    return ImportResult(tenant, created, updated, unchanged, tuple(deactivated), unknown)
