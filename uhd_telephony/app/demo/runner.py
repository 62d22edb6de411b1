"""``uhd-telephony demo``: the built-in AMI simulator and the whole service in one process, on SQLite, no Redis.

The simulator plays a hospital helpdesk (two hospitals, Poisson arrivals, agents with ring and talk times,
impatient callers, transfers to 2nd level) on an accelerated clock; the service logs in to it over real TCP
exactly as it would to Asterisk, tracks every call, opens a ticket when an agent answers and pops it on that
agent's console. Besides the simulated agents there is a person's agent (``you``): the simulator rings that phone
like the others but only the browser answers it (``simulator.softphone``, ``demo.phone``). The simulated agents'
tickets are classified and solved, routed or left open (``demo.desk``), the demo's SLA has targets of minutes,
and every mail is written to a directory (``demo.mailbox``). Each call, ticket and escalation is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.fernet import Fernet

from uhd_telephony.app.demo import phone
from uhd_telephony.app.demo.data import DEMO_PASSWORD, Login, demo_sla_summary, directory_ids, seed_demo
from uhd_telephony.app.demo.desk import SimulatedDesk, wall_clock
from uhd_telephony.app.demo.mailbox import MailSink
from uhd_telephony.app.server import Server
from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallEvent, CallOffered
from uhd_telephony.calls.service import install_stop
from uhd_telephony.errors import AmiNotConnected
from uhd_telephony.settings import Settings
from uhd_telephony.simulator.cli import until_stopped
from uhd_telephony.simulator.config import MemberConfig, PhoneBehaviour
from uhd_telephony.simulator.incidents import IncidentDesk
from uhd_telephony.simulator.scenario import Scenario
from uhd_telephony.simulator.server import AmiSimulator
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.web import keys

PERSON_FIRST_EXT = 150  # a person's phones: PJSIP/150, PJSIP/151, …
PERSON_TALK_LIMIT_S = 1800.0  # a caller left on a person's line hangs up after half an hour
MAIL_DIR = "demo-mail"
LOGIN_WAIT_S = 10.0  # the service logging in to the local simulator at start


class CallPrinter:
    """Prints a line per call event worth seeing; counts outcomes for the closing summary."""

    def __init__(self, out: TextIO | None, clock: Callable[[], datetime | None] = lambda: None) -> None:
        self.out = out  # None: count only
        self.outcomes: Counter[str] = Counter()
        self.clock = clock  # the wall clock (tests fix it)

    def __call__(self, event: CallEvent) -> None:
        call = event.call
        when = wall_clock(self.clock())  # printed as it happens: the event's own time is on the demo clock
        who = f"{call.caller_name or '?'} <{call.caller_number or '?'}>"
        if isinstance(event, CallOffered):
            line = f"{when}  offered      {call.tenant:<13} {call.queue:<12} {who}"
        elif isinstance(event, CallAnswered):
            line = f"{when}  answered     {call.tenant:<13} {call.queue:<12} {who} -> {call.agent}"
        elif isinstance(event, CallEnded):
            self.outcomes[str(call.outcome)] += 1
            talk = f", talk {call.talk_s:.0f} s" if call.talk_s is not None else ""
            line = (
                f"{when}  ended        {call.tenant:<13} {call.queue:<12} {who}: {call.outcome}"
                f" (wait {call.wait_s or 0:.0f} s{talk}) recorded"
            )
        else:
            return
        self.write(line)

    def write(self, line: str) -> None:
        if self.out is not None:
            self.out.write(line + "\n")
            self.out.flush()


def person_username(index: int) -> str:
    return "you" if index == 0 else f"you{index + 1}"


class Demo:
    """The simulator, the server and the demo's extras, started and stopped in order; the tests drive it too."""

    def __init__(
        self,
        settings: Settings,
        *,
        rate: float = 240.0,
        speed: float = 10.0,
        agents: int = 6,
        people: int = 1,
        seed: int = 0,
        ami_port: int = 0,
        http_port: int | None = None,
        mail_dir: str | os.PathLike[str] = MAIL_DIR,
        sla: str | os.PathLike[str] | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.rate, self.speed, self.agents, self.seed = rate, speed, agents, seed
        self.scenario = Scenario(rate_per_hour=rate, agents=agents, tenants=2, talk_mean_s=150.0, agi_lookup=True)
        self.config = self.scenario.pbx_config()
        for hotline, tenant in zip(self.config.hotlines, ("klinikum-nord", "klinikum-sued"), strict=False):
            hotline.tenant = tenant  # the AGI lookup the simulator plays sets UHD_TENANT to these
        # a person's phones: in the 1st-level queue with the simulated agents, rung like them, answered in the
        # browser; paused until the person says "ready", paused again when a ring runs out (autopause)
        self.people: dict[str, str] = {}
        for i in range(people):
            interface = f"PJSIP/{PERSON_FIRST_EXT + i}"
            name = "Sie (Browser)" if i == 0 else f"Sie {i + 1} (Browser)"
            behaviour = PhoneBehaviour(manual=True, autopause=True, talk_s=PERSON_TALK_LIMIT_S)
            member = MemberConfig(interface, name, paused=True, paused_reason=phone.PAUSE_REASON, behaviour=behaviour)
            self.config.queues[0].members.append(member)
            self.people[interface] = person_username(i)
        self.ami_port = ami_port
        self.http_port = settings.http_port if http_port is None else http_port
        self.mail_dir = Path(mail_dir).resolve()
        self.sla = sla
        self.out = out
        self.sim: AmiSimulator | None = None
        self.server: Server | None = None
        self.desk: SimulatedDesk | None = None
        self.incidents: IncidentDesk | None = None
        self.sink: MailSink | None = None
        self.printer = CallPrinter(out)
        self.logins: list[Login] = []
        self.base_url = ""

    async def start(self) -> None:
        settings = self.settings
        sim = self.sim = AmiSimulator(
            self.config,
            port=self.ami_port,
            username=settings.ami_username,
            secret=settings.ami_secret.get_secret_value(),
            speed=self.speed,
            seed=self.seed,
            scenario=self.scenario,
            capture=False,
            truth_limit=1_000,  # a demo may run for days: keep the latest calls' ground truth only
        )
        await sim.start()
        assert sim.generator is not None
        sim.generator.stop()  # callers dial once the service listens: none is half-seen from a resync
        server_settings = settings.with_overrides(
            ami_host="127.0.0.1",
            ami_port=sim.port,
            http_port=self.http_port,
            session_key=settings.session_key.get_secret_value()
            if settings.session_key
            else Fernet.generate_key().decode(),
        )
        # the status links in mails: this demo's own address, unless UHD_PUBLIC_URL names another (a proxy)
        own_public_url = settings.public_url == Settings.model_fields["public_url"].default
        if self.http_port and own_public_url:
            server_settings = server_settings.with_overrides(
                public_url=f"http://{server_settings.http_host}:{self.http_port}"
            )
        self.sink = MailSink(server_settings, self.mail_dir)
        info = phone.DemoInfo(sim, self.mail_dir, None if self.sla is None else str(self.sla))
        server = self.server = Server(server_settings, mailer=self.sink, routes=[phone.install(info)])
        server.calls.bus.subscribe(self.printer, CallOffered, CallAnswered, CallEnded, name="demo-printer")
        await migrate(server_settings.database_url)
        db = Database(server_settings.database_url)
        try:
            directories = sim.generator.directories
            self.logins = await seed_demo(db, self.config, directories, people=self.people, sla=self.sla)
            # the AGI lookup the simulator plays answers with the directory's ids, as the real one does
            ids = await directory_ids(db)
            for tenant, callers in directories.items():
                directories[tenant] = [
                    replace(c, user_id=str(ids[tenant, c.user_id])) if (tenant, c.user_id) in ids else c
                    for c in callers
                ]
        finally:
            await db.close()
        await server.start()
        # callers dial once the service is logged in to the simulator: a call over before the login would only be
        # seen by the resync, without its answer (no ticket, no pop). The simulator is local: this is instant.
        assert server.calls.client is not None
        with contextlib.suppress(AmiNotConnected):
            await server.calls.client.wait_connected(LOGIN_WAIT_S)
        self.base_url = f"http://{server_settings.http_host}:{server.port}"
        if server.outbox is not None and not self.http_port and own_public_url:
            # port 0: the status links in mails name the port the system gave us
            server.outbox.settings = server.outbox.settings.with_overrides(public_url=self.base_url)
        assert server.app is not None and server.calls.db is not None
        self.desk = SimulatedDesk(
            server.calls.db,
            server.app[keys.TICKETS],
            server.app[keys.ACCOUNTS],
            people=set(self.people),
            seed=self.seed,
            out=self.printer.write,
        )
        await self.desk.start()
        server.calls.bus.subscribe(self.desk, CallEnded, name="demo-desk")
        # a major incident declared in the console is announced to the simulated callers (the AGI's part)
        self.incidents = IncidentDesk(sim.pbx, server.calls.db)
        await self.incidents.start()
        sim.generator.start()

    async def close(self) -> None:
        if self.incidents is not None:
            await self.incidents.close()
        if self.desk is not None:
            await self.desk.close()
        if self.server is not None:
            await self.server.close()
        if self.sim is not None:
            await self.sim.close()

    async def __aenter__(self) -> Demo:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def banner(self) -> str:
        """The startup text: URLs, logins, what is simulated and accelerated, where the mail goes."""
        assert self.sim is not None and self.server is not None
        base = self.base_url
        people = [f"{x.username} ({x.name})" for x in self.logins if x.person]
        simulated = [f"{x.username} ({x.name})" for x in self.logins if x.role == "agent" and not x.person]
        managers = [f"{x.username} ({x.name})" for x in self.logins if x.role == "manager"]
        sla = demo_sla_summary("en") if self.sla is None else f"imported from {self.sla}"  # the terminal's lines
        lines = [
            f"uhd-telephony demo (started {datetime.now().astimezone().strftime('%d.%m.%Y %H:%M:%S')})",
            f"  agent console: {base}/console   (every login's password: {DEMO_PASSWORD!r})",
        ]
        if people:
            lines.append(
                f"    answer calls yourself: log in as {', '.join(people)}, press 'Bereit' (ready); when the demo"
                " phone rings press 'Annehmen' (answer): the ticket pops, 'Auflegen' hangs up"
            )
        lines += [
            f"    simulated agents (log in to watch their calls pop): {', '.join(simulated)}",
            f"  live KPIs: {base}/kpis   (team lead: {', '.join(managers)})   tickets: {base}/tickets",
            f"  PBX: built-in AMI simulator on 127.0.0.1:{self.sim.port}, {self.agents} simulated agents"
            f" + {len(self.people)} {'person' if len(self.people) == 1 else 'people'} in the browser,"
            f" {self.rate:g} calls/h",
            f"  demo clock x{self.speed:g}: the simulated PBX runs {self.speed:g} times faster than the wall clock"
            " (waits and talk times printed are on it; every line's time is the wall clock); at real time while a"
            " person's phone rings or talks",
            "  tickets: simulated agents classify theirs, then solve, route or leave them open; tickets and SLA run on"
            f" the wall clock ({sla}); escalations are printed as they fire",
            f"  mail: no SMTP server; every mail is written to {self.mail_dir}{os.sep} (one .eml file each)",
            f"  database: {self.server.settings.database_url}",
            "  Ctrl-C stops.",
        ]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(self.printer.outcomes.items())) or "no calls finished yet"
        worked = self.desk.worked if self.desk is not None else 0
        fired = self.desk.escalations_seen if self.desk is not None else 0
        mails = self.sink.sent if self.sink is not None else 0
        return (
            f"demo stopped: {outcomes}; {worked} tickets worked by simulated agents, {fired} escalations,"
            f" {mails} mails in {self.mail_dir}\n"
        )


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Demo`` keyword arguments of the ``demo`` command's flags."""
    return {
        "rate": args.rate,
        "speed": args.speed,
        "agents": args.agents,
        "people": args.people,
        "seed": args.seed if args.seed is not None else 0,
        "ami_port": args.ami_port,
        "http_port": args.port,
        "mail_dir": args.mail_dir,
        "sla": args.sla,
    }


async def run_demo(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    stop = asyncio.Event()
    install_stop(stop)
    demo = Demo(settings, out=out, **options(args))
    async with demo:
        out.write(demo.banner())
        out.flush()
        await until_stopped(stop, args.duration)
    out.write(demo.summary())
    out.flush()
    return 0
