"""``uhd-telephony simulate``: run the AMI simulator (generated load), replay a capture, or render offline.

    uhd-telephony simulate --port 5038 --secret s3cret --agents 6 --rate 120 --speed 10 --seed 1
    uhd-telephony simulate --replay tests/data/ami-traces/f_transfer.ami --realtime --speed 2
    uhd-telephony simulate --render 1000 --output /tmp/load.ami        # plus /tmp/load.truth.json

The top-level CLI wires ``add_arguments`` and ``main`` under its ``simulate`` subcommand;
``python -m uhd_telephony.simulator`` runs them directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from uhd_telephony.simulator.render import render_calls
from uhd_telephony.simulator.replay import ReplayServer
from uhd_telephony.simulator.scenario import Scenario
from uhd_telephony.simulator.server import AmiSimulator

TRUTH_KEPT = 10_000  # ground truth of the latest finished calls a long `simulate` run keeps in memory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``simulate``."""
    net = parser.add_argument_group("AMI server")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=5038, help="TCP port, 0 for any free one (default 5038)")
    net.add_argument("--username", default="uhd", help="AMI user clients log in as (default uhd)")
    net.add_argument("--secret", default="uhdsecret", help="its secret; a wrong one is refused (default uhdsecret)")
    net.add_argument("--latin1", action="store_true", help="send names Latin-1 encoded, like a misconfigured PBX")
    net.add_argument("--capture", type=Path, help="also write every event sent to this file (raw AMI bytes)")
    net.add_argument("--queue-log", type=Path, help="write app_queue's queue_log to this file, as Asterisk does")
    net.add_argument("--duration", type=float, default=0.0, help="stop after this many wall seconds (0: run until ^C)")
    load = parser.add_argument_group("generated load")
    load.add_argument("--agents", type=int, default=6, help="agents in queue 'hotline' (default 6)")
    load.add_argument("--tenants", type=int, default=1, help="tenants, each with its own hotline number (default 1)")
    load.add_argument("--queue-per-tenant", action="store_true", help="one queue per tenant (same agents)")
    load.add_argument("--rate", type=float, default=120.0, help="Poisson arrival rate in calls per hour (default 120)")
    load.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    load.add_argument("--seed", type=int, default=0, help="random seed: same seed, same calls (default 0)")
    load.add_argument("--calls", type=int, default=None, help="stop placing calls after this many")
    load.add_argument("--talk-mean", type=float, default=180.0, help="mean talk time in seconds (lognormal)")
    load.add_argument("--patience-mean", type=float, default=90.0, help="mean caller patience in seconds (exponential)")
    load.add_argument("--max-wait", type=float, default=120.0, help="Queue() timeout in seconds, 0 for none")
    load.add_argument("--no-agi", action="store_true", help="no AGI caller lookup (no UHD_* variables)")
    replay = parser.add_argument_group("replay and offline rendering")
    replay.add_argument("--replay", type=Path, help="serve this capture (.ami) instead of simulating")
    replay.add_argument("--realtime", action="store_true", help="replay with the original timing (÷ --speed)")
    replay.add_argument("--responses", action="store_true", help="replay the recorded action responses too")
    replay.add_argument("--render", type=int, metavar="N", help="render N calls offline to --output and exit")
    replay.add_argument("--output", type=Path, default=Path("simulated.ami"), help="file for --render")


def scenario_from(args: argparse.Namespace) -> Scenario:
    return Scenario(
        rate_per_hour=args.rate,
        agents=args.agents,
        tenants=args.tenants,
        talk_mean_s=args.talk_mean,
        patience_mean_s=args.patience_mean,
        max_wait_s=args.max_wait or None,
        agi_lookup=not args.no_agi,
        max_calls=args.calls,
        queue_per_tenant=args.queue_per_tenant,
    )


async def main(args: argparse.Namespace) -> int:
    """Run what the options ask for; returns the exit code."""
    if args.render is not None:
        rendered = render_calls(args.render, seed=args.seed, scenario=scenario_from(args), latin1=args.latin1)
        data_path, truth_path = rendered.write(args.output)
        print(f"{rendered.calls} calls, {rendered.frames} frames, {len(rendered.data)} bytes")
        print(f"written: {data_path}, {truth_path}")
        return 0
    from uhd_telephony.calls.service import install_stop  # here: the other commands' start needs none of its imports

    stop = asyncio.Event()
    handled = install_stop(stop)
    try:
        if args.replay is not None:
            async with ReplayServer(
                args.replay, host=args.host, port=args.port, username=args.username, secret=args.secret,
                realtime=args.realtime, speed=args.speed, responses=args.responses,
            ) as server:  # fmt: skip
                print(f"replaying {args.replay} ({len(server.frames)} frames) on {args.host}:{server.port}", flush=True)
                await until_stopped(stop, args.duration)
            return 0
        async with AmiSimulator(
            host=args.host, port=args.port, username=args.username, secret=args.secret, speed=args.speed,
            seed=args.seed, scenario=scenario_from(args), latin1=args.latin1, capture=False,
            capture_path=args.capture, truth_limit=TRUTH_KEPT, queue_log=args.queue_log,
        ) as sim:  # fmt: skip
            print(
                f"AMI simulator on {args.host}:{sim.port}: {args.agents} agents, {args.rate:g} calls/h, "
                f"speed {args.speed:g}, seed {args.seed}",
                flush=True,
            )
            await until_stopped(stop, args.duration)
            print(f"{sim.pbx.finished} queue calls finished, {sim.pbx.em.frames} events sent", flush=True)
        return 0
    except OSError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        # the loop may go on (tests): Ctrl-C is the loop's default again
        loop = asyncio.get_running_loop()
        for sig in handled:
            loop.remove_signal_handler(sig)


async def until_stopped(stop: asyncio.Event, duration: float | None) -> None:
    """Until ``stop`` is set, or at most ``duration`` seconds when that is given (and positive)."""
    if duration is not None and duration > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    else:
        await stop.wait()
