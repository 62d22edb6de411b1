"""Editing a tenant's category tree through the API: add a node, rename it, change its group or defaults,
deactivate or reactivate it with its subtree.

A node's identity is its path of codes (what imports key on), so a rename keeps code and path; a re-import of
the file later updates the same row. Deactivated nodes keep their rows: tickets still point at them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from uhd_telephony.errors import CategoryError, Conflict, NotFound
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant
from uhd_telephony.tickets.categories import categories, node_dict, slug
from uhd_telephony.tickets.groups import valid_code
from uhd_telephony.tickets.priority import parse_level

MAX_DEPTH = 6  # a tree deeper than this is a filing system, not a classification an agent picks from on a call


def _level(value: Any, what: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_level(value, what)
    except ValueError as exc:
        raise CategoryError(exc.args[0], {"field": what}) from None  # priority.parse_level's words (a Msg)


def _group(value: str | None) -> str | None:
    if value is not None and not valid_code(value):
        not_a_group = Msg(
            "%(value)s is no support group code (1st_level, 2nd_level, partner:<firm> …)", value=Quoted(value, 80)
        )
        raise CategoryError(not_a_group, {"field": "group"})
    return value


async def _node(conn: Any, tenant: str, category_id: int) -> dict[str, Any]:
    row = (
        (await conn.execute(select(categories).where(categories.c.tenant == tenant, categories.c.id == category_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(Msg("no such category"), {"category_id": category_id})
    return dict(row)


async def create_category(
    db: Database,
    tenant: str,
    *,
    name: str,
    parent_id: int | None = None,
    code: str | None = None,
    group: str | None = None,
    default_impact: Any = None,
    default_urgency: Any = None,
) -> dict[str, Any]:
    """A new node under ``parent_id`` (top level when None); group and defaults inherited unless given."""
    check_tenant(tenant, CategoryError)
    name = name.strip()
    if not name:
        raise CategoryError(Msg("a category needs a name"), {"field": "name"})
    code = slug(code or name)
    if not code:
        raise CategoryError(Msg("the category's code is empty"), {"field": "code"})
    group = _group(group)
    impact, urgency = _level(default_impact, "default_impact"), _level(default_urgency, "default_urgency")
    now = datetime.now(UTC)
    try:
        async with db.engine.begin() as conn:
            parent = await _node(conn, tenant, parent_id) if parent_id is not None else None
            if parent is not None:
                if parent["path"].count("/") + 1 >= MAX_DEPTH:
                    too_deep = Msg("the tree is at most %(depth)s levels deep", depth=MAX_DEPTH)
                    raise CategoryError(too_deep, {"field": "parent_id"})
                group = group or parent["support_group"]
                impact = impact if impact is not None else parent["default_impact"]
                urgency = urgency if urgency is not None else parent["default_urgency"]
            elif group is None:
                no_group = Msg("a top-level category needs a group (children inherit it)")
                raise CategoryError(no_group, {"field": "group"})
            path = f"{parent['path']}/{code}" if parent is not None else code
            siblings = await conn.execute(
                select(func.coalesce(func.max(categories.c.position), -1)).where(
                    categories.c.tenant == tenant,
                    categories.c.parent_id == parent_id if parent_id is not None else categories.c.parent_id.is_(None),
                )
            )
            inserted = await conn.execute(
                categories.insert()
                .values(
                    tenant=tenant, parent_id=parent_id, code=code, path=path, name=name, support_group=group,
                    default_impact=impact, default_urgency=urgency, active=True,
                    position=int(siblings.scalar_one()) + 1, created_at=now, updated_at=now,
                )
                .returning(categories.c.id)
            )  # fmt: skip
            return node_dict(await _node(conn, tenant, int(inserted.scalar_one())))
    except IntegrityError:
        taken = Msg("a category with this code exists at this place of the tree")
        raise Conflict(taken, {"code": code}) from None


async def update_category(
    db: Database,
    tenant: str,
    category_id: int,
    *,
    name: str | None = None,
    group: str | None = None,
    default_impact: Any = None,
    default_urgency: Any = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Change what is given; (de)activating a node does the same to its whole subtree."""
    check_tenant(tenant, CategoryError)
    values: dict[str, Any] = {}
    if name is not None:
        if not name.strip():
            raise CategoryError(Msg("a category needs a name"), {"field": "name"})
        values["name"] = name.strip()
    if group is not None:
        values["support_group"] = _group(group)
    if default_impact is not None:
        values["default_impact"] = _level(default_impact, "default_impact")
    if default_urgency is not None:
        values["default_urgency"] = _level(default_urgency, "default_urgency")
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        node = await _node(conn, tenant, category_id)
        if values:
            values["updated_at"] = now
            await conn.execute(update(categories).where(categories.c.id == node["id"]).values(**values))
        if active is not None and active != node["active"]:
            subtree = or_(categories.c.id == node["id"], categories.c.path.like(_escape(node["path"]) + "/%", "\\"))
            await conn.execute(
                update(categories)
                .where(and_(categories.c.tenant == tenant, subtree))
                .values(active=active, updated_at=now)
            )
        return node_dict(await _node(conn, tenant, category_id))


def _escape(text: str) -> str:
    """A path as a LIKE prefix: its own % and _ matched literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
