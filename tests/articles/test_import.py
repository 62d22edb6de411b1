"""Importing a folder of articles into a scope (a tenant's own, or shared): upserted by slug, a removed file's
article deactivated and reported, a bad file named with nothing written; on SQLite and PostgreSQL, the full-text
index following every change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.articles.conftest import TENANT_A, TENANT_B, write
from uhd_telephony.articles.files import EXAMPLES, ArticleError
from uhd_telephony.articles.importer import import_articles
from uhd_telephony.articles.models import Article, ArticleCategory
from uhd_telephony.articles.search import find
from uhd_telephony.store.db import Database


async def rows(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        count = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one() for t in (Article, ArticleCategory)
        ]
    return count[0], count[1]


async def slugs(db: Database, tenant: str, text: str | None = None, path: str | None = None) -> list[str]:
    async with db.engine.connect() as conn:
        return [a.slug for a in await find(conn, tenant, text=text, path=path, limit=50)]


async def test_a_folder_is_imported_and_importing_it_again_changes_nothing(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "kis.md", title="KIS-Anmeldung", categories=("kis/login", "kis"))
    write(tmp_path, "drucker.md", title="Drucker druckt nicht", categories=("hardware/printer",))
    first = await import_articles(db, tmp_path, TENANT_A)
    assert first.to_dict() == {"tenant": TENANT_A, "created": 2, "updated": 0, "unchanged": 0, "deactivated": [],
                               "unknown_categories": []}  # fmt: skip
    assert await rows(db) == (2, 3)
    again = await import_articles(db, tmp_path, TENANT_A)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert await rows(db) == (2, 3)
    assert await slugs(db, TENANT_A) == ["drucker", "kis"]
    assert await slugs(db, TENANT_B) == []  # a tenant's own articles are its own


async def test_a_changed_file_is_updated_and_the_search_follows(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "kis.md", title="KIS-Anmeldung", body="Das Kennwort ist abgelaufen.")
    await import_articles(db, tmp_path, TENANT_A)
    assert await slugs(db, TENANT_A, "Kennwort") == ["kis"]
    write(tmp_path, "kis.md", title="KIS-Anmeldung", body="Die Chipkarte steckt nicht.", categories=("kis/orbis",))
    changed = await import_articles(db, tmp_path, TENANT_A)
    assert (changed.updated, changed.unchanged) == (1, 0)
    assert await slugs(db, TENANT_A, "Chipkarte") == ["kis"]
    assert await slugs(db, TENANT_A, "Kennwort") == []  # the index holds the new text only
    assert await slugs(db, TENANT_A, path="kis/login") == []  # its category is the new one
    assert await slugs(db, TENANT_A, path="kis/orbis") == ["kis"]


async def test_a_file_that_is_gone_deactivates_its_article_until_it_comes_back(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "kis.md", title="KIS-Anmeldung")
    gone = write(tmp_path, "alt.md", title="Altes Verfahren")
    await import_articles(db, tmp_path, TENANT_A)
    text = gone.read_text(encoding="utf-8")
    gone.unlink()
    result = await import_articles(db, tmp_path, TENANT_A)
    assert result.deactivated == ({"slug": "alt", "title": "Altes Verfahren", "file": "alt.md"},)
    assert (result.unchanged, result.updated) == (1, 0)
    assert await rows(db) == (2, 2)  # deactivated, not deleted: tickets solved with it keep naming it
    assert await slugs(db, TENANT_A) == ["kis"]
    again = await import_articles(db, tmp_path, TENANT_A)
    assert again.deactivated == ()  # reported once
    gone.write_text(text, encoding="utf-8")
    back = await import_articles(db, tmp_path, TENANT_A)
    assert (back.updated, back.unchanged) == (1, 1)
    assert await slugs(db, TENANT_A) == ["alt", "kis"]


async def test_a_bad_file_is_named_and_nothing_is_written(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "kis.md", title="KIS-Anmeldung")
    await import_articles(db, tmp_path, TENANT_A)
    before = await rows(db)
    write(tmp_path, "neu.md", title="Neu", categories=("hardware",))
    (tmp_path / "kaputt.md").write_text("---\ntitle: ohne Kategorie\n---\nText\n", encoding="utf-8")
    (tmp_path / "kis.md").unlink()  # would be deactivated, were anything written
    with pytest.raises(ArticleError, match=r"^article kaputt.md: 'categories' needs at least one category"):
        await import_articles(db, tmp_path, TENANT_A)
    assert await rows(db) == before
    assert await slugs(db, TENANT_A) == ["kis"]


async def test_a_category_the_tenants_tree_lacks_is_refused_for_its_articles(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "a.md", title="A")
    write(tmp_path, "b.md", title="B", categories=("kis/login", "kis/no-such-thing"))
    with pytest.raises(ArticleError) as caught:
        await import_articles(db, tmp_path, TENANT_A)
    assert caught.value.message.startswith("article b.md: the category tree of 'klinikum-nord' has no category")
    assert caught.value.details == {"file": "b.md", "category": "kis/no-such-thing"}
    assert await rows(db) == (0, 0)
    # shared articles fit any tenant's tree: a path none has is reported, not refused
    shared = await import_articles(db, tmp_path, None)
    assert shared.created == 2 and shared.unknown_categories == ("kis/no-such-thing",)


async def test_each_scope_is_its_own(db: Database, tmp_path: Path) -> None:
    for folder, title in (("a", "Nord"), ("b", "Süd"), ("shared", "Für alle")):
        write(tmp_path / folder, "kis.md", title=title)
    await import_articles(db, tmp_path / "a", TENANT_A)
    await import_articles(db, tmp_path / "b", TENANT_B)
    await import_articles(db, tmp_path / "shared")
    assert await rows(db) == (3, 3)  # one slug three times: a tenant's, the other's, the shared one
    # another scope's import deactivates nothing of these
    write(tmp_path / "a2", "other.md", title="Anderes")
    result = await import_articles(db, tmp_path / "a2", TENANT_A)
    assert [d["slug"] for d in result.deactivated] == ["kis"]
    async with db.engine.connect() as conn:
        found = {(a.tenant, a.title) for a in await find(conn, TENANT_B, limit=50)}
    assert found == {(TENANT_B, "Süd"), (None, "Für alle")}


async def test_the_examples_import_as_shared_articles(db: Database) -> None:
    result = await import_articles(db, EXAMPLES)
    assert result.created >= 5 and result.unknown_categories == ()  # every path is in the example tree
    assert "kis-anmeldung" in await slugs(db, TENANT_A, path="kis/login")


async def test_an_invalid_tenant_is_refused(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "a.md", title="A")
    with pytest.raises(ArticleError, match="invalid tenant"):
        await import_articles(db, tmp_path, " bad\ttenant ")
