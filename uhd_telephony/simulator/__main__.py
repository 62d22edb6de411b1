"""``python -m uhd_telephony.simulator``: the ``simulate`` command on its own."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from uhd_telephony.simulator.cli import add_arguments, main


def run() -> int:
    parser = argparse.ArgumentParser(prog="python -m uhd_telephony.simulator", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(run())
