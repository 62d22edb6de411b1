"""Category trees: import from YAML and JSON, idempotent re-import by path, validation naming the bad node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from uhd_telephony.errors import CategoryError, UhdError
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import category_tree, import_categories, slug, validate_tree

from .conftest import EXAMPLE_CATEGORIES, OTHER, TENANT


def _find(tree: list[dict[str, Any]], path: str) -> dict[str, Any]:
    for node in tree:
        if node["path"] == path:
            return node
        if path.startswith(node["path"] + "/"):
            return _find(node["children"], path)
    raise KeyError(path)


def _count(tree: list[dict[str, Any]]) -> int:
    return sum(1 + _count(node["children"]) for node in tree)


async def test_the_example_file_imports_into_a_nested_tree(db: Database) -> None:
    result = await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    tree = await category_tree(db, TENANT)
    assert result.created == _count(tree) == len(validate_tree(yaml.safe_load(EXAMPLE_CATEGORIES.read_text())))
    assert [n["code"] for n in tree] == ["kis", "pacs", "hardware", "infrastructure", "standard-apps", "facility"]
    admission = _find(tree, "kis/sap-ish/admission")
    assert admission["group"] == "partner:sap-hosting"  # inherited from SAP IS-H
    assert (admission["default_impact"], admission["default_urgency"]) == (1, 1)
    consumables = _find(tree, "hardware/printer/consumables")
    # group and urgency given, impact inherited from "hardware" (low = 4)
    assert (consumables["group"], consumables["default_impact"], consumables["default_urgency"]) == ("1st_level", 4, 4)
    assert _find(tree, "facility")["group"] == "partner:facility-management"
    # the screen-pop sends it as it is
    assert json.loads(json.dumps(tree)) == tree


async def test_reimport_is_idempotent_and_keeps_ids(db: Database) -> None:
    first = await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    before = await category_tree(db, TENANT)
    again = await import_categories(db, TENANT, str(EXAMPLE_CATEGORIES))
    assert (again.created, again.updated, again.deactivated) == (0, 0, 0)
    assert again.unchanged == first.created
    assert await category_tree(db, TENANT) == before


async def test_json_and_yaml_give_the_same_tree_and_tenants_stay_apart(db: Database, tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_CATEGORIES.read_text(encoding="utf-8"))
    as_json = tmp_path / "categories.json"
    as_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    await import_categories(db, TENANT, EXAMPLE_CATEGORIES)
    await import_categories(db, OTHER, as_json)

    def shape(tree: list[dict[str, Any]]) -> list[Any]:
        return [(n["path"], n["name"], n["group"], n["default_impact"], shape(n["children"])) for n in tree]

    assert shape(await category_tree(db, TENANT)) == shape(await category_tree(db, OTHER))
    await import_categories(db, OTHER, [{"name": "HR", "group": "partner:hr"}], prune=True)
    assert [n["path"] for n in await category_tree(db, OTHER)] == ["hr"]
    assert _count(await category_tree(db, TENANT)) == 35
    assert await category_tree(db, "no-such-tenant") == []


async def test_a_changed_tree_updates_in_place_and_prune_deactivates(db: Database) -> None:
    tree = [
        {
            "name": "Hardware",
            "group": "2nd_level",
            "impact": 4,
            "urgency": 3,
            "children": [
                {"name": "Drucker", "code": "printer"},
                {"name": "Scanner"},
            ],
        },
    ]
    await import_categories(db, TENANT, tree)
    printer_id = _find(await category_tree(db, TENANT), "hardware/printer")["id"]
    tree[0]["children"] = [{"name": "Drucker / printer", "code": "printer", "urgency": "high"}]
    result = await import_categories(db, TENANT, tree)
    # the scanner is missing from the file but kept: no prune asked for
    assert (result.created, result.updated, result.unchanged, result.deactivated) == (0, 1, 1, 0)
    printer = _find(await category_tree(db, TENANT), "hardware/printer")
    assert (printer["id"], printer["name"], printer["default_urgency"]) == (printer_id, "Drucker / printer", 2)

    result = await import_categories(db, TENANT, tree, prune=True)
    assert result.deactivated == 1
    assert [n["path"] for n in (await category_tree(db, TENANT))[0]["children"]] == ["hardware/printer"]
    everything = await category_tree(db, TENANT, include_inactive=True)
    assert _find(everything, "hardware/scanner")["active"] is False
    # back in the file: active again, same row
    tree[0]["children"].append({"name": "Scanner"})
    result = await import_categories(db, TENANT, tree, prune=True)
    assert (result.created, result.updated) == (0, 1)


async def test_an_inactive_node_hides_its_subtree(db: Database) -> None:
    await import_categories(
        db,
        TENANT,
        [
            {"name": "KIS", "group": "2nd_level", "active": False, "children": [{"name": "ORBIS"}]},
            {"name": "PACS", "group": "3rd_level"},
        ],
    )
    assert [n["path"] for n in await category_tree(db, TENANT)] == ["pacs"]
    hidden = await category_tree(db, TENANT, include_inactive=True)
    assert _find(hidden, "kis/orbis")["active"] is True


def _tree(**child: Any) -> list[dict[str, Any]]:
    return [{"name": "Hardware", "group": "2nd_level", "children": [{"name": "Drucker", "code": "printer", **child}]}]


@pytest.mark.parametrize(
    ("data", "node", "message"),
    [
        (_tree(impact=7), "hardware/printer", "impact must be between 1 and 5"),
        (_tree(urgency="asap"), "hardware/printer", "urgency must be 1..5"),
        (_tree(impact=True), "hardware/printer", "impact must be"),  # YAML's unquoted yes
        (_tree(group="Second Level"), "hardware/printer", "'group'"),
        (_tree(code=False), "node #1 under 'hardware' ('Drucker')", "quote it"),  # YAML's unquoted no
        (_tree(code="Drucker Nord"), "node #1 under 'hardware' ('Drucker')", "'code'"),
        (_tree(chidren=[]), "node #1 under 'hardware' ('Drucker')", "unknown key(s) chidren"),
        (_tree(children="Toner"), "'hardware/printer'", "children must be a list"),
        (_tree(active="yes"), "hardware/printer", "'active'"),
        ([{"name": "KIS"}], "kis", "'group' is missing"),
        ([{"group": "1st_level"}], "top-level node #1", "'name'"),
        ([{"name": "PACS", "group": "3rd_level"}, {"name": "Pacs", "group": "3rd_level"}], "pacs", "two sibling"),
        ([{"name": "KIS", "group": "2nd_level"}, "PACS"], "top-level node #2", "mapping"),
        ([], None, "non-empty list"),
        ({"tree": []}, None, "'categories' key"),
    ],
)
def test_an_invalid_tree_is_refused_naming_the_node(data: Any, node: str | None, message: str) -> None:
    with pytest.raises(CategoryError) as info:
        validate_tree(data)
    assert message in info.value.message
    if node is not None:
        assert node in info.value.message
    assert isinstance(info.value, UhdError) and info.value.status_code == 400


async def test_an_invalid_tree_writes_nothing(db: Database) -> None:
    await import_categories(db, TENANT, [{"name": "PACS", "group": "3rd_level"}])
    # the bad node comes last: validation covers the whole tree before the first write
    bad = [{"name": "PACS", "group": "3rd_level", "impact": 2}, {"name": "KIS", "group": "2nd_level"}, *_tree(impact=9)]
    with pytest.raises(CategoryError, match="'hardware/printer'") as info:
        await import_categories(db, TENANT, bad)
    assert info.value.details == {"node": "'hardware/printer'"}
    tree = await category_tree(db, TENANT, include_inactive=True)
    assert [(n["path"], n["default_impact"]) for n in tree] == [("pacs", None)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories:\n  - name: KIS\n    group: 2nd_level\n    group: 3rd_level\n", "appears twice"),
        ("categories:\n  - name: KIS\n    group: [2nd_level\n", "not valid YAML"),
        ("- name: Hotline\n  code: 0123\n  group: 1st_level\n", "quote it"),  # YAML 1.1: 0123 is octal 83
    ],
)
async def test_yaml_pitfalls_are_caught(db: Database, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CategoryError, match=message):
        await import_categories(db, TENANT, path)


async def test_an_unreadable_file_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(CategoryError, match="cannot read category file"):
        await import_categories(db, TENANT, tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"name": "KIS", "name": "PACS", "group": "2nd_level"}]', encoding="utf-8")
    with pytest.raises(CategoryError, match="appears twice"):
        await import_categories(db, TENANT, broken)


def test_codes_are_derived_from_names() -> None:
    assert slug("Drucker & Scanner") == "drucker-scanner"
    assert slug("Modalitätenanbindung / Größe") == "modalitaetenanbindung-groesse"
    assert slug("PDF (Reader, Drucken)") == "pdf-reader-drucken"
