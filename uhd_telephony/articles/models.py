"""SQLAlchemy models of solution articles: the articles (a tenant's own, or shared by every tenant), the category
paths each fits, and the articles an agent used on a ticket (solved with it or not).

The full-text index is the database's own and no model describes it: on PostgreSQL an expression GIN index over
``SEARCH_VECTOR`` (German stemming), on SQLite the FTS5 table ``articles_fts`` kept in step with ``articles`` by
triggers. Migration 0018 makes each on its dialect; ``store.models.unmanaged`` tells Alembic's comparison to
leave them alone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from uhd_telephony.store.models import Base, IdType, unmanaged
from uhd_telephony.tenant import TENANT_LENGTH

SLUG_LENGTH = 100
TITLE_LENGTH = 200
PATH_LENGTH = 512  # a category path, as tickets.models.Category.path

# PostgreSQL: the document a search matches, title weighted over tags over body (ts_rank's A > B > C). The same
# text is migration 0018's index expression: a query uses the index only with this very expression.
SEARCH_CONFIG = "german"
SEARCH_VECTOR = (
    "(setweight(to_tsvector('german'::regconfig, articles.title), 'A') || "
    "setweight(to_tsvector('german'::regconfig, articles.tags), 'B') || "
    "setweight(to_tsvector('german'::regconfig, articles.body), 'C'))"
)
SEARCH_INDEX = "ix_articles_search"
# SQLite: the FTS5 table (external content: the text lives in ``articles`` only) and the tables FTS5 makes for it
FTS_TABLE = "articles_fts"
FTS_SHADOW = tuple(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "content", "docsize", "config"))

unmanaged(SEARCH_INDEX, FTS_TABLE, *FTS_SHADOW)


class Article(Base):
    """One solution article; ``tenant`` None: shared by every tenant. Its identity is ``slug`` within its scope (a
    tenant, or the shared ones): a re-import updates it in place. Articles are deactivated, never deleted: the
    tickets solved with them keep naming them."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str | None] = mapped_column(String(TENANT_LENGTH))
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    body: Mapped[str] = mapped_column(Text)  # Markdown, rendered safely when read (articles.render)
    tags: Mapped[str] = mapped_column(Text, default="")  # comma-separated, searched with the title and body
    source: Mapped[str] = mapped_column(String(500))  # the file it was imported from, relative to the folder
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of what was imported: an unchanged file writes nothing
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        # a slug once per tenant and once among the shared articles (NULLs would never collide in a unique key)
        Index(
            "uq_articles_tenant_slug",
            "tenant",
            "slug",
            unique=True,
            sqlite_where=text("tenant IS NOT NULL"),
            postgresql_where=text("tenant IS NOT NULL"),
        ),
        Index(
            "uq_articles_shared_slug",
            "slug",
            unique=True,
            sqlite_where=text("tenant IS NULL"),
            postgresql_where=text("tenant IS NULL"),
        ),
    )


class ArticleCategory(Base):
    """A category path an article fits (``kis/login``); it fits that category's ancestors and descendants too."""

    __tablename__ = "article_categories"

    article_id: Mapped[int] = mapped_column(IdType, ForeignKey("articles.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)

    __table_args__ = (Index("ix_article_categories_path", "path"),)


class ArticleUse(Base):
    """An article an agent used on a ticket: ``solved`` whether it solved the caller's problem (the last word of
    the agent counts; every word is in the ticket's history)."""

    __tablename__ = "article_uses"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_LENGTH))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("tickets.id"))
    article_id: Mapped[int] = mapped_column(IdType, ForeignKey("articles.id"))
    solved: Mapped[bool]
    actor: Mapped[str] = mapped_column(String(128))  # who said so last (agent:<id>)
    used_at: Mapped[datetime]  # the first time
    updated_at: Mapped[datetime]  # the last time

    __table_args__ = (
        UniqueConstraint("ticket_id", "article_id"),
        # the monthly report: a tenant's uses joined to its tickets of the month
        Index("ix_article_uses_tenant_ticket_id", "tenant", "ticket_id"),
        Index("ix_article_uses_article_id", "article_id"),
    )
