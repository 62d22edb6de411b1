"""Tickets with every kind of history, for the KPI tests of ticket figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.metrics.conftest import TENANT_A, TENANT_B, TicketSpec

C0 = datetime(2026, 3, 2, 8, 0, 0, 250_000, tzinfo=UTC)


def after(seconds: float, base: datetime = C0) -> datetime:
    return base + timedelta(seconds=seconds)


def specs() -> list[TicketSpec]:
    routed2 = "2nd_level"
    return [
        # unclassified, never forwarded
        TicketSpec(TENANT_A, C0, None, None, "phone"),
        # a sub-category counts under its top level; routed to 1st level only: not forwarded
        TicketSpec(TENANT_A, after(60), "kis/login", 3, "phone", (("routed", "1st_level", after(120)),)),
        # forwarded exactly at the 10-minute bucket bound (600 s), and one microsecond after it
        TicketSpec(TENANT_A, C0, "kis", 2, "phone", (("routed", routed2, after(600)),)),
        TicketSpec(TENANT_A, C0, "kis", 2, "web", (("routed", routed2, after(600.000001)),)),
        # fractions of .999999 s (SQLite's strftime would round them up into the next second)
        TicketSpec(
            TENANT_A,
            after(0.749999),
            "pacs/viewer",
            1,
            "mail",
            (("escalated", None, after(1799.999999)), ("routed", "partner:pacs-vendor", after(3600))),
        ),
        # routed and escalated; the first forwarding decides the escalation time
        TicketSpec(
            TENANT_A,
            after(10),
            "hardware/printer/label-printer",
            4,
            "phone",
            (("routed", "1st_level", after(20)), ("escalated", None, after(90_000)), ("routed", routed2, after(7200))),
        ),
        # another tenant, beyond the last bucket (3 days)
        TicketSpec(TENANT_B, C0, "kis", 3, "phone", (("routed", "3rd_level", after(300_000)),)),
        TicketSpec(TENANT_B, after(5), "kis/login", None, "phone", (("escalated", None, after(305)),)),
    ]
