"""solution articles with full-text search; the article a ticket was solved with

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# written by hand, checked against the models by tests/store/test_migrate.py (autogenerate finds no difference).
# The full-text index is no model's (store.models.unmanaged): PostgreSQL gets a GIN index over the German
# document of articles.models.SEARCH_VECTOR (the same expression, or queries would not use it); SQLite an FTS5
# table over the same three columns, external content kept in step by triggers. A later migration that rebuilds
# ``articles`` in SQLite's batch mode drops these triggers with the table: it must create them again.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
PG_SEARCH = (
    "CREATE INDEX ix_articles_search ON articles USING gin (("
    "setweight(to_tsvector('german'::regconfig, title), 'A') || "
    "setweight(to_tsvector('german'::regconfig, tags), 'B') || "
    "setweight(to_tsvector('german'::regconfig, body), 'C')))"
)
# unicode61 folds case and diacritics (ä = a, ß stays ß); FTS5 has no German stemmer: searches add a prefix match
SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE articles_fts USING fts5(title, tags, body, content='articles', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN "
    "INSERT INTO articles_fts(rowid, title, tags, body) VALUES (new.id, new.title, new.tags, new.body); END",
    "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, tags, body) "
    "VALUES ('delete', old.id, old.title, old.tags, old.body); END",
    "CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, tags, body ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, tags, body) "
    "VALUES ('delete', old.id, old.title, old.tags, old.body); "
    "INSERT INTO articles_fts(rowid, title, tags, body) VALUES (new.id, new.title, new.tags, new.body); END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TABLE IF EXISTS articles_fts",
)


def _dialect() -> str:
    return op.get_context().dialect.name


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=True),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
    )
    op.create_index(
        "uq_articles_tenant_slug",
        "articles",
        ["tenant", "slug"],
        unique=True,
        sqlite_where=sa.text("tenant IS NOT NULL"),
        postgresql_where=sa.text("tenant IS NOT NULL"),
    )
    op.create_index(
        "uq_articles_shared_slug",
        "articles",
        ["slug"],
        unique=True,
        sqlite_where=sa.text("tenant IS NULL"),
        postgresql_where=sa.text("tenant IS NULL"),
    )
    op.create_table(
        "article_categories",
        sa.Column("article_id", ID, nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_article_categories_article_id_articles")
        ),
        sa.PrimaryKeyConstraint("article_id", "path", name=op.f("pk_article_categories")),
    )
    op.create_index("ix_article_categories_path", "article_categories", ["path"])
    op.create_table(
        "article_uses",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("article_id", ID, nullable=False),
        sa.Column("solved", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("used_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], name=op.f("fk_article_uses_article_id_articles")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_article_uses_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_uses")),
        sa.UniqueConstraint("ticket_id", "article_id", name=op.f("uq_article_uses_ticket_id_article_id")),
    )
    op.create_index("ix_article_uses_tenant_ticket_id", "article_uses", ["tenant", "ticket_id"])
    op.create_index("ix_article_uses_article_id", "article_uses", ["article_id"])
    if _dialect() == "postgresql":
        op.execute(PG_SEARCH)
    elif _dialect() == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    if _dialect() == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_search")
    elif _dialect() == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(statement)
    op.drop_index("ix_article_uses_article_id", table_name="article_uses")
    op.drop_index("ix_article_uses_tenant_ticket_id", table_name="article_uses")
    op.drop_table("article_uses")
    op.drop_index("ix_article_categories_path", table_name="article_categories")
    op.drop_table("article_categories")
    op.drop_index("uq_articles_shared_slug", table_name="articles")
    op.drop_index("uq_articles_tenant_slug", table_name="articles")
    op.drop_table("articles")
