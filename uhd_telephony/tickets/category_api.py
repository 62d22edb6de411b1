"""The category tree through the API: operator admins add and change nodes (reading is the console's route); the
tenant's support groups by name for the pages' choices (routing a ticket, filtering the list)."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from uhd_telephony.tickets.category_edit import create_category, update_category
from uhd_telephony.tickets.groups import list_groups
from uhd_telephony.web import keys
from uhd_telephony.web.auth import require_in_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented

EDIT_ROLES = ("admin",)  # the tree is configuration: the operator's, not the agents'


class CategoryCreateBody(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(min_length=1, max_length=200)
    parent_id: int | None = Field(default=None, ge=1, description="the parent node; none: a top-level category")
    code: str | None = Field(default=None, max_length=64, description="default: derived from the name")
    group: str | None = Field(default=None, max_length=64, description="1st_level, 2nd_level, partner:<firm> …")
    default_impact: int | None = Field(default=None, ge=1, le=5)
    default_urgency: int | None = Field(default=None, ge=1, le=5)


class CategoryUpdateBody(BaseModel):
    model_config = {"extra": "forbid"}
    name: str | None = Field(default=None, min_length=1, max_length=200)
    group: str | None = Field(default=None, max_length=64)
    default_impact: int | None = Field(default=None, ge=1, le=5)
    default_urgency: int | None = Field(default=None, ge=1, le=5)
    active: bool | None = Field(default=None, description="false hides the node and its subtree from new tickets")


class CategoryNodeModel(BaseModel):
    id: int
    code: str
    path: str
    name: str
    group: str
    default_impact: int | None
    default_urgency: int | None
    active: bool


class CategoryResponse(BaseModel):
    category: CategoryNodeModel


def _answer(node: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"category": node}, status=status)


@documented("Add a category to the tenant's tree", body=CategoryCreateBody, response=CategoryResponse, status=201,
            errors=(409,))  # fmt: skip
async def add_category(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *EDIT_ROLES)
    body = CategoryCreateBody.model_validate(await read_json(request))
    node = await create_category(request.app[keys.DB], tenant, **body.model_dump())
    return _answer(node, 201)


@documented("Change a category (name, group, defaults, active with its subtree)", body=CategoryUpdateBody,
            response=CategoryResponse)  # fmt: skip
async def change_category(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *EDIT_ROLES)
    body = CategoryUpdateBody.model_validate(await read_json(request))
    node = await update_category(
        request.app[keys.DB], tenant, int(request.match_info["category_id"]), **body.model_dump()
    )
    return _answer(node)


class GroupChoice(BaseModel):
    code: str = Field(description="what routing and the list's group filter take: 1st_level, partner:<firm> …")
    name: str = Field(description="what people read")
    level: int = Field(description="1, 2 or 3: the support level the group works at")
    locale: Literal["de", "en"] = Field(description="the language of its work orders by mail (German by default)")


class GroupsResponse(BaseModel):
    groups: list[GroupChoice]


READ_ROLES = ("agent", "manager", "admin")  # as the category tree (screenpop/console.py)


@documented("The tenant's active support groups, by level and name", response=GroupsResponse)
async def groups(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *READ_ROLES)
    found = await list_groups(request.app[keys.DB], tenant)  # no addresses or webhooks: those are configuration
    found.sort(key=lambda g: (g.level, g.name.casefold()))
    return web.json_response(
        {"groups": [{"code": g.code, "name": g.name, "level": g.level, "locale": g.locale} for g in found]}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/tenants/{tenant}/groups", groups)
    t = "/api/tenants/{tenant}/categories"
    app.router.add_post(t, add_category)
    app.router.add_patch(t + "/{category_id:\\d{1,18}}", change_category)
