"""Directory rows for tests: users, places and phones of one tenant, normalised by its numbering plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, Place, User

TENANT = "klinikum-nord"


PLAN = NumberingPlan("DE")


def phone(raw: str, kind: str = "desk", plan: NumberingPlan = PLAN) -> Phone:
    """A phone as an import stores it: normalised key and the text it was given as."""
    key = plan.normalise(raw)
    assert key is not None, raw
    return Phone(kind, key, raw)


def user(external_id: str, name: str, *phones: Phone, tenant: str = TENANT, **fields: Any) -> User:
    return User(tenant, external_id, name, phones=phones, **fields)


def place(external_id: str, name: str, *phones: Phone, tenant: str = TENANT, **fields: Any) -> Place:
    return Place(tenant, external_id, name, phones=phones, **fields)


def at(day: int) -> datetime:
    return datetime(2024, 11, day, 8, 0, tzinfo=UTC)
