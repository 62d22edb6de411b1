"""``uhd-telephony agi-lookup`` / ``agi-subscribe`` and the arguments of ``dialplan/agi/uhd-lookup.agi`` and
``uhd-subscribe.agi``.

Building the parser imports nothing heavy: the lookup itself is imported when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic takes ~100 ms to import: the AGI script has 500 ms in all
    from uhd_telephony.settings import Settings

DEADLINE_MS = 500.0
# the subscription runs after the caller pressed the key and loads SQLAlchemy: longer than the lookup's budget
SUBSCRIBE_DEADLINE_MS = 4000.0


def add_lookup_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the AGI caller lookup: ``TENANT [NUMBER] [--deadline-ms MS]``."""
    p.add_argument("tenant", nargs="?", default="", help="the tenant whose directory to search (agi_arg_1)")
    p.add_argument("number", nargs="?", default=None, help="caller ID to look up (default: agi_callerid)")
    _deadline(p, DEADLINE_MS, "fall through")


def _deadline(p: argparse.ArgumentParser, default: float, otherwise: str) -> None:
    p.add_argument(
        "--deadline-ms",
        type=float,
        default=default,
        help=f"answer within this many ms of the start, else {otherwise} (default {default:.0f})",
    )


def lookup_argv(args: argparse.Namespace) -> list[str]:
    """The lookup's argv from parsed arguments: ``[tenant]`` or ``[tenant, number]``."""
    return [args.tenant] if args.number is None else [args.tenant, args.number]


def agi_lookup(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``agi-lookup``: one AGI conversation on stdin/stdout; exit status 0 whatever happened."""
    from uhd_telephony.agi.lookup import run

    run(lookup_argv(args), database_url=settings.database_url, deadline_s=args.deadline_ms / 1000)
    return 0


def add_subscribe_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the AGI incident subscription: ``TENANT [LINKEDID] [--deadline-ms MS]``."""
    p.add_argument("tenant", nargs="?", default="", help="the tenant whose incidents were announced (agi_arg_1)")
    p.add_argument("linkedid", nargs="?", default=None, help="the call's Linkedid, kept with the subscription")
    _deadline(p, SUBSCRIBE_DEADLINE_MS, "send the caller on to the queue")


def subscribe_argv(args: argparse.Namespace) -> list[str]:
    """The subscription's argv from parsed arguments: ``[tenant]`` or ``[tenant, linkedid]``."""
    return [args.tenant] if args.linkedid is None else [args.tenant, args.linkedid]


def agi_subscribe(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``agi-subscribe``: one AGI conversation on stdin/stdout; exit status 0 whatever happened."""
    from uhd_telephony.agi.subscribe import run

    run(subscribe_argv(args), database_url=settings.database_url, deadline_s=args.deadline_ms / 1000)
    return 0
