"""Caller-ID lookup: an in-memory index per tenant, loaded from the database, answering with a LookupResult.

A lookup is a synchronous dict hit on the normalised number, so it can run on the event loop for every call
that joins a queue. The rules, in order:

- the number is no number (anonymous, garbage) or nobody has it → ``unknown``;
- exactly one user has it and no place → ``user``;
- only places have it → ``place`` (the most recently updated one, should two places list the same phone);
- several users, or users and a place → ``candidates``: the users ranked (own desk/mobile before DECT and
  extension before fax/shared lines, then VIPs, then the most recently updated), each with why; the place, if
  any, is attached, since a ward phone some nurses also list as theirs names the ward before a person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import KIND_RANK, Place, TenantDirectory, User, gc_paused

if TYPE_CHECKING:
    from uhd_telephony.store.db import Database

# The repository (SQLAlchemy) is imported where the index loads, not here: the AGI caller lookup ranks with
# TenantIndex in a process Asterisk starts per call, within 500 ms, and SQLAlchemy alone takes ~300 ms to import.

log = logging.getLogger(__name__)

Kind = Literal["user", "place", "candidates", "unknown"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WORST_RANK = max(KIND_RANK.values()) + 1


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of several users sharing a number: the phone kind they have it as, and why they rank where they do."""

    user: User
    phone_kind: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user.to_dict(), "phone_kind": self.phone_kind, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class LookupResult:
    """Who a caller ID belongs to in one tenant: exactly one of a user, a place, ranked candidates or unknown."""

    kind: Kind
    tenant: str
    number: str | None
    user: User | None = None
    place: Place | None = None
    candidates: tuple[Candidate, ...] = ()

    @property
    def found(self) -> bool:
        """True unless the caller is unknown."""
        return self.kind != "unknown"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: kind, tenant, number (the normalised key), user, place, candidates."""
        return {
            "kind": self.kind,
            "tenant": self.tenant,
            "number": self.number,
            "user": None if self.user is None else self.user.to_dict(),
            "place": None if self.place is None else self.place.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
        }


# per number: (user, the phone kind they have it as) pairs and the places that have it
_Entry = tuple[list[tuple[User, str]], list[Place]]


def _rank_key(user: User, kind: str) -> tuple[int, bool, float, str, int]:
    updated = (user.updated_at or _EPOCH).timestamp()
    return (KIND_RANK.get(kind, _WORST_RANK), not user.vip, -updated, user.name, user.id or 0)


def _candidate(user: User, kind: str) -> Candidate:
    reasons = [f"has it as {kind} phone"]
    if user.vip:
        reasons.append("VIP")
    if user.updated_at is not None:
        reasons.append(f"updated {user.updated_at.isoformat(timespec='seconds')}")
    return Candidate(user, kind, tuple(reasons))


class TenantIndex:
    """One tenant's numbers → owners, built once from a TenantDirectory and never changed afterwards."""

    __slots__ = ("_by_number", "places", "plan", "tenant", "users")

    def __init__(self, directory: TenantDirectory) -> None:
        self.tenant = directory.tenant
        self.plan: NumberingPlan = directory.plan
        self.users = len(directory.users)
        self.places = len(directory.places)
        by_number: dict[str, _Entry] = {}
        with gc_paused():
            for user in directory.users:
                best: dict[str, str] = {}
                for phone in user.phones:
                    # a user who lists one number as desk and as DECT is one candidate, with the better kind
                    old = best.get(phone.number)
                    if old is None or KIND_RANK.get(phone.kind, _WORST_RANK) < KIND_RANK.get(old, _WORST_RANK):
                        best[phone.number] = phone.kind
                for number, kind in best.items():
                    by_number.setdefault(number, ([], []))[0].append((user, kind))
            for place in directory.places:
                for number in {phone.number for phone in place.phones}:
                    by_number.setdefault(number, ([], []))[1].append(place)
        self._by_number = by_number

    def lookup(self, raw_number: str | None) -> LookupResult:
        """The owner(s) of ``raw_number`` in this tenant."""
        keys = self.plan.keys(raw_number)
        if not keys:
            return LookupResult("unknown", self.tenant, None)
        users: list[tuple[User, str]] = []
        places: list[Place] = []
        for key in keys:
            entry = self._by_number.get(key)
            if entry is not None:
                users.extend(entry[0])
                places.extend(entry[1])
        number = keys[0]
        if len(keys) > 1 and users:
            # the same phone under its extension and its full number: one user, counted once, best kind kept
            users = _unique_users(users)
        if not users and not places:
            return LookupResult("unknown", self.tenant, number)
        if len(users) == 1 and not places:
            return LookupResult("user", self.tenant, number, user=users[0][0])
        place = max(places, key=lambda p: ((p.updated_at or _EPOCH), -(p.id or 0))) if places else None
        if not users:
            return LookupResult("place", self.tenant, number, place=place)
        ranked = sorted(users, key=lambda pair: _rank_key(*pair))
        candidates = tuple(_candidate(user, kind) for user, kind in ranked)
        return LookupResult("candidates", self.tenant, number, place=place, candidates=candidates)

    def __len__(self) -> int:
        return len(self._by_number)


def _unique_users(pairs: list[tuple[User, str]]) -> list[tuple[User, str]]:
    best: dict[int, tuple[User, str]] = {}
    for user, kind in pairs:
        key = id(user)
        old = best.get(key)
        if old is None or KIND_RANK.get(kind, _WORST_RANK) < KIND_RANK.get(old[1], _WORST_RANK):
            best[key] = (user, kind)
    return list(best.values())


class DirectoryIndex:
    """Every tenant's TenantIndex; lookups are synchronous, (re)loads replace a tenant's index in one step."""

    def __init__(self) -> None:
        self._tenants: dict[str, TenantIndex] = {}
        self._marks: dict[str, tuple[Any, ...]] = {}

    async def load(self, db: Database) -> None:
        """(Re)build the index of every tenant from the database."""
        from uhd_telephony.directory.repository import DirectoryRepository

        repo = DirectoryRepository(db)
        marks = await repo.fingerprints()
        directories = await repo.directories()
        tenants = {name: TenantIndex(directory) for name, directory in directories.items()}
        self._marks = marks
        # one assignment: a lookup running between two awaits sees the old index or the new one, never half
        self._tenants = tenants
        log.info(
            "directory index loaded: %d tenants, %d users, %d places, %d numbers",
            len(tenants),
            sum(t.users for t in tenants.values()),
            sum(t.places for t in tenants.values()),
            sum(len(t) for t in tenants.values()),
        )

    async def reload_tenant(self, db: Database, tenant: str) -> None:
        """Rebuild one tenant's index (after an import or an edit of that tenant)."""
        from uhd_telephony.directory.repository import DirectoryRepository

        directories = await DirectoryRepository(db).directories(tenant)
        index = TenantIndex(directories[tenant])
        self._tenants = {**self._tenants, tenant: index}
        log.info("directory index of %s reloaded: %d users, %d places", tenant, index.users, index.places)

    async def refresh(self, db: Database) -> list[str]:
        """Reload the tenants whose directory changed since the last look (an import by the CLI, an edit)."""
        from uhd_telephony.directory.repository import DirectoryRepository

        current = await DirectoryRepository(db).fingerprints()
        changed = [t for t, mark in current.items() if self._marks.get(t) != mark]
        changed += [t for t in self._tenants if t not in current]  # a tenant's directory emptied
        for tenant in changed:
            if tenant in current:
                await self.reload_tenant(db, tenant)
            else:
                self._tenants = {k: v for k, v in self._tenants.items() if k != tenant}
        self._marks = current
        return changed

    def lookup(self, tenant: str, raw_number: str | None) -> LookupResult:
        """Who ``raw_number`` (a caller ID as Asterisk gives it) is in ``tenant``; a tenant not loaded knows nobody."""
        index = self._tenants.get(tenant)
        if index is None:
            plan = NumberingPlan()
            keys = plan.keys(raw_number)
            return LookupResult("unknown", tenant, keys[0] if keys else None)
        return index.lookup(raw_number)

    @property
    def tenants(self) -> list[str]:
        """The tenants loaded, sorted."""
        return sorted(self._tenants)

    def __contains__(self, tenant: object) -> bool:
        return tenant in self._tenants
