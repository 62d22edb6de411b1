"""``uhd-telephony retention [--tenant T] [--dry-run]`` (what goes when; without --dry-run applied once, as the
scanner does), ``uhd-telephony retention set CLASS DAYS [--tenant T]`` and
``uhd-telephony erase-person --tenant T (--number N | --email E | --user-id ID) [--dry-run]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from uhd_telephony.i18n import format_datetime, gettext

if TYPE_CHECKING:
    from uhd_telephony.privacy.retention import Due
    from uhd_telephony.store.db import Database

CLI_ACTOR = "cli"  # how the audit log names the operator at the shell


def add_retention_arguments(p: argparse.ArgumentParser, add_db: Callable[[argparse.ArgumentParser], None]) -> None:
    p.add_argument("action", nargs="?", choices=("set",), help="set: a tenant's period of one data class")
    p.add_argument("data_class", nargs="?", help="with set: the data class (e.g. call_numbers)")
    p.add_argument("days", nargs="?", help="with set: the period in days, or 'default'")
    p.add_argument("--tenant", help="only this tenant (set: required for every class but audit_log)")
    p.add_argument("--dry-run", action="store_true", help="only show what would go and when; change nothing")
    add_db(p)


def add_erase_arguments(p: argparse.ArgumentParser, add_db: Callable[[argparse.ArgumentParser], None]) -> None:
    p.add_argument("--tenant", required=True, help="the tenant the person is in")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--number", help="a phone number of the person, as any caller ID or directory entry writes it")
    who.add_argument("--email", help="the person's mail address")
    who.add_argument("--user-id", type=int, help="the person's directory user id")
    p.add_argument("--dry-run", action="store_true", help="only list the places and counts; change nothing")
    add_db(p)


def tenants(args: argparse.Namespace) -> list[str]:
    """The tenants the command names (the CLI checks they exist before anything is written)."""
    return [args.tenant] if getattr(args, "tenant", None) else []


def writes(args: argparse.Namespace) -> bool:
    return not args.dry_run


def _words(due: Due, locale: str | None = None) -> str:
    """One line per tenant and class: the period, what goes, the oldest affected and the cut-off, in words."""
    c = due.data_class
    whom = due.tenant if c.per_tenant else gettext(locale, "the whole installation")
    head = f"{whom}: {gettext(locale, c.title)} ({gettext(locale, '%(days)s days', days=due.days)})"
    cutoff = format_datetime(due.cutoff, locale)
    if due.count == 0:
        return f"{head}: {gettext(locale, 'nothing is due before %(cutoff)s', cutoff=cutoff)}"
    oldest = format_datetime(due.oldest, locale) if due.oldest is not None else "–"
    line = gettext(locale, "%(count)s: %(action)s (the oldest from %(oldest)s; everything before %(cutoff)s)",
                   count=due.count, action=gettext(locale, c.action_text), oldest=oldest, cutoff=cutoff)  # fmt: skip
    return f"{head}: {line}"


async def run_retention(args: argparse.Namespace, db: Database) -> int:
    from uhd_telephony.privacy.retention import Retention

    if args.action == "set":
        return await _set(args, db)
    retention = Retention(db)
    chosen: Sequence[str] = [args.tenant] if args.tenant else await retention.tenants()
    went = await (retention.plan(chosen) if args.dry_run else retention.apply(chosen))
    for due in went:
        sys.stdout.write(_words(due) + "\n")
    return 0


async def _set(args: argparse.Namespace, db: Database) -> int:
    from uhd_telephony.audit.log import AuditAction, AuditLog
    from uhd_telephony.errors import InvalidInput
    from uhd_telephony.privacy.classes import data_class
    from uhd_telephony.privacy.models import INSTALLATION
    from uhd_telephony.privacy.periods import Periods

    if args.data_class is None or args.days is None:
        raise InvalidInput("retention set needs a data class and a number of days (or 'default')")
    try:
        per_tenant = data_class(args.data_class).per_tenant
        days = None if args.days == "default" else int(args.days)
    except ValueError as exc:
        raise InvalidInput(exc.args[0]) from None
    if per_tenant and not args.tenant:
        raise InvalidInput(f"retention set {args.data_class} needs --tenant")
    tenant = args.tenant if per_tenant else INSTALLATION
    period = await Periods(db).set(tenant, args.data_class, days, CLI_ACTOR)
    target = f"tenant:{tenant}" if tenant else None
    details = {"data_class": args.data_class, "days": days}
    await AuditLog(db).write(
        AuditAction.RETENTION_SET, actor=CLI_ACTOR, target=target, details=details, tenant=tenant or None
    )
    sys.stdout.write(json.dumps(period.to_dict(), ensure_ascii=False) + "\n")
    return 0


async def run_erase(args: argparse.Namespace, db: Database) -> int:
    from uhd_telephony.privacy.person import selector
    from uhd_telephony.privacy.service import PersonData

    who = selector(number=args.number, email=args.email, user_id=args.user_id)
    found = await PersonData(db).erase(args.tenant, who, actor=CLI_ACTOR, dry_run=args.dry_run)
    sys.stdout.write(json.dumps({"tenant": args.tenant, "erased": not args.dry_run, "counts": found}) + "\n")
    return 0
