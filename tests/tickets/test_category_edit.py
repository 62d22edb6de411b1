"""Editing the category tree: inheritance, identity by path, subtree (de)activation, tenants apart."""

from __future__ import annotations

import pytest

from uhd_telephony.errors import CategoryError, Conflict, NotFound
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import category_tree, import_categories
from uhd_telephony.tickets.category_edit import create_category, update_category

A, B = "klinikum-nord", "klinikum-sued"


def names(tree: list[dict]) -> list[str]:
    out: list[str] = []
    for node in tree:
        out.append(node["path"])
        out.extend(names(node["children"]))
    return out


async def test_child_inherits_group_and_defaults_and_path_follows_codes(db: Database) -> None:
    top = await create_category(db, A, name="Medizintechnik", group="partner:medtec", default_impact=2,
                                default_urgency=3)  # fmt: skip
    child = await create_category(db, A, name="Infusionspumpen (Fresenius)", parent_id=top["id"])
    assert child["path"] == f"{top['code']}/{child['code']}" and child["group"] == "partner:medtec"
    assert (child["default_impact"], child["default_urgency"]) == (2, 3)
    assert top["path"] in names(await category_tree(db, A))


async def test_refusals_name_the_problem(db: Database) -> None:
    with pytest.raises(CategoryError):
        await create_category(db, A, name="Ohne Gruppe")  # top level needs a group
    with pytest.raises(CategoryError):
        await create_category(db, A, name="X", group="Not A Group!")
    await create_category(db, A, name="PACS", group="2nd_level")
    with pytest.raises(Conflict):
        await create_category(db, A, name="PACS", group="2nd_level")
    node = await create_category(db, A, name="L1", group="1st_level")
    for depth in range(2, 7):
        node = await create_category(db, A, name=f"L{depth}", parent_id=node["id"])
    with pytest.raises(CategoryError):
        await create_category(db, A, name="L7", parent_id=node["id"])


async def test_another_tenants_node_is_not_found(db: Database) -> None:
    foreign = await create_category(db, B, name="KIS", group="2nd_level")
    with pytest.raises(NotFound):
        await create_category(db, A, name="Unterkategorie", parent_id=foreign["id"])
    with pytest.raises(NotFound):
        await update_category(db, A, foreign["id"], name="gekapert")
    assert (await category_tree(db, B))[0]["name"] == "KIS"


async def test_rename_keeps_identity_so_a_reimport_updates_the_same_row(db: Database) -> None:
    await import_categories(db, A, {"categories": [{"name": "Drucker", "code": "printer", "group": "1st_level"}]})
    (node,) = await category_tree(db, A)
    renamed = await update_category(db, A, node["id"], name="Drucker & Scanner", default_urgency=4)
    assert renamed["path"] == "printer" and renamed["name"] == "Drucker & Scanner"
    await import_categories(db, A, {"categories": [{"name": "Drucker", "code": "printer", "group": "1st_level"}]})
    (again,) = await category_tree(db, A)
    assert again["id"] == node["id"]


async def test_deactivating_a_node_hides_its_subtree_and_back(db: Database) -> None:
    top = await create_category(db, A, name="Facility", group="partner:haustechnik")
    await create_category(db, A, name="Heizung", parent_id=top["id"])
    other = await create_category(db, A, name="Facility_2", code="facility_2", group="1st_level")
    await update_category(db, A, top["id"], active=False)
    visible = names(await category_tree(db, A))
    assert top["path"] not in visible and f"{top['path']}/heizung" not in visible
    assert other["path"] in visible  # a sibling whose code only starts alike stays (LIKE escaping)
    await update_category(db, A, top["id"], active=True)
    assert f"{top['path']}/heizung" in names(await category_tree(db, A))
