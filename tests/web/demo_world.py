"""The embedded demo for the web tests: no load, stopped PBX time; calls are placed and moved by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.webapp import web_settings
from uhd_telephony.ami import names
from uhd_telephony.app.demo import Demo

PERSON = "PJSIP/150"  # the phone of the demo's person, "you"
NORD = "klinikum-nord"


@pytest.fixture(name="demo")
async def demo_fixture(demo_db_url: str, tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo without load and with stopped PBX time: calls are placed and moved by the test (its database:
    ``demo_db_url``, a SQLite file unless the module asks for another)."""
    async with Demo(web_settings(demo_db_url), rate=0, speed=0, http_port=0, mail_dir=tmp_path / "mail") as running:
        yield running


def ring_the_person(demo: Demo) -> Any:
    """The simulated agents are all paused: a known caller of Klinikum Nord rings the person's phone."""
    sim = demo.sim
    assert sim is not None and sim.generator is not None
    for queue in sim.pbx.queues.values():
        for interface in queue.members:
            if interface != PERSON:
                sim.pause_member(interface, reason="Pause")
    caller = next(c for c in sim.generator.directories[NORD] if c.known and not c.number.isdigit())
    hotline = next(h for h in sim.pbx.config.hotlines if h.tenant == NORD)
    lookup = {names.VAR_TENANT: NORD, names.VAR_VIP: "0", names.VAR_USER_ID: caller.user_id,
              names.VAR_USER_NAME: caller.name}  # fmt: skip
    return caller, sim.place_call(caller.number, caller.name, dialled=hotline.number, lookup=lookup)
