"""Data protection: its tables (retention periods, pseudonym keys), its admin routes (periods, erasure, export)
and the retention scanner (in the process that holds the tracker lease, as every scanner)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.privacy import api
from uhd_telephony.privacy.periods import Periods
from uhd_telephony.privacy.retention import Retention
from uhd_telephony.privacy.scanner import RetentionScanner
from uhd_telephony.privacy.service import PersonData
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    db = app[keys.DB]
    app[api.PERIODS] = Periods(db)
    app[api.RETENTION] = Retention(db)
    app[api.PERSONS] = PersonData(db)
    yield


def workers(rt: Runtime) -> list[Running]:
    return [Running(RetentionScanner(rt.web[api.RETENTION]), "retention")]


CAPABILITY = Capability(
    name="privacy", models="uhd_telephony.privacy.models", routes=api.add_routes, services=services, workers=workers
)
