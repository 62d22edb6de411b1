"""Caller-ID lookup: exactly one user, a place, ranked candidates or unknown; never another tenant's entry."""

from __future__ import annotations

import json

import pytest

from tests.support.directory_data import TENANT, at, phone, place, user
from uhd_telephony.directory.lookup import DirectoryIndex, TenantIndex
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import TenantDirectory
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.store.db import Database

PLAN = NumberingPlan("DE", extension_prefix="+49231986")

MUELLER = user(
    "P-1",
    "Dr. Jürgen Müller",
    phone("0231 9860572"),
    phone("0171 2345678", "mobile"),
    id=1,
    department="Kardiologie",
    role="doctor",
    location="Haus A, Raum 312",
    email="juergen.mueller@klinikum-nord.example",
    vip=True,
    updated_at=at(1),
)
KRUEGER = user("P-2", "Thomas Krüger", phone("4711", "extension"), id=2, role="it", updated_at=at(1))
# three nurses list the ward's DECT handset 4731; Weiß also has it as her own desk line
WEISS = user("P-3", "Sabine Weiß", phone("4731", "desk"), id=3, role="nursing", updated_at=at(2))
HOFFMANN = user("P-4", "Petra Hoffmann", phone("4731", "dect"), id=4, role="nursing", updated_at=at(3))
BRAUN = user("P-5", "Eva Braun-Lenz", phone("4731", "dect"), id=5, vip=True, updated_at=at(1))
WARD = place("W-3B", "Station 3B Kardiologie", phone("0231 9864300", "shared"), id=1, department="Kardiologie")
DECT_POOL = place("DECT-ZNA", "DECT-Pool ZNA", phone("4800", "dect"), phone("4801", "dect"), id=2)
DIRECTORY = TenantDirectory(TENANT, PLAN, (MUELLER, KRUEGER, WEISS, HOFFMANN, BRAUN), (WARD, DECT_POOL))


def test_a_number_of_one_user_names_that_user_in_any_spelling() -> None:
    index = TenantIndex(DIRECTORY)
    for raw in ("0231/98 60 572", "+49 231 9860572", "0049 231 9860572", "(0231) 98-60-572", "0171 2345678"):
        result = index.lookup(raw)
        assert (result.kind, result.user) == ("user", MUELLER), raw
    assert index.lookup("+492319860572").number == "+492319860572"


def test_an_extension_matches_by_itself_and_as_a_number_of_the_tenant_block() -> None:
    index = TenantIndex(DIRECTORY)
    assert index.lookup("4711").user == KRUEGER
    assert index.lookup("+49 231 986 4711").user == KRUEGER
    assert index.lookup("+49 231 986 4711").number == "+492319864711"
    # without the block configured the full number is a different phone
    assert TenantIndex(TenantDirectory(TENANT, NumberingPlan(), (KRUEGER,))).lookup("+492319864711").kind == "unknown"


def test_a_shared_ward_phone_names_the_place() -> None:
    index = TenantIndex(DIRECTORY)
    result = index.lookup("0231 9864300")
    assert (result.kind, result.place, result.user, result.candidates) == ("place", WARD, None, ())
    assert index.lookup("4801").place == DECT_POOL


def test_users_sharing_a_number_come_ranked_with_their_reasons() -> None:
    result = TenantIndex(DIRECTORY).lookup("4731")
    assert result.kind == "candidates" and result.user is None
    # own desk line first; then among the DECT holders the VIP; then the most recently updated
    assert [c.user for c in result.candidates] == [WEISS, BRAUN, HOFFMANN]
    assert [c.phone_kind for c in result.candidates] == ["desk", "dect", "dect"]
    assert result.candidates[0].reasons == ("has it as desk phone", "updated 2024-11-02T08:00:00+00:00")
    assert "VIP" in result.candidates[1].reasons


def test_a_place_number_a_user_also_lists_gives_candidates_with_the_place() -> None:
    nurse = user("P-9", "Jana Wolf", phone("0231 9864300", "dect"), id=9, updated_at=at(4))
    index = TenantIndex(TenantDirectory(TENANT, PLAN, (nurse,), (WARD,)))
    result = index.lookup("0231 9864300")
    assert result.kind == "candidates"
    assert result.place == WARD and [c.user for c in result.candidates] == [nurse]


def test_unknown_numbers_anonymous_callers_and_unknown_tenants() -> None:
    index = TenantIndex(DIRECTORY)
    assert index.lookup("0231 1111111").kind == "unknown"
    assert index.lookup("0231 1111111").number == "+492311111111"
    for raw in ("anonymous", "<unknown>", "", None, "s", "garbage"):
        result = index.lookup(raw)
        assert (result.kind, result.number, result.found) == ("unknown", None, False)
    assert DirectoryIndex().lookup("nobody", "0231 9860572").kind == "unknown"


def test_to_dict_is_json_with_the_documented_shape() -> None:
    index = TenantIndex(DIRECTORY)
    found = index.lookup("0231 9860572").to_dict()
    assert json.loads(json.dumps(found)) == found
    assert found["kind"] == "user" and found["number"] == "+492319860572" and found["tenant"] == TENANT
    assert found["user"] == {
        "id": 1,
        "external_id": "P-1",
        "name": "Dr. Jürgen Müller",
        "department": "Kardiologie",
        "role": "doctor",
        "location": "Haus A, Raum 312",
        "email": "juergen.mueller@klinikum-nord.example",
        "vip": True,
        "phones": [
            {"kind": "desk", "number": "+492319860572", "raw": "0231 9860572"},
            {"kind": "mobile", "number": "+491712345678", "raw": "0171 2345678"},
        ],
    }
    assert found["place"] is None and found["candidates"] == []
    ranked = index.lookup("4731").to_dict()
    assert [c["user"]["name"] for c in ranked["candidates"]] == ["Sabine Weiß", "Eva Braun-Lenz", "Petra Hoffmann"]
    assert set(ranked["candidates"][0]) == {"user", "phone_kind", "reasons"}
    ward = index.lookup("0231 9864300").to_dict()
    assert ward["place"]["name"] == "Station 3B Kardiologie" and ward["user"] is None


async def test_the_index_loads_from_the_database_and_keeps_tenants_apart(db: Database) -> None:
    repo = DirectoryRepository(db)
    same = phone("0231 9860572")
    await repo.upsert("klinikum-nord", [user("P-1", "Jürgen Müller", same, tenant="klinikum-nord")], plan=PLAN)
    await repo.upsert("klinikum-sued", [user("P-1", "Maria Schmidt", same, tenant="klinikum-sued")])
    await repo.upsert("klinikum-sued", places=[place("W-1", "Station 1", phone("4711"), tenant="klinikum-sued")])
    index = DirectoryIndex()
    await index.load(db)
    assert index.tenants == ["klinikum-nord", "klinikum-sued"]
    assert index.lookup("klinikum-nord", "+49 231 9860572").user.name == "Jürgen Müller"  # type: ignore[union-attr]
    assert index.lookup("klinikum-sued", "+49 231 9860572").user.name == "Maria Schmidt"  # type: ignore[union-attr]
    # the sued ward's extension is unknown in nord, though nord's plan would map it into its own block
    assert index.lookup("klinikum-nord", "4711").kind == "unknown"
    assert index.lookup("klinikum-sued", "4711").kind == "place"
    assert index.lookup("klinikum-west", "0231 9860572").kind == "unknown"


async def test_reload_tenant_sees_changes_and_deactivated_users_stop_matching(db: Database) -> None:
    repo = DirectoryRepository(db)
    await repo.upsert(TENANT, [user("P-1", "Jürgen Müller", phone("0231 9860572"))])
    await repo.upsert("other", [user("P-1", "Maria Schmidt", phone("0231 9860572"), tenant="other")])
    index = DirectoryIndex()
    await index.load(db)
    before = index.lookup(TENANT, "0231 9860572")
    assert before.kind == "user" and before.user is not None and before.user.id is not None
    assert before.user.updated_at is not None

    await repo.upsert(TENANT, [user("P-2", "Petra Hoffmann", phone("0231 9860572", "shared"))])
    assert index.lookup(TENANT, "0231 9860572").kind == "user"  # not reloaded yet
    await index.reload_tenant(db, TENANT)
    shared = index.lookup(TENANT, "0231 9860572")
    assert shared.kind == "candidates"
    assert [c.user.name for c in shared.candidates] == ["Jürgen Müller", "Petra Hoffmann"]

    assert await repo.deactivate_user(TENANT, "P-1")
    await index.reload_tenant(db, TENANT)
    assert index.lookup(TENANT, "0231 9860572").user.name == "Petra Hoffmann"  # type: ignore[union-attr]
    assert index.lookup("other", "0231 9860572").user.name == "Maria Schmidt"  # type: ignore[union-attr]


# issue 13 item 6: the caller ID in every shape German carriers and PBXs deliver, against one directory user
# with a public desk number and an extension of the tenant's block (+49231986, extensions of up to four digits)
SHAPES_PLAN = NumberingPlan("DE", extension_prefix="+49231986", max_extension_length=4)
SCHMIDT = user(
    "P-9", "Anna Schmidt", phone("0231 98601000"), phone("4711", "extension", SHAPES_PLAN), id=9, updated_at=at(1)
)


@pytest.mark.parametrize(
    ("raw", "shape"),
    [
        ("+4923198601000", "international with +"),
        ("004923198601000", "international with 00"),
        ("4923198601000", "international, neither + nor 00 (some SIP trunks)"),
        ("023198601000", "national with the trunk prefix"),
        ("0023198601000", "the PBX's outside-line 0 before the national number (not +231!)"),
        ("0004923198601000", "the PBX's outside-line 0 before the international number"),
        ("+49 231 986 01000", "international, spaced"),
        ("sip:+4923198601000@carrier.example;user=phone", "a SIP URI"),
        ("4711", "the internal extension"),
        ("+492319864711", "the extension as a number of the tenant's block, with +"),
        ("00492319864711", "the extension's full number with 00"),
        ("492319864711", "the extension's full number, neither + nor 00"),
        ("02319864711", "the extension's full number, national"),
        ("002319864711", "the extension's full number behind the outside-line 0"),
    ],
)
def test_every_shape_of_a_caller_id_finds_its_directory_user(raw: str, shape: str) -> None:
    index = TenantIndex(TenantDirectory(TENANT, SHAPES_PLAN, (SCHMIDT,)))
    result = index.lookup(raw)
    assert (result.kind, result.user) == ("user", SCHMIDT), shape


@pytest.mark.parametrize("raw", ["0023198601001", "4923198601001", "4712", "002319864712", "<unknown>", ""])
def test_a_caller_id_shape_never_finds_someone_else(raw: str) -> None:
    result = TenantIndex(TenantDirectory(TENANT, SHAPES_PLAN, (SCHMIDT,))).lookup(raw)
    assert result.kind == "unknown", raw
