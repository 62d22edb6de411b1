"""The call service for tests: settings against the simulator, started and connected, its stored records, the CLI."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.support.helpers import eventually
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.service import CallService
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database

AGENTS = ["PJSIP/101", "PJSIP/102", "PJSIP/103"]


def service_settings(port: int, db_url: str, **extra: object) -> Settings:
    return Settings(
        ami_port=port,
        database_url=db_url,
        ami_ping_interval_s=0.5,
        ami_ping_timeout_s=0.5,
        ami_reconnect_min_s=0.05,
        ami_reconnect_max_s=0.2,
        ami_action_timeout_s=2,
        finalize_grace_s=0.5,
        store_flush_interval_s=0.05,
        tenant_numbers={"+49231990001": "klinikum-dortmund"},
        **extra,  # type: ignore[arg-type]
    )


async def stored(db_url: str) -> list[CallRecord]:
    db = Database(db_url)
    try:
        return await CallRepository(db).list_calls(limit=1000)
    finally:
        await db.close()


async def started(settings: Settings) -> CallService:
    service = CallService(settings)
    await service.start()
    assert service.client is not None
    await service.client.wait_connected(5)
    await eventually(lambda: service.resyncs >= 1)
    return service


async def uhd(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
