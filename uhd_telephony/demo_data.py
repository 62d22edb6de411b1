"""Data the embedded demo needs: agent accounts for the simulated agents, the callers the simulator dials from,
and a category tree per tenant. Idempotent: a demo restarted on the same database finds it all in place."""

from __future__ import annotations

from typing import Any

from uhd_telephony.accounts.service import AccountService
from uhd_telephony.directory.numbers import normalise
from uhd_telephony.directory.records import Phone, PhoneKind, User
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.simulator.config import PbxConfig
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories

DEMO_PASSWORD = "demo-agent"  # printed by the demo; a demo database is never a production one
DEPARTMENTS = (
    ("Kardiologie", "doctor", "Haus A, 3. OG"),
    ("Station 3B", "nursing", "Haus A, Station 3B"),
    ("Notaufnahme", "doctor", "Haus C, EG"),
    ("Radiologie", "doctor", "Haus B, UG"),
    ("Patientenaufnahme", "administration", "Haus C, EG"),
    ("Controlling", "controlling", "Verwaltung, 2. OG"),
    ("Labor", "other", "Haus B, 1. OG"),
)


async def seed_demo(db: Database, config: PbxConfig, directories: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """Accounts, directory and categories for the simulator's tenants; returns (username, agent name) pairs."""
    tenants = sorted({h.tenant for h in config.hotlines})
    accounts = AccountService(db)
    logins = []
    members = {m.interface: m.name for q in config.queues for m in q.members}
    for interface, name in sorted(members.items()):
        username = "agent" + interface.rsplit("/", 1)[-1]
        if await accounts.by_username(username) is None:
            await accounts.create(
                username, DEMO_PASSWORD, display_name=name, role="agent", tenants=tenants,
                interface=interface, member_name=name,
            )  # fmt: skip
        logins.append((username, name))
    repo = DirectoryRepository(db)
    for tenant, callers in directories.items():
        users = []
        for i, caller in enumerate(callers):
            key = normalise(caller.number)
            if not caller.known or key is None:
                continue  # the callers the directory does not know stay unknown in the demo too
            department, role, location = DEPARTMENTS[i % len(DEPARTMENTS)]
            kind = PhoneKind.EXTENSION if key.startswith("ext:") else PhoneKind.DESK
            users.append(
                User(
                    tenant=tenant, external_id=caller.user_id, name=caller.name, department=department,
                    role=role, location=location, vip=caller.vip,
                    email=f"{caller.user_id}@{tenant}.example", phones=(Phone(kind.value, key, caller.number),),
                )
            )  # fmt: skip
        await repo.upsert_users(tenant, users)
        await import_categories(db, tenant, DEFAULT_CATEGORIES)
    return logins
