"""The callback list: its table, the service the console dials with, and the housekeeping of stuck dials."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from uhd_telephony.callbacks.housekeeping import CallbackHousekeeping
from uhd_telephony.callbacks.service import CallbackService
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.web import keys


async def services(app: web.Application) -> AsyncIterator[None]:
    app[keys.CALLBACKS] = CallbackService(app[keys.DB])
    yield


def workers(rt: Runtime) -> list[Running]:
    housekeeping = CallbackHousekeeping(
        rt.db,
        rt.web[keys.CALLBACKS],
        interval_s=rt.settings.callback_scan_s,
        stale_s=rt.settings.callback_dial_stale_s,
        expire_s=rt.settings.callback_expire_s,
    )
    rt.provide("callback_housekeeping", housekeeping)
    return [Running(housekeeping, "callback_housekeeping")]


CAPABILITY = Capability(name="callbacks", models="uhd_telephony.callbacks.models", services=services, workers=workers)
