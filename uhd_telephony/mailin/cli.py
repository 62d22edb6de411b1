"""``uhd-telephony mail-address add ADDRESS --tenant T``, ``… remove ADDRESS``, ``… list [--tenant T]``: the tenants'
helpdesk addresses, as the admin API sets them (``/api/admin/mail-addresses``)."""

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
    """The ``mail-address`` command and its subcommands; ``add_db`` adds ``--database-url`` to a parser."""
    sub = p.add_subparsers(dest="mail_command", required=True, metavar="SUBCOMMAND")
    add = sub.add_parser("add", help="mail to ADDRESS becomes tickets of the tenant")
    add.add_argument("address", help="e.g. helpdesk@klinikum-nord.example")
    add.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")
    remove = sub.add_parser("remove", help="mail to ADDRESS is refused from now on")
    remove.add_argument("address")
    listing = sub.add_parser("list", help="the helpdesk addresses, one JSON object a line")
    listing.add_argument("--tenant", help="only this tenant's")
    for parser in (add, remove, listing):
        add_db(parser)


def writes(args: argparse.Namespace) -> bool:
    """Whether the subcommand writes (the CLI may migrate first) or only reads (``list``)."""
    return bool(args.mail_command != "list")


def tenants(args: argparse.Namespace) -> list[str]:
    """The tenants the command names (the CLI checks they exist before anything is written)."""
    return [args.tenant] if getattr(args, "tenant", None) else []


async def run(args: argparse.Namespace, db: Database) -> int:
    from uhd_telephony.audit.log import AuditAction, AuditLog
    from uhd_telephony.mailin.addresses import MailAddresses

    service = MailAddresses(db)
    if args.mail_command == "list":
        for view in await service.list(args.tenant):
            sys.stdout.write(json.dumps(view.to_dict(), ensure_ascii=False) + "\n")
        return 0
    if args.mail_command == "add":
        view, action = await service.add(args.address, args.tenant), AuditAction.MAIL_ADDRESS_ADDED
    else:
        view, action = await service.remove(address=args.address), AuditAction.MAIL_ADDRESS_REMOVED
    details = {"address": view.address}
    await AuditLog(db).write(action, actor=CLI_ACTOR, target=f"tenant:{view.tenant}", details=details)
    sys.stdout.write(json.dumps(view.to_dict(), ensure_ascii=False) + "\n")
    return 0
