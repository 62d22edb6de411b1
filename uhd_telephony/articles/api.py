"""The article API: suggestions and search (``/api/tenants/{tenant}/articles``), one article with its text as HTML,
and on a ticket the articles used, the 10-minute budget and "solved with this article".

Roles as the ticket routes: the tenant's agents and admins read and record, its managers (team leads) read;
partners have no part in it. Another tenant's article or ticket is 404 like one that does not exist; a shared
article is every tenant's. The console's pop is the client (``static/articles.js``): API tokens are not let in.
"""

from __future__ import annotations

from aiohttp import web

from uhd_telephony.articles.render import to_html
from uhd_telephony.articles.schemas import (
    ArticleListQuery,
    ArticleListResponse,
    ArticleResponse,
    TicketArticlesResponse,
    UseArticleBody,
    UseArticleResponse,
)
from uhd_telephony.articles.service import ArticleService
from uhd_telephony.tickets.api import ticket_json
from uhd_telephony.tickets.extras import extra_fields
from uhd_telephony.tickets.groups import SECOND_LEVEL
from uhd_telephony.tickets.workflow import TicketWorkflow
from uhd_telephony.web import keys
from uhd_telephony.web.auth import require_in_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented, single_query

READ_ROLES = ("agent", "admin", "manager")
WRITE_ROLES = ("agent", "admin")
TAG = "articles"


def _service(request: web.Request) -> ArticleService:
    return ArticleService(request.app[keys.DB])


def _id(request: web.Request, name: str) -> int:
    return int(request.match_info[name])  # the route patterns admit 1..18 digits only


@documented(
    "Solution articles for a category and/or words (the pop's suggestions)",
    query=ArticleListQuery,
    response=ArticleListResponse,
    tag=TAG,
    description="The tenant's own and the shared articles; category: those made for it, its ancestors or below "
    "it, the closest first; q: any of the words, the best match first. Neither: the articles by title.",
)
async def list_articles(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *READ_ROLES)
    query = single_query(request, ArticleListQuery)
    found, titles = await _service(request).suggest(tenant, category_id=query.category, text=query.q, limit=query.limit)
    return web.json_response({"articles": [a.to_dict(titles) for a in found]})


@documented("One solution article with its text as HTML", response=ArticleResponse, tag=TAG)
async def one_article(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *READ_ROLES)
    article, titles = await _service(request).get(tenant, _id(request, "article_id"))
    return web.json_response({"article": {**article.to_dict(titles), "html": to_html(article.body)}})


@documented(
    "The solution articles used on a ticket and the 10-minute budget it has left at 1st level",
    response=TicketArticlesResponse,
    tag="tickets",
)
async def ticket_articles(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *READ_ROLES)
    budget = request.app[keys.TICKETS].first_level_limit_s  # the budget the service gives phone tickets
    state = await _service(request).ticket_state(tenant, _id(request, "ticket_id"), budget_s=budget)
    return web.json_response({**state, "handover_group": SECOND_LEVEL})


@documented(
    "Record a solution article used on a ticket; solved: the caller's problem is solved (the ticket is resolved)",
    body=UseArticleBody,
    response=UseArticleResponse,
    errors=(409,),
    tag="tickets",
    description="solved true resolves an open ticket in the same step (resolution: the article's title); a "
    "resolved one stays so; a closed one is 409 (reopen it first); a withdrawn article is 409. solved false: "
    "tried, it did not help; the ticket stays open. Both are in the ticket's history.",
)
async def use_article(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *WRITE_ROLES)
    body = UseArticleBody.model_validate(await read_json(request))
    workflow = TicketWorkflow(request.app[keys.TICKETS])
    done = await _service(request).record(
        workflow, tenant, _id(request, "ticket_id"), body.article_id, solved=body.solved, actor=who.actor
    )
    extras = await extra_fields(request.app[keys.DB], tenant, [done.ticket])
    ticket = ticket_json(done.ticket, extras.get(done.ticket.id))
    return web.json_response({"ticket": ticket, "resolved": done.resolved, "article": done.use})


def add_routes(app: web.Application) -> None:
    t = "/api/tenants/{tenant}"
    ticket = t + "/tickets/{ticket_id:\\d{1,18}}/article"
    app.router.add_get(t + "/articles", list_articles)
    app.router.add_get(t + "/articles/{article_id:\\d{1,18}}", one_article)
    app.router.add_get(ticket, ticket_articles)
    app.router.add_post(ticket, use_article)
