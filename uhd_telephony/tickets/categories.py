"""A tenant's category tree: validated import from a YAML or JSON nested tree, and the tree as JSON for the pop.

A file is a list of nodes, or a mapping with such a list under ``categories``. Each node::

    name: Drucker / printer           # required
    code: printer                     # optional: derived from the name; unique among siblings
    group: 2nd_level                  # who works it: 1st_level, 2nd_level, 3rd_level, partner[:<name>]
    impact: 3                         # default impact 1..5 or critical/high/medium/low/minimal
    urgency: medium                   # default urgency, same scale
    active: true                      # optional, default true
    children: [...]                   # optional

``group``, ``impact`` and ``urgency`` are inherited from the parent when a node leaves them out. A node's
identity is its path (codes joined by ``/``): a re-import updates the nodes it finds by path, adds new ones and
(with ``prune``) deactivates the ones the file no longer has; rows are never deleted, tickets refer to them.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import false, insert, select, update
from sqlalchemy.exc import IntegrityError

from uhd_telephony.errors import CategoryError, Conflict
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenant import check_tenant
from uhd_telephony.tickets.models import Category
from uhd_telephony.tickets.priority import parse_level

categories = table_of(Category)

MAX_DEPTH = 8
MAX_FILE_BYTES = 5_000_000
_KEYS = {"name", "code", "group", "impact", "urgency", "active", "children"}
_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_GROUP_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*(:[a-z0-9][a-z0-9_.-]*)?$")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
# the fields an import writes; a row whose values all match is left alone (no updated_at churn)
_FIELDS = ("parent_id", "code", "name", "support_group", "default_impact", "default_urgency", "active", "position")

# the example tree shipped with the package: KIS, PACS, hardware, network/WAN, standard applications, facility
DEFAULT_CATEGORIES = Path(__file__).resolve().parent / "default_categories.yaml"


@dataclass(frozen=True, slots=True)
class CategoryNode:
    """One validated node, flattened: parents come before their children."""

    path: str
    parent_path: str | None
    code: str
    name: str
    support_group: str
    default_impact: int | None
    default_urgency: int | None
    active: bool
    position: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed."""

    created: int
    updated: int
    unchanged: int
    deactivated: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def slug(name: str) -> str:
    """A code from a name: ``Drucker & Scanner`` -> ``drucker-scanner``, umlauts spelt out."""
    ascii_name = unicodedata.normalize("NFKD", name.translate(_UMLAUTS)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].rstrip("-")


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice (PyYAML silently keeps the last one: a lost ``children``)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise CategoryError(f"key {key!r} appears twice in one mapping (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CategoryError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def parse_text(text: str, fmt: str) -> Any:
    """The data of a ``yaml`` or ``json`` document; CategoryError when it is not well-formed."""
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_json_pairs)
        if fmt == "yaml":
            return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except (ValueError, yaml.YAMLError) as exc:
        raise CategoryError(f"the category file is not valid {fmt.upper()}: {exc}") from exc
    raise CategoryError(f"unknown category file format {fmt!r}: use yaml or json")


def load_file(path: str | os.PathLike[str]) -> Any:
    """The data of a category file; the format follows the suffix (``.json``, else YAML)."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise CategoryError(f"category file {file} is larger than {MAX_FILE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CategoryError(f"cannot read category file {file}: {exc}") from exc
    return parse_text(text, "json" if file.suffix.lower() == ".json" else "yaml")


def _label(parent: str | None, index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    where = f"node #{index + 1} under {parent!r}" if parent else f"top-level node #{index + 1}"
    return f"{where} ({name!r})" if isinstance(name, str) else where


def _fail(node: str, message: str) -> CategoryError:
    return CategoryError(f"category {node}: {message}", {"node": node})


def validate_tree(data: Any) -> list[CategoryNode]:
    """Every node of a nested tree, checked and flattened (pre-order); CategoryError names the first bad node."""
    if isinstance(data, Mapping):
        if set(data) != {"categories"}:
            raise CategoryError("a category file is a list of nodes or a mapping with only a 'categories' key")
        data = data["categories"]
    if not isinstance(data, list) or not data:
        raise CategoryError("a category file needs a non-empty list of nodes")
    nodes: list[CategoryNode] = []
    _walk(data, None, None, nodes, depth=1)
    return nodes


def _walk(
    items: Any, parent: CategoryNode | None, parent_path: str | None, out: list[CategoryNode], depth: int
) -> None:
    if not isinstance(items, list):
        raise _fail(repr(parent_path), "children must be a list")
    if depth > MAX_DEPTH:
        raise _fail(repr(parent_path), f"the tree is deeper than {MAX_DEPTH} levels")
    siblings: set[str] = set()
    for index, raw in enumerate(items):
        node = _node(raw, index, parent, parent_path)
        if node.code in siblings:
            raise _fail(repr(node.path), "two sibling nodes have this code (give one of them another 'code')")
        siblings.add(node.code)
        out.append(node)
        children = raw.get("children")
        if children is not None:
            _walk(children, node, node.path, out, depth + 1)


def _node(raw: Any, index: int, parent: CategoryNode | None, parent_path: str | None) -> CategoryNode:
    label = _label(parent_path, index, raw)
    if not isinstance(raw, Mapping):
        raise _fail(label, f"a node is a mapping with a name, got {type(raw).__name__}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise _fail(
            label, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(_KEYS))}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200 or not name.isprintable():
        raise _fail(label, f"'name' must be a text of 1..200 printable characters, got {name!r} (quote it in YAML)")
    name = name.strip()
    code = raw.get("code", slug(name))
    # YAML 1.1 reads an unquoted no/off as False and 0800 as a number: a code must arrive as text
    if not isinstance(code, str) or not _CODE_RE.match(code.strip().lower()):
        raise _fail(label, f"'code' must be a lower-case slug (a-z, 0-9, _ . -), got {code!r} (quote it in YAML)")
    code = code.strip().lower()
    path = code if parent_path is None else f"{parent_path}/{code}"
    node = repr(path)
    if len(path) > 512:
        raise _fail(node, "the path is longer than 512 characters")
    group = raw.get("group", None if parent is None else parent.support_group)
    if group is None:
        raise _fail(node, "'group' is missing (top-level nodes need one; children inherit it)")
    if not isinstance(group, str) or len(group) > 64 or not _GROUP_RE.match(group):
        raise _fail(node, f"'group' must be like 1st_level, 2nd_level, 3rd_level or partner:<name>, got {group!r}")
    levels: dict[str, int | None] = {}
    for key in ("impact", "urgency"):
        inherited = None if parent is None else getattr(parent, f"default_{key}")
        value = raw.get(key, inherited)
        try:
            levels[key] = None if value is None else parse_level(value, key)
        except ValueError as exc:
            raise _fail(node, str(exc)) from None
    active = raw.get("active", True)
    if not isinstance(active, bool):
        raise _fail(node, f"'active' must be true or false, got {active!r}")
    return CategoryNode(
        path=path,
        parent_path=parent_path,
        code=code,
        name=name,
        support_group=group,
        default_impact=levels["impact"],
        default_urgency=levels["urgency"],
        active=active,
        position=index,
    )


def _source(path_or_data: Any) -> Any:
    if isinstance(path_or_data, str | os.PathLike):
        return load_file(path_or_data)
    return path_or_data


async def import_categories(
    db: Database,
    tenant: str,
    path_or_data: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
    *,
    prune: bool = False,
) -> ImportResult:
    """Upsert a tenant's tree by path in one transaction (idempotent); ``prune`` deactivates nodes not in it."""
    check_tenant(tenant, CategoryError)
    nodes = validate_tree(_source(path_or_data))
    now = datetime.now(UTC)
    created = updated = unchanged = deactivated = 0
    try:
        async with db.engine.begin() as conn:
            # a write first: SQLite takes its write lock here, so the reads below and the writes after them
            # are one transaction; two imports of one tenant run one after the other
            await conn.execute(update(categories).where(false()).values(updated_at=now))
            rows = await conn.execute(select(categories).where(categories.c.tenant == tenant))
            existing = {row["path"]: row for row in rows.mappings()}
            ids: dict[str, int] = {}
            for node in nodes:
                values: dict[str, Any] = {
                    "parent_id": None if node.parent_path is None else ids[node.parent_path],
                    "code": node.code,
                    "name": node.name,
                    "support_group": node.support_group,
                    "default_impact": node.default_impact,
                    "default_urgency": node.default_urgency,
                    "active": node.active,
                    "position": node.position,
                }
                row = existing.get(node.path)
                if row is None:
                    stmt = insert(categories).values(tenant=tenant, path=node.path, created_at=now, updated_at=now)
                    ids[node.path] = (await conn.execute(stmt.values(values).returning(categories.c.id))).scalar_one()
                    created += 1
                    continue
                ids[node.path] = row["id"]
                if all(row[key] == values[key] for key in _FIELDS):
                    unchanged += 1
                    continue
                await conn.execute(
                    update(categories).where(categories.c.id == row["id"]).values({**values, "updated_at": now})
                )
                updated += 1
            if prune:
                gone = [row["id"] for path, row in existing.items() if path not in ids and row["active"]]
                if gone:
                    await conn.execute(
                        update(categories).where(categories.c.id.in_(gone)).values(active=False, updated_at=now)
                    )
                deactivated = len(gone)
    except IntegrityError as exc:
        # another import of the same tenant committed the same new path between our read and our insert
        raise Conflict(f"the categories of {tenant!r} changed during the import: run it again") from exc
    return ImportResult(created=created, updated=updated, unchanged=unchanged, deactivated=deactivated)


def node_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The JSON shape of one category row (without children)."""
    return {
        "id": row["id"],
        "code": row["code"],
        "path": row["path"],
        "name": row["name"],
        "group": row["support_group"],
        "default_impact": row["default_impact"],
        "default_urgency": row["default_urgency"],
        "active": row["active"],
    }


async def category_tree(db: Database, tenant: str, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    """The tenant's tree as nested JSON-able dicts (``children`` lists) in file order, inactive subtrees hidden."""
    stmt = select(categories).where(categories.c.tenant == tenant)
    async with db.engine.connect() as conn:
        rows = list((await conn.execute(stmt.order_by(categories.c.position, categories.c.path))).mappings())
    children: dict[int | None, list[dict[str, Any]]] = {}
    for row in rows:
        if include_inactive or row["active"]:
            children.setdefault(row["parent_id"], []).append(dict(node_dict(row), parent_id=row["parent_id"]))

    def build(parent_id: int | None) -> list[dict[str, Any]]:
        nodes = children.get(parent_id, [])
        for node in nodes:
            node.pop("parent_id")
            node["children"] = build(node["id"])
        return nodes

    # only nodes reachable from the roots: the child of an inactive (hidden) node is hidden too
    return build(None)
