"""``uhd-telephony import-articles DIR [--tenant T]`` as an operator runs it: a real subprocess, its JSON answer,
one line on stderr for what is wrong, nothing written then."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.articles.conftest import TENANT_A, write
from tests.support.cli import uhd
from tests.support.tenants import add_tenants
from uhd_telephony.articles.files import EXAMPLES
from uhd_telephony.articles.models import Article, ArticleCategory
from uhd_telephony.store.db import Database

pytestmark = pytest.mark.slow  # subprocesses


async def counts(url: str) -> tuple[int, int, int]:
    """(articles, their categories, active articles)."""
    async with Database(url) as db, db.engine.connect() as conn:
        found = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one() for t in (Article, ArticleCategory)
        ]
        active = (await conn.execute(select(func.count()).where(Article.active.is_(True)))).scalar_one()
    return found[0], found[1], active


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


async def test_import_re_import_removal_and_a_bad_file(db_url: str, tmp_path: Path) -> None:
    env = {"UHD_DATABASE_URL": db_url}
    await add_tenants(db_url, TENANT_A)
    rc, _, err = await uhd("import-categories", "--tenant", TENANT_A, env=env)
    assert rc == 0, err
    write(tmp_path, "kis.md", title="KIS-Anmeldung")
    gone = write(tmp_path, "alt.md", title="Altes Verfahren", categories=("hardware",))
    rc, out, err = await uhd("import-articles", str(tmp_path), "--tenant", TENANT_A, env=env)
    assert rc == 0, err
    assert json.loads(out) == {"tenant": TENANT_A, "created": 2, "updated": 0, "unchanged": 0, "deactivated": [],
                               "unknown_categories": []}  # fmt: skip
    rc, out, err = await uhd("import-articles", str(tmp_path), "--tenant", TENANT_A, env=env)
    assert rc == 0 and json.loads(out)["unchanged"] == 2, err
    gone.unlink()
    rc, out, err = await uhd("import-articles", str(tmp_path), "--tenant", TENANT_A, env=env)
    assert rc == 0 and json.loads(out)["deactivated"] == [{"slug": "alt", "title": "Altes Verfahren", "file": "alt.md"}]
    assert "article alt (alt.md) is no longer in" in one_line(err) and "deactivated" in err
    assert await counts(db_url) == (2, 2, 1)
    (tmp_path / "kaputt.md").write_text("---\ntitle: KIS: kaputt\ncategories: [kis]\n---\nText\n", encoding="utf-8")
    rc, out, err = await uhd("import-articles", str(tmp_path), "--tenant", TENANT_A, env=env)
    assert (rc, out) == (1, "")
    assert "article kaputt.md: the front matter is not valid YAML (line 2)" in one_line(err)
    assert await counts(db_url) == (2, 2, 1)


async def test_shared_articles_and_what_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    env = {"UHD_DATABASE_URL": sqlite_url}
    await add_tenants(sqlite_url, TENANT_A)
    rc, out, err = await uhd("import-articles", str(EXAMPLES), env=env)  # no tenant: shared by every tenant
    assert rc == 0, err
    shared = json.loads(out)
    assert shared["tenant"] is None and shared["created"] >= 5
    assert shared["unknown_categories"]  # no tenant has a category tree yet: said, not refused
    before = await counts(sqlite_url)
    rc, out, err = await uhd("import-articles", str(EXAMPLES), "--tenant", "klinikum-nrod", env=env)
    assert (rc, out) == (1, "") and "unknown tenant 'klinikum-nrod'" in one_line(err)
    rc, out, err = await uhd("import-articles", str(tmp_path / "missing"), env=env)
    assert (rc, out) == (1, "") and "is no folder of articles" in one_line(err)
    rc, out, err = await uhd("import-articles", str(tmp_path), env=env)
    assert (rc, out) == (1, "") and "no articles (*.md) in" in one_line(err)
    rc, out, err = await uhd("import-articles", str(EXAMPLES), "--tenant", TENANT_A, env=env)  # its tree is empty
    assert (rc, out) == (1, "") and "the category tree of 'klinikum-nord' has no category" in one_line(err)
    assert await counts(sqlite_url) == before
    rc, out, _ = await uhd("import-articles", "--help")
    assert rc == 0 and "shared by every tenant" in out
