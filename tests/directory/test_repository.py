"""The directory in the database: upserts by external_id, reads and search scoped to one tenant."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.directory_data import TENANT, phone, place, user
from uhd_telephony.directory.models import fold
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.directory.sync import UpsertCounts
from uhd_telephony.errors import DirectoryError
from uhd_telephony.store.db import Database


def test_fold_ignores_case_and_spells_out_umlauts() -> None:
    assert fold("Jürgen  MÜLLER") == "juergen mueller"
    assert fold("Weiß") == fold("WEISS") == "weiss"
    assert fold("Zoë Lefèvre") == "zoe lefevre"


async def test_upsert_creates_updates_and_leaves_unchanged_entries(db: Database) -> None:
    repo = DirectoryRepository(db)
    mueller = user("P-1", "Jürgen Müller", phone("0231 9860572"), department="Kardiologie", vip=True)
    krueger = user("P-2", "Thomas Krüger", phone("4711", "extension"))
    first = await repo.upsert(TENANT, [mueller, krueger], [place("W-3B", "Station 3B", phone("0231 9864300"))])
    assert first.users == UpsertCounts(created=2) and first.places == UpsertCounts(created=1)

    stored = await repo.get_user_by_external_id(TENANT, "P-1")
    assert stored is not None and stored.id is not None and stored.updated_at is not None
    assert stored.content() == mueller.content()
    assert await repo.get_user(TENANT, stored.id) == stored

    # the same number typed twice is one phone; a changed number replaces the old one
    moved = user("P-1", "Jürgen Müller", phone("0231 9860573"), phone("+49 231 9860573"), department="Kardiologie")
    again = await repo.upsert(TENANT, [moved, krueger])
    assert again.users == UpsertCounts(updated=1, unchanged=1)
    updated = await repo.get_user(TENANT, stored.id)
    assert updated is not None and [p.number for p in updated.phones] == ["+492319860573"] and not updated.vip
    assert updated.updated_at is not None and updated.updated_at > stored.updated_at
    assert (await repo.upsert(TENANT, [moved, krueger])).users == UpsertCounts(unchanged=2)


async def test_an_entry_of_another_tenant_is_invisible(db: Database) -> None:
    repo = DirectoryRepository(db)
    await repo.upsert("klinikum-sued", [user("P-1", "Maria Schmidt", tenant="klinikum-sued")])
    other = await repo.get_user_by_external_id("klinikum-sued", "P-1")
    assert other is not None and other.id is not None
    assert await repo.get_user(TENANT, other.id) is None
    assert await repo.search(TENANT, "Schmidt") == []
    assert not await repo.deactivate_user(TENANT, "P-1")
    assert not await repo.delete_user(TENANT, "P-1")
    assert await repo.count_users("klinikum-sued") == 1


async def test_search_finds_name_and_department_substrings_name_matches_first(db: Database) -> None:
    repo = DirectoryRepository(db)
    await repo.upsert(
        TENANT,
        [
            user("P-1", "Jürgen Müller", department="Kardiologie"),
            user("P-2", "Anna Schmidt", department="Müllerstraße Ambulanz"),
            user("P-3", "Eva Müller-Lüdenscheidt", department="Controlling", active=False),
            user("P-4", "Klaus 100% Sicher_heit", department="IT"),
        ],
    )
    assert [u.name for u in await repo.search(TENANT, "mueller")] == ["Jürgen Müller", "Anna Schmidt"]
    assert [u.name for u in await repo.search(TENANT, "MÜLLER")] == ["Jürgen Müller", "Anna Schmidt"]
    assert [u.name for u in await repo.search(TENANT, "müller", include_inactive=True)] == [
        "Eva Müller-Lüdenscheidt",
        "Jürgen Müller",
        "Anna Schmidt",
    ]
    assert [u.name for u in await repo.search(TENANT, "kardio")] == ["Jürgen Müller"]
    assert [u.name for u in await repo.search(TENANT, "100%")] == ["Klaus 100% Sicher_heit"]
    assert await repo.search(TENANT, "0% s_") == []  # LIKE wildcards are text here
    assert len(await repo.search(TENANT, "m", limit=1)) == 1
    assert await repo.search(TENANT, "  ") == []


async def test_deactivate_delete_and_deactivate_missing(db: Database) -> None:
    repo = DirectoryRepository(db)
    await repo.upsert(
        TENANT,
        [user("P-1", "A", phone("4711")), user("P-2", "B"), user("P-3", "C")],
        [place("W-1", "Station 1", phone("4800"))],
    )
    assert await repo.deactivate_user(TENANT, "P-2")
    assert await repo.count_users(TENANT, active_only=True) == 2
    assert await repo.delete_user(TENANT, "P-1")
    assert await repo.get_user_by_external_id(TENANT, "P-1") is None
    assert await repo.delete_place(TENANT, "W-1")
    assert await repo.count_users(TENANT) == 2

    full_export = await repo.upsert(TENANT, [user("P-3", "C"), user("P-4", "D")], deactivate_missing=True)
    # P-2 was inactive already: nothing left to deactivate but the users not in the export
    assert full_export.users == UpsertCounts(created=1, unchanged=1, deactivated=0)
    await repo.upsert(TENANT, [user("P-4", "D")], deactivate_missing=True)
    directory = (await repo.directories(TENANT))[TENANT]
    assert [u.external_id for u in directory.users] == ["P-4"]


async def test_dry_run_counts_and_writes_nothing(db: Database) -> None:
    repo = DirectoryRepository(db)
    result = await repo.upsert(TENANT, [user("P-1", "A")], plan=NumberingPlan("AT"), dry_run=True)
    assert result.users == UpsertCounts(created=1)
    assert await repo.count_users(TENANT) == 0
    assert await repo.numbering(TENANT) == NumberingPlan()


async def test_numbering_plan_is_stored_per_tenant(db: Database) -> None:
    repo = DirectoryRepository(db)
    plan = NumberingPlan("DE", "+49231986", 5)
    await repo.set_numbering(TENANT, plan)
    await repo.set_numbering(TENANT, plan)
    assert await repo.numbering(TENANT) == plan
    assert await repo.numbering("klinikum-sued") == NumberingPlan()
    assert (await repo.directories())[TENANT].plan == plan


async def test_records_of_the_wrong_tenant_or_twice_the_same_key_are_refused(db: Database) -> None:
    repo = DirectoryRepository(db)
    with pytest.raises(DirectoryError, match="belongs to tenant"):
        await repo.upsert(TENANT, [user("P-1", "A", tenant="klinikum-sued")])
    with pytest.raises(DirectoryError, match="given twice"):
        await repo.upsert(TENANT, [user("P-1", "A"), user("P-1", "B")])
    assert await repo.count_users(TENANT) == 0


async def test_two_writers_of_one_tenant_take_turns(db_url: str, db: Database) -> None:
    # two service instances (two engines) importing into one tenant at once: no duplicate phones, no error
    other = Database(db_url)
    try:
        first = [user(f"P-{i}", f"User {i}", phone(str(1000 + i))) for i in range(200)]
        second = [user(f"P-{i}", f"User {i}", phone(str(2000 + i))) for i in range(100, 300)]
        a, b = await asyncio.gather(
            DirectoryRepository(db).upsert(TENANT, first), DirectoryRepository(other).upsert(TENANT, second)
        )
    finally:
        await other.close()
    assert {a.users.created + b.users.created, a.users.updated + b.users.updated} == {300, 100}
    directory = (await DirectoryRepository(db).directories(TENANT))[TENANT]
    assert len(directory.users) == 300
    assert all(len(u.phones) == 1 for u in directory.users)
