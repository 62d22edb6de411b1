"""The directory's values: a user, a place (ward phone, DECT pool) and their phones, as frozen dataclasses."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from uhd_telephony.directory.numbers import NumberingPlan


class Role(StrEnum):
    """What a caller does in the hospital: agents phrase questions differently for each."""

    DOCTOR = "doctor"
    NURSING = "nursing"
    ADMINISTRATION = "administration"
    CONTROLLING = "controlling"
    MANAGEMENT = "management"
    MEDTECH = "medtech"
    IT = "it"
    OTHER = "other"


class PhoneKind(StrEnum):
    """What a phone number is to its owner; decides who wins when several users share a number."""

    DESK = "desk"
    MOBILE = "mobile"
    DECT = "dect"
    EXTENSION = "extension"
    HOME = "home"
    FAX = "fax"
    SHARED = "shared"
    OTHER = "other"


# lower ranks first: a number someone calls their own desk or mobile names them more surely than a DECT
# handset passed around on a shift, and a fax or shared line names nobody in particular
KIND_RANK: dict[str, int] = {
    PhoneKind.DESK: 0,
    PhoneKind.MOBILE: 0,
    PhoneKind.DECT: 1,
    PhoneKind.EXTENSION: 1,
    PhoneKind.HOME: 2,
    PhoneKind.OTHER: 2,
    PhoneKind.FAX: 3,
    PhoneKind.SHARED: 3,
}


@dataclass(frozen=True, slots=True)
class Phone:
    """One number of a user or place: its lookup key (``numbers.normalise``) and the text it was given as."""

    kind: str
    number: str
    raw: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "number": self.number, "raw": self.raw}


def _sorted_phones(phones: tuple[Phone, ...]) -> tuple[tuple[str, str, str], ...]:
    return tuple(sorted((p.kind, p.number, p.raw) for p in phones))


@dataclass(frozen=True, slots=True)
class User:
    """A member of a tenant's staff; ``id`` and ``updated_at`` are None until stored."""

    tenant: str
    external_id: str
    name: str
    department: str | None = None
    role: str = Role.OTHER.value
    location: str | None = None
    email: str | None = None
    vip: bool = False
    active: bool = True
    phones: tuple[Phone, ...] = ()
    id: int | None = None
    updated_at: datetime | None = None

    def content(self) -> tuple[Any, ...]:
        """What an import compares to decide unchanged vs updated: everything but id and timestamps."""
        return (
            self.tenant,
            self.external_id,
            self.name,
            self.department,
            self.role,
            self.location,
            self.email,
            self.vip,
            self.active,
            _sorted_phones(self.phones),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a user in lookup results, the API and the screen-pop."""
        return {
            "id": self.id,
            "external_id": self.external_id,
            "name": self.name,
            "department": self.department,
            "role": self.role,
            "location": self.location,
            "email": self.email,
            "vip": self.vip,
            "phones": [p.to_dict() for p in self.phones],
        }


@dataclass(frozen=True, slots=True)
class Place:
    """A place with a shared phone (ward, nurses' room, DECT pool): the call comes from there, not from someone."""

    tenant: str
    external_id: str
    name: str
    department: str | None = None
    location: str | None = None
    active: bool = True
    phones: tuple[Phone, ...] = ()
    id: int | None = None
    updated_at: datetime | None = None

    def content(self) -> tuple[Any, ...]:
        """What an import compares to decide unchanged vs updated: everything but id and timestamps."""
        return (
            self.tenant,
            self.external_id,
            self.name,
            self.department,
            self.location,
            self.active,
            _sorted_phones(self.phones),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a place in lookup results and the API."""
        return {
            "id": self.id,
            "external_id": self.external_id,
            "name": self.name,
            "department": self.department,
            "location": self.location,
            "phones": [p.to_dict() for p in self.phones],
        }


@dataclass(frozen=True, slots=True)
class TenantDirectory:
    """One tenant's active users and places with its numbering plan: what the lookup index is built from."""

    tenant: str
    plan: NumberingPlan
    users: tuple[User, ...] = ()
    places: tuple[Place, ...] = ()


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a block builds 100,000s of objects in one go (and never awaits).

    Each few hundred new containers trigger a collection that walks every young object, and the older
    generations ever more often: building the directory index took five times as long with it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
