"""Ticket numbers: UHD-<year>-<6 digits>, consecutive per year, unique across concurrent service instances."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from uhd_telephony.store.db import Database
from uhd_telephony.tickets.ids import format_number, normalise_number, number_year, parse_number
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService

from .conftest import TENANT, Clock, all_of


def test_number_format() -> None:
    assert format_number(2026, 123) == "UHD-2026-000123"
    assert format_number(2026, 1) == "UHD-2026-000001"
    # a seventh digit rather than a wrap-around
    assert format_number(2026, 1_234_567) == "UHD-2026-1234567"
    with pytest.raises(ValueError):
        format_number(2026, 0)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("UHD-2026-000123", "UHD-2026-000123"),
        (" uhd-2026-000123 ", "UHD-2026-000123"),
        ("UHD-2026-1234567", "UHD-2026-1234567"),
        ("UHD-2026-123", None),
        ("UHD-26-000123", None),
        ("2026-000123", None),
        ("UHD-2026-000123; DROP TABLE tickets", None),
    ],
)
def test_numbers_people_type_are_normalised_or_refused(typed: str, canonical: str | None) -> None:
    assert normalise_number(typed) == canonical
    assert (parse_number(typed) is None) == (canonical is None)


def test_the_year_is_the_helpdesks_local_year() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC on New Year's Eve is already half past midnight in Berlin
    assert number_year(datetime(2025, 12, 31, 23, 30, tzinfo=UTC), berlin) == 2026
    assert number_year(datetime(2025, 12, 31, 22, 59, tzinfo=UTC), berlin) == 2025


async def _web_ticket(service: TicketService, n: int) -> str:
    view = await service.create(
        TENANT, channel="web", subject=f"Drucker {n}", requester=Requester(number=f"{n}"), actor="api:test"
    )
    return view.number


async def test_numbers_are_consecutive_per_year_and_restart_in_january(db: Database) -> None:
    service = TicketService(db, now=Clock(datetime(2025, 12, 31, 22, 59, 58, tzinfo=UTC)))
    # the clock ticks a second per reading: 22:59:58 and 22:59:59 UTC are still 2025 in Berlin, 23:00:00 is 2026
    numbers = [await _web_ticket(service, n) for n in range(4)]
    assert numbers == ["UHD-2025-000001", "UHD-2025-000002", "UHD-2026-000001", "UHD-2026-000002"]


async def test_two_service_instances_creating_at_once_never_share_a_number(db: Database, db_url: str) -> None:
    # a second Database is a second service instance: its own engine, its own connections
    async with Database(db_url) as other_db:
        first, second = TicketService(db), TicketService(other_db)
        numbers = await all_of(*(_web_ticket(first if n % 2 else second, n) for n in range(12)))
    year = datetime.now(ZoneInfo("Europe/Berlin")).year
    # unique and without gaps: the counter row serialises the inserts
    assert sorted(numbers) == [format_number(year, n) for n in range(1, 13)]
