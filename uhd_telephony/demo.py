"""``uhd-telephony demo``: the built-in AMI simulator and the service in one process, on SQLite, no Redis.

The simulator plays a hospital helpdesk (two hospitals, Poisson arrivals, agents with ring and talk times,
impatient callers, transfers to 2nd level) on an accelerated clock; the service logs in to it over real TCP
exactly as it would to Asterisk, tracks every call, opens a ticket when an agent answers and pops it on that
agent's console. Log in as one of the simulated agents to watch their calls pop; each call is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import Counter
from datetime import datetime
from typing import TextIO

from cryptography.fernet import Fernet

from uhd_telephony.calls.domain import CallAnswered, CallEnded, CallEvent, CallOffered
from uhd_telephony.calls.records import iso
from uhd_telephony.demo_data import DEMO_PASSWORD, seed_demo
from uhd_telephony.server import Server
from uhd_telephony.service import install_stop
from uhd_telephony.settings import Settings
from uhd_telephony.simulator.scenario import Scenario
from uhd_telephony.simulator.server import AmiSimulator


class CallPrinter:
    """Prints a line per call event worth seeing; counts outcomes for the closing summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.outcomes: Counter[str] = Counter()

    def __call__(self, event: CallEvent) -> None:
        call = event.call
        when = datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
        who = f"{call.caller_name or '?'} <{call.caller_number or '?'}>"
        if isinstance(event, CallOffered):
            line = f"{when}  offered      {call.tenant:<10} {call.queue:<12} {who}"
        elif isinstance(event, CallAnswered):
            line = f"{when}  answered     {call.tenant:<10} {call.queue:<12} {who} -> {call.agent}"
        elif isinstance(event, CallEnded):
            self.outcomes[str(call.outcome)] += 1
            talk = f", talk {call.talk_s:.0f} s" if call.talk_s is not None else ""
            line = (
                f"{when}  ended        {call.tenant:<10} {call.queue:<12} {who}: {call.outcome}"
                f" (wait {call.wait_s or 0:.0f} s{talk}) recorded"
            )
        else:
            return
        self.out.write(line + "\n")
        self.out.flush()


async def run_demo(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    scenario = Scenario(rate_per_hour=args.rate, agents=args.agents, tenants=2, talk_mean_s=150.0, agi_lookup=True)
    config = scenario.pbx_config()
    for hotline, tenant in zip(config.hotlines, ("klinikum-nord", "klinikum-sued"), strict=False):
        hotline.tenant = tenant  # the AGI lookup the simulator plays sets UHD_TENANT to these
    stop = asyncio.Event()
    install_stop(stop)
    async with AmiSimulator(
        config,
        port=args.ami_port,
        username=settings.ami_username,
        secret=settings.ami_secret.get_secret_value(),
        speed=args.speed,
        seed=args.seed if args.seed is not None else 0,
        scenario=scenario,
        capture=False,
    ) as sim:
        server_settings = settings.with_overrides(
            ami_host="127.0.0.1",
            ami_port=sim.port,
            session_key=settings.session_key.get_secret_value()
            if settings.session_key
            else Fernet.generate_key().decode(),
        )
        server = Server(server_settings)
        printer = CallPrinter(out)
        server.calls.bus.subscribe(printer, CallOffered, CallAnswered, CallEnded, name="demo-printer")
        try:
            await server.calls.open()
            assert server.calls.db is not None and sim.generator is not None
            logins = await seed_demo(server.calls.db, config, sim.generator.directories)
            await server.start()
            console = f"http://{server_settings.http_host}:{server.port}/console"
            out.write(
                f"uhd-telephony demo (started {iso(server.calls.clock())})\n"
                f"  agent console: {console}\n"
                f"  logins: {', '.join(f'{u} ({n})' for u, n in logins)}; password {DEMO_PASSWORD!r}\n"
                f"  PBX: built-in AMI simulator on 127.0.0.1:{sim.port}, {args.agents} agents, {args.rate:g} calls/h,"
                f" clock accelerated {args.speed:g}x (demo time runs ahead of the wall clock)\n"
                f"  database: {server_settings.database_url}\n"
                "  Ctrl-C stops.\n"
            )
            out.flush()
            if args.duration:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
        finally:
            await server.close()
    summary = ", ".join(f"{n} {o}" for o, n in sorted(printer.outcomes.items())) or "no calls finished yet"
    out.write(f"demo stopped: {summary}\n")
    out.flush()
    return 0
