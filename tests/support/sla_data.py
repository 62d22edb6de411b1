"""A tenant's SLA as data for tests: business hours Mon-Fri 08:00-17:00 with NW's holidays."""

from __future__ import annotations

from typing import Any

TEAM_LEAD = "teamleitung@klinik-it.example"
KIS_LEAD = "kis-koordination@klinik-it.example"
MANAGEMENT = "it-leitung@klinik-it.example"


def sla_data(**changes: Any) -> dict[str, Any]:
    """Business hours Mon-Fri 08:00-17:00 with NW's holidays; priority 3: response 2 h, resolution 8 h."""
    data: dict[str, Any] = {
        "calendar": {
            "hours": {day: ["08:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": {"state": "NW"},
        },
        "unclassified_priority": 3,
        "warning_at": 0.75,
        "policies": {
            1: {"response": "15m", "resolution": "4h", "calendar": "24/7"},
            2: {"response": "30m", "resolution": "4h"},
            3: {"response": "2h", "resolution": "8h"},
            4: {"response": "4h", "resolution": "16h"},
            5: {"response": "8h", "resolution": "40h"},
        },
        "contacts": [
            {"name": "Teamleitung", "level": 1, "mail": [TEAM_LEAD]},
            {"name": "KIS-Koordination", "level": 1, "category": "kis", "mail": [KIS_LEAD]},
            {"name": "IT-Leitung", "level": 2, "mail": [MANAGEMENT]},
        ],
    }
    data.update(changes)
    return data
