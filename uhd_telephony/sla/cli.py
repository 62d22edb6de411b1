"""The SLA's commands of ``uhd-telephony`` (``app/cli.py`` imports this when one of them runs): ``sla test``, the
escalation drill (``sla.drill``), and ``import-ola``, a tenant's OLA file (``sla.ola_policy``).

``sla test`` prints one line per contact and channel — delivered, or failed and why, with the seconds it took —
then a summary; exit 0 when every path delivered, 1 when one failed or had no result within ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from uhd_telephony.i18n import LOCALES

if TYPE_CHECKING:
    from uhd_telephony.settings import Settings
    from uhd_telephony.store.db import Database


def add_test_arguments(p: argparse.ArgumentParser) -> None:
    """``sla test``'s options (the database's are added by ``app/cli.py``)."""
    p.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")
    p.add_argument("--category", help="a category path (kis/login): only the contacts its tickets reach")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the delivery results (default 60, max 600)"
    )
    p.add_argument("--locale", choices=LOCALES, default=LOCALES[0], help="the language of the lines (default: de)")


def add_import_ola_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the OLAs (see examples/ola.example.yaml)")
    p.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")


async def test(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    """The escalation drill of ``args.tenant``: its lines on stdout; 0 when every path delivered, else 1."""
    from uhd_telephony.sla.drill import EscalationDrill

    result = await EscalationDrill(db, settings).run(args.tenant, args.category, timeout_s=args.timeout)
    for line in result.lines:
        sys.stdout.write(line.text(result.names, args.locale) + "\n")
    sys.stdout.write(result.summary(args.locale) + "\n")
    return 0 if result.ok else 1


async def import_ola(args: argparse.Namespace, db: Database) -> int:
    """Replace the tenant's OLAs; the counts on stdout (a group's webhook secret never reaches the output)."""
    from uhd_telephony.sla.ola_policy import import_ola as run_import

    result = await run_import(db, args.tenant, args.file)
    sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    return 0
