"""A running service's lookup index picks up directory changes made elsewhere (the import command)."""

from __future__ import annotations

from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.directory.records import Phone, User
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate


def user(external_id: str, name: str, number: str) -> User:
    return User(tenant="klinikum-nord", external_id=external_id, name=name, phones=(Phone("desk", number, number),))


async def test_refresh_reloads_only_changed_tenants(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        repo = DirectoryRepository(db)
        await repo.upsert_users("klinikum-nord", [user("u1", "Erika Muster", "+492311111111")])
        index = DirectoryIndex()
        await index.load(db)
        assert await index.refresh(db) == []  # nothing changed since the load
        assert index.lookup("klinikum-nord", "0231 2222222").kind == "unknown"
        await repo.upsert_users(
            "klinikum-nord",
            [user("u1", "Erika Muster", "+492311111111"), user("u2", "Jürgen Müller", "+492312222222")],
        )
        assert await index.refresh(db) == ["klinikum-nord"]
        found = index.lookup("klinikum-nord", "0231 2222222")
        assert found.kind == "user" and found.user is not None and found.user.name == "Jürgen Müller"
        assert await repo.delete_user("klinikum-nord", "u1") and await repo.delete_user("klinikum-nord", "u2")
        assert await index.refresh(db) == ["klinikum-nord"]
        assert index.lookup("klinikum-nord", "0231 2222222").kind == "unknown"
    finally:
        await db.close()
