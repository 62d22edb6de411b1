"""The Pydantic models of the article API: its query and body (unknown fields refused) and its answers, for
``web.openapi``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from uhd_telephony.articles.search import DEFAULT_LIMIT, MAX_LIMIT
from uhd_telephony.tickets.schemas import Body, Id, Text, TicketArticleOut, TicketOut

# a search text may be anything up to what a URL carries: it is never an error, only its first words count
MAX_QUERY_TEXT = 8192


class ArticleListQuery(Body):
    category: Id | None = Field(default=None, description="a category id of the tenant: the articles that fit it")
    q: Annotated[Text, Field(max_length=MAX_QUERY_TEXT)] | None = Field(
        default=None, description="words to find (any of them; German stemming on PostgreSQL, prefixes on SQLite)"
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class UseArticleBody(Body):
    article_id: Id = Field(description="an article the tenant sees (its own or a shared one)")
    solved: bool = Field(description="true: the caller's problem is solved (an open ticket is resolved with it)")


class ArticleCategoryOut(BaseModel):
    path: str
    title: str = Field(description="the tenant's titles of the path (KIS › Anmeldung); the path if it has none")


class ArticleOut(BaseModel):
    """An article as listed; ``shared``: one every tenant finds; ``rank``: a word search's (higher: better)."""

    id: int
    slug: str
    title: str
    tags: list[str]
    categories: list[ArticleCategoryOut]
    shared: bool
    active: bool
    updated_at: str
    rank: float | None


class ArticleWithTextOut(ArticleOut):
    html: str = Field(description="the Markdown text as HTML, safe to insert as it is (no raw HTML, no script)")


class ArticleListResponse(BaseModel):
    articles: list[ArticleOut]


class ArticleResponse(BaseModel):
    article: ArticleWithTextOut


class FirstLevelOut(BaseModel):
    """The 10-minute rule's budget of a phone ticket at 1st level, as the server counts it."""

    due_at: str = Field(description="when the ticket goes to 2nd level unless solved")
    started_at: str = Field(description="when the budget started (the call's answer)")
    budget_s: float
    remaining_s: float = Field(description="seconds left when the server answered (negative: overdue)")


class TicketArticlesResponse(BaseModel):
    ticket_id: int
    articles: list[TicketArticleOut]
    first_level: FirstLevelOut | None = Field(description="null: no 10-minute budget runs (not a phone ticket at "
                                              "1st level, or resolved)")  # fmt: skip
    handover_group: str = Field(description="where the console's hand-over routes the ticket: 2nd level")


class UseArticleResponse(BaseModel):
    ticket: TicketOut
    resolved: bool = Field(description="this step resolved the ticket")
    article: TicketArticleOut
