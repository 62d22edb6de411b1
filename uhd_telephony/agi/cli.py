"""``uhd-telephony agi-lookup`` and the arguments of ``dialplan/agi/uhd-lookup.agi``.

Building the parser imports nothing heavy: the lookup itself is imported when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic takes ~100 ms to import: the AGI script has 500 ms in all
    from uhd_telephony.settings import Settings

DEADLINE_MS = 500.0


def add_lookup_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the AGI caller lookup: ``TENANT [NUMBER] [--deadline-ms MS]``."""
    p.add_argument("tenant", nargs="?", default="", help="the tenant whose directory to search (agi_arg_1)")
    p.add_argument("number", nargs="?", default=None, help="caller ID to look up (default: agi_callerid)")
    p.add_argument(
        "--deadline-ms",
        type=float,
        default=DEADLINE_MS,
        help=f"answer within this many ms of the start, else fall through (default {DEADLINE_MS:.0f})",
    )


def lookup_argv(args: argparse.Namespace) -> list[str]:
    """The lookup's argv from parsed arguments: ``[tenant]`` or ``[tenant, number]``."""
    return [args.tenant] if args.number is None else [args.tenant, args.number]


def agi_lookup(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``agi-lookup``: one AGI conversation on stdin/stdout; exit status 0 whatever happened."""
    from uhd_telephony.agi.lookup import run

    run(lookup_argv(args), database_url=settings.database_url, deadline_s=args.deadline_ms / 1000)
    return 0
