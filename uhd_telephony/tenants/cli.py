"""``uhd-telephony tenant add SLUG --name … [--hotline NUMBER=QUEUE …]``, ``uhd-telephony tenant list`` and
``uhd-telephony tenant figures SLUG --on --reference "BV 2026-03 IT-Helpdesk" | --off [--reference …] | --show``
(figures per agent under the works agreement: ``tenants.works_agreement``) and
``uhd-telephony tenant kpi-contract SLUG --from 2027-01-01 [--service-level 30] [--queue hotline …] | --show``
(the KPI rules of the contract: ``tenants.contract``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uhd_telephony.store.db import Database

CLI_ACTOR = "cli"  # how the audit log names the operator at the shell


def add_arguments(p: argparse.ArgumentParser, add_db: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``tenant`` command and its subcommands; ``add_db`` adds ``--database-url`` to a parser."""
    sub = p.add_subparsers(dest="tenant_command", required=True, metavar="SUBCOMMAND")
    add = sub.add_parser("add", help="add a tenant with its hotline numbers")
    add.add_argument("tenant", metavar="SLUG", help="the tenant's slug, e.g. klinikum-nord")
    add.add_argument("--name", required=True, help='display name, e.g. "Klinikum Nord"')
    add.add_argument("--region", default="DE", help="country its numbers are read in (default DE)")
    add.add_argument("--time-zone", default="Europe/Berlin", help="its time zone (default Europe/Berlin)")
    add.add_argument(
        "--hotline",
        dest="hotlines",
        action="append",
        default=[],
        metavar="NUMBER=QUEUE",
        help="a hotline number and the Asterisk queue it rings (repeatable)",
    )
    listing = sub.add_parser("list", help="the tenants with their hotline numbers, as JSON lines")
    figures = sub.add_parser("figures", help="figures per agent: on under a works agreement, off, or show the record")
    figures.add_argument("tenant", metavar="SLUG")
    switch = figures.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="figures", action="store_const", const=True, help="allow figures per agent")
    switch.add_argument("--off", dest="figures", action="store_const", const=False, help="team figures only")
    switch.add_argument("--show", dest="figures", action="store_const", const=None, help="the record, as JSON")
    figures.add_argument("--reference", help='the works agreement, e.g. "BV 2026-03 IT-Helpdesk" (required with --on)')
    kpi = sub.add_parser(
        "kpi-contract", help="the KPI rules of the tenant's contract from the 1st of a month, or show them"
    )
    kpi.add_argument("tenant", metavar="SLUG")
    kpi.add_argument("--show", action="store_true", help="the rules in force and every contract row, as JSON")
    kpi.add_argument("--from", dest="valid_from", metavar="YYYY-MM-01", help="the 1st of the contract's first month")
    kpi.add_argument("--service-level", dest="service_level_s", type=float, metavar="S", help="T in seconds (20)")
    kpi.add_argument("--short-abandon", dest="short_abandon_s", type=float, metavar="S", help="short below (5)")
    kpi.add_argument(
        "--abandons-in-service-level", dest="abandons_in_service_level", action=argparse.BooleanOptionalAction,
        help="abandoned calls in the service level's base (default yes)",
    )  # fmt: skip
    kpi.add_argument(
        "--short-abandons-in-base", dest="short_abandons_in_base", action=argparse.BooleanOptionalAction,
        help="short abandons in every ratio's base (default no)",
    )  # fmt: skip
    kpi.add_argument(
        "--outside-hours-count", dest="outside_hours_count", action=argparse.BooleanOptionalAction,
        help="calls queued outside business hours count like any other (default no)",
    )  # fmt: skip
    kpi.add_argument("--queue", dest="queues", action="append", metavar="QUEUE", help="only this queue (repeatable)")
    kpi.add_argument("--callback-window", dest="callback_window_s", type=float, metavar="S",
                     help="business seconds to reach an abandoned caller back (7200)")  # fmt: skip
    kpi.add_argument("--reference", help='the contract, e.g. "Vertrag 2027-01 Anlage 3"')
    kpi.add_argument("--force", action="store_true", help="change the rules of a month that has already begun")
    for parser in (add, listing, figures, kpi):
        add_db(parser)


def writes(args: argparse.Namespace) -> bool:
    """Whether the subcommand writes (``add``, ``figures --on/--off``; the CLI may migrate first) or only reads."""
    if args.tenant_command == "kpi-contract":
        return not args.show
    return args.tenant_command == "add" or (args.tenant_command == "figures" and args.figures is not None)


async def run(args: argparse.Namespace, db: Database) -> int:
    """Run the subcommand on ``db`` (the CLI has brought it to the current schema, or checked it is there)."""
    from uhd_telephony.tenants.service import TenantService, parse_hotline

    service = TenantService(db)
    if args.tenant_command == "add":
        from uhd_telephony.audit.log import AuditAction, AuditLog

        view = await service.add(
            args.tenant,
            name=args.name,
            region=args.region,
            time_zone=args.time_zone,
            hotlines=[parse_hotline(h) for h in args.hotlines],
        )
        await AuditLog(db).write(
            AuditAction.TENANT_ADDED,
            actor=CLI_ACTOR,
            target=f"tenant:{view.tenant}",
            details={"hotlines": [h.to_dict() for h in view.hotlines]},
        )
        sys.stdout.write(json.dumps(view.to_dict(), ensure_ascii=False) + "\n")
    elif args.tenant_command == "figures":
        from uhd_telephony.tenants.works_agreement import set_per_agent_figures, works_agreement

        if args.figures is None:
            record = await works_agreement(db, args.tenant)
        else:
            switched = bool(args.figures)
            record = await set_per_agent_figures(db, args.tenant, switched, reference=args.reference, actor=CLI_ACTOR)
        sys.stdout.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    elif args.tenant_command == "kpi-contract":
        from uhd_telephony.tenants.contract import contracts, set_contract

        if args.show:
            found = await contracts(db, args.tenant)
        else:
            names = (
                "valid_from",
                "service_level_s",
                "short_abandon_s",
                "abandons_in_service_level",
                "short_abandons_in_base",
                "outside_hours_count",
                "queues",
                "callback_window_s",
                "reference",
            )
            values = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
            found = await set_contract(db, args.tenant, values, actor=CLI_ACTOR, force=args.force)  # fmt: skip
        sys.stdout.write(json.dumps(found.to_dict(), ensure_ascii=False) + "\n")
    else:
        for tenant in await service.list_all():
            sys.stdout.write(json.dumps(tenant.to_dict(), ensure_ascii=False) + "\n")
    return 0
