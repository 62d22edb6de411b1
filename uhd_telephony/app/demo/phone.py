"""The demo's softphone in the browser: routes that work the simulated phone of the logged-in agent.

Registered only by ``uhd-telephony demo`` (``install``), never in ``run``. A person's agent account is mapped to a
queue member whose phone the simulator never answers by itself (``simulator.softphone``); these routes are that
phone's keys. They act on the logged-in account's own interface only — read from its account, never from the
request — with the console's checks: a session (no API tokens), the agent or admin role, the CSRF token on every
POST. Answering goes through the PBX like any pick-up: AgentConnect over AMI, then the service opens the ticket
and pops it on this console as for anyone; the phone's state is for the softphone's display only.

- ``GET /api/demo``: what is simulated here (clock speed, real time now, the mail directory, the SLA);
- ``GET /api/demo/phone``: this account's phone — idle, ringing (who, how long still) or talking; paused;
- ``POST /api/demo/phone/answer``, ``…/hangup``, ``…/pause`` ``{"paused": true|false}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.app.demo.data import demo_sla_summary
from uhd_telephony.calls.records import iso
from uhd_telephony.errors import Conflict, NotFound
from uhd_telephony.i18n import gettext
from uhd_telephony.simulator.pbx import PbxError
from uhd_telephony.simulator.server import AmiSimulator
from uhd_telephony.simulator.softphone import PhoneView
from uhd_telephony.web import keys
from uhd_telephony.web.auth import Principal, require
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented

PHONE_ROLES = ("agent", "admin")  # the console's roles
INFO_ROLES = ("agent", "admin", "manager")
PAUSE_REASON = "Pause"
FEATURE = "demo"  # in GET /api/me's "features": the console shows the softphone, the KPI page the demo's clock


@dataclass(slots=True)
class DemoInfo:
    """What the demo's pages say about it: the simulator, the mail sink, the SLA it imported."""

    sim: AmiSimulator
    mail_dir: Path
    sla_file: str | None  # the SLA file the demo imported; None: the demo's own (``data.demo_sla``)
    started_at: float = field(default_factory=time.time)

    def sla(self, locale: str | None) -> str:
        """The SLA the tickets run on, in words in ``locale`` (the KPI page's banner)."""
        if self.sla_file is None:
            return demo_sla_summary(locale)
        return gettext(locale, "SLA from %(file)s", file=self.sla_file)

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        sim = self.sim
        return {
            "speed": sim.full_speed,
            "clock_speed": sim.clock.speed,
            "realtime": sim.realtime,
            "demo_time": iso(sim.now()),
            "wall_time": iso(time.time()),
            "started_at": iso(self.started_at),
            "mail_dir": str(self.mail_dir),
            "sla": self.sla(locale),
        }


DEMO: web.AppKey[DemoInfo] = web.AppKey("demo")


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paused: bool = Field(description="true: take no queue calls; false: ready")


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    linkedid: str | None = Field(
        default=None,
        max_length=64,
        description="the call the person saw ringing: 409 when another one rings by now (none: whatever rings)",
    )


class DemoOut(BaseModel):
    speed: float = Field(description="how much faster than real time the simulated PBX runs")
    clock_speed: float = Field(description="its pace now: 1 while a person's phone rings or talks")
    realtime: bool
    demo_time: str | None = Field(description="the simulated PBX's clock (call times are on it)")
    wall_time: str | None
    started_at: str | None
    mail_dir: str = Field(description="where the demo's mails are written, one .eml file each")
    sla: str = Field(description="the SLA the tickets run on, in words in the reader's language")


class DemoResponse(BaseModel):
    demo: DemoOut


class PhoneOut(BaseModel):
    interface: str
    name: str
    state: str = Field(description="idle, ringing or talking")
    paused: bool
    paused_reason: str
    caller_number: str | None
    caller_name: str | None
    tenant: str | None
    queue: str | None
    linkedid: str | None
    ring_left_s: float | None = Field(description="seconds until an unanswered ring goes to the next agent")
    talk_s: float | None = Field(description="seconds since the answer")


class PhoneResponse(BaseModel):
    phone: PhoneOut | None = Field(description="null: this account's phone is answered by the simulator")
    demo: DemoOut


def _info(request: web.Request) -> DemoInfo:
    return request.app[DEMO]


async def _interface(request: web.Request, who: Principal) -> str | None:
    """The logged-in account's phone if a person works it (else None): from the account, not the request."""
    try:
        account = await request.app[keys.ACCOUNTS].get(who.account_id)
    except NotFound:
        return None
    interface = account.interface if account is not None else None
    if interface is None or interface not in _info(request).sim.pbx.devices:
        return None
    return interface if _info(request).sim.pbx.devices[interface].behaviour.manual else None


def _phone(info: DemoInfo, view: PhoneView) -> dict[str, Any]:
    now = info.sim.now()
    ringing = view.state == "ringing" and view.ring_ends_at is not None
    talking = view.state == "talking" and view.since is not None
    return {
        "interface": view.interface,
        "name": view.name,
        "state": view.state,
        "paused": view.paused,
        "paused_reason": view.paused_reason,
        "caller_number": view.caller_number,
        "caller_name": view.caller_name,
        "tenant": view.tenant,
        "queue": view.queue,
        "linkedid": view.linkedid,
        # the clock runs at real time while this phone rings or talks: these are real seconds
        "ring_left_s": round(max((view.ring_ends_at or now) - now, 0.0), 1) if ringing else None,
        "talk_s": round(max(now - (view.since or now), 0.0), 1) if talking else None,
    }


async def _answer(request: web.Request, act: Callable[[str], Any] | None = None) -> web.Response:
    who = await require(request, *PHONE_ROLES)
    info = _info(request)
    interface = await _interface(request, who)
    if act is not None:
        if interface is None:
            raise Conflict("this account's phone is answered by the simulator: log in as a person's agent")
        try:
            act(interface)
        except PbxError as exc:
            raise Conflict(exc.message, {"interface": interface}) from None
    phone = None if interface is None else _phone(info, info.sim.phone(interface))
    return web.json_response({"phone": phone, "demo": info.to_dict(request_locale(request))})


@documented("What the demo simulates", response=DemoResponse, tag="demo")
async def demo_info(request: web.Request) -> web.Response:
    """The demo's clock, mail directory and SLA (only ``uhd-telephony demo`` has this route)."""
    await require(request, *INFO_ROLES)
    return web.json_response({"demo": _info(request).to_dict(request_locale(request))})


@documented("The logged-in agent's demo phone", response=PhoneResponse, tag="demo")
async def phone_state(request: web.Request) -> web.Response:
    """Idle, ringing or talking; ``phone`` is null for an agent the simulator plays."""
    return await _answer(request)


@documented("Answer the call ringing on the demo phone", body=AnswerBody, response=PhoneResponse, errors=(409,),
            tag="demo")  # fmt: skip
async def answer(request: web.Request) -> web.Response:
    """The phone's Answer key: AgentConnect goes out over AMI, the ticket pops on this console."""
    await require(request, *PHONE_ROLES)  # before the body: an anonymous request learns nothing from a 400
    body = AnswerBody.model_validate(await read_json(request)) if request.can_read_body else AnswerBody()
    sim = _info(request).sim

    def act(interface: str) -> None:
        ringing = sim.phone(interface)
        if body.linkedid is not None and ringing.state == "ringing" and ringing.linkedid != body.linkedid:
            # the page showed another caller a moment ago: answer nobody the person did not choose
            raise Conflict("another call rings now", {"linkedid": ringing.linkedid})
        sim.answer_phone(interface)

    return await _answer(request, act)


@documented("Hang up the demo phone", response=PhoneResponse, errors=(409,), tag="demo")
async def hangup(request: web.Request) -> web.Response:
    """Ends the conversation (or rejects a ringing call: the queue tries the next agent)."""
    sim = _info(request).sim
    return await _answer(request, sim.hangup_phone)


@documented("Pause the demo phone's queue membership, or make it ready", body=PauseBody, response=PhoneResponse,
            errors=(409,), tag="demo")  # fmt: skip
async def pause(request: web.Request) -> web.Response:
    """QueuePause of this account's member in every queue (QueueMemberPause over AMI, as from a real phone)."""
    await require(request, *PHONE_ROLES)  # before the body: an anonymous request learns nothing from a 400
    body = PauseBody.model_validate(await read_json(request))
    sim = _info(request).sim

    def act(interface: str) -> None:
        sim.pause_member(interface, body.paused, PAUSE_REASON if body.paused else "")

    return await _answer(request, act)


def install(info: DemoInfo) -> Callable[[web.Application], None]:
    """What ``init_app(routes=...)`` calls: the demo's state and routes on the app."""

    def add(app: web.Application) -> None:
        app[DEMO] = info
        app[keys.FEATURES] = app.get(keys.FEATURES, frozenset()) | {FEATURE}
        app.router.add_get("/api/demo", demo_info)
        app.router.add_get("/api/demo/phone", phone_state)
        app.router.add_post("/api/demo/phone/answer", answer)
        app.router.add_post("/api/demo/phone/hangup", hangup)
        app.router.add_post("/api/demo/phone/pause", pause)

    return add
