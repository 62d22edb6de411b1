"""The ``uhd-telephony`` command: run the service, the demo, migrations, replay and the simulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from uhd_telephony import __version__
from uhd_telephony.errors import UhdError
from uhd_telephony.settings import Settings

if TYPE_CHECKING:
    from uhd_telephony.store.db import Database

log = logging.getLogger("uhd_telephony")


def setup_logging(level: str, secrets: Sequence[str] = ()) -> None:
    """Log lines to stderr; every record masked of ``secrets`` and of tokens, passwords, cookies."""
    from uhd_telephony.security import redact

    redact.install(secrets)
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # their INFO/DEBUG lines carry SQL parameters and protocol bytes: password hashes, tokens, secrets
    for noisy in ("aiosqlite", "asyncpg", "sqlalchemy.engine", "panoramisk", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="SQLAlchemy URL (env UHD_DATABASE_URL; default: SQLite file here)")


def _add_ami(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ami-host", help="Asterisk host (env UHD_AMI_HOST)")
    p.add_argument("--ami-port", type=int, help="AMI port (env UHD_AMI_PORT)")
    p.add_argument("--ami-username", help="AMI user (env UHD_AMI_USERNAME)")
    p.add_argument("--ami-secret", help="AMI secret (env UHD_AMI_SECRET; prefer the environment)")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {value!r}") from None


def _instant(value: str) -> float:
    """--since: epoch seconds, a day (its midnight) or a date-time; Europe/Berlin unless an offset is given."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DD, an ISO date-time or epoch seconds, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("Europe/Berlin"))
    return moment.timestamp()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uhd-telephony", description=__doc__)
    parser.add_argument("--version", action="version", version=f"uhd-telephony {__version__}")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (env UHD_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="connect to Asterisk and keep call records")
    _add_ami(run)
    _add_db(run)
    run.add_argument("--check", action="store_true", help="check AMI login and database, then exit 0/1")
    run.add_argument("--http-host", help="web address (env UHD_HTTP_HOST, default 127.0.0.1)")
    run.add_argument("--http-port", type=int, help="web port (env UHD_HTTP_PORT, default 8080)")
    run.add_argument("--no-web", action="store_true", help="track calls only; consoles are served elsewhere")

    demo = sub.add_parser("demo", help="simulator + service + agent console + live KPIs on SQLite, no Redis")
    _add_db(demo)
    demo.add_argument("--port", type=int, default=None, help="web port of the console (default 8080)")
    demo.add_argument("--ami-port", type=int, default=0, help="simulator AMI port (default: any free port)")
    demo.add_argument("--rate", type=float, default=100.0, help="simulated calls per hour (default 100)")
    demo.add_argument("--speed", type=float, default=10.0, help="simulated time per real second (default 10)")
    demo.add_argument("--agents", type=int, default=6, help="simulated agents (default 6)")
    demo.add_argument("--seed", type=int, default=None, help="random seed for reproducible traffic")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument("--people", type=int, default=1, help="agents a person answers in the browser (default 1: you)")
    demo.add_argument("--mail-dir", default="demo-mail", help="where the demo writes its mails (default demo-mail)")
    demo.add_argument("--sla", default=None, help="an SLA file to import for both tenants instead of the demo's")

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    _add_db(migrate)
    migrate.add_argument("--revision", default="head")

    account = sub.add_parser(
        "create-account",
        help="create a login (password from env UHD_NEW_PASSWORD, else asked for on the terminal)",
    )
    account.add_argument("username", help="login name (stored lower-case)")
    account.add_argument("--role", default="agent", choices=["admin", "agent", "manager", "partner"])
    account.add_argument(
        "--tenant", dest="tenants", action="append", default=[], help="a tenant it works for (repeatable)"
    )
    account.add_argument("--display-name", help="name shown in the console (default: the member name)")
    account.add_argument("--interface", help="Asterisk queue member interface, e.g. PJSIP/101")
    account.add_argument("--member-name", help='queue MemberName, e.g. "Anna Becker"')
    account.add_argument("--phone-channel", help="what a callback rings (default: the interface)")
    account.add_argument("--partner-group", help="a partner's support group, partner:<firm> (role partner)")
    _add_db(account)

    replay = sub.add_parser("replay", help="feed a raw AMI capture through the tracker")
    replay.add_argument("file", help="capture: the raw bytes as Asterisk sent them")
    replay.add_argument("--json", action="store_true", help="one JSON object per finished queue call")
    replay.add_argument("--summary", action="store_true", help="totals per outcome")
    replay.add_argument("--store", action="store_true", help="also write the records into the database")
    replay.add_argument("--short-abandon", type=float, default=None, help="short-abandon threshold in seconds")
    _add_db(replay)

    # calls Asterisk logged while the service could not see it
    backfill = sub.add_parser("backfill", help="record the calls of Asterisk's queue_log the store does not have")
    backfill.add_argument("--queue-log", help="Asterisk's queue_log file (env UHD_QUEUE_LOG)")
    backfill.add_argument(
        "--since",
        type=_instant,
        help="read the whole file, record calls that entered at or after this: YYYY-MM-DD or an ISO date-time "
        "(Europe/Berlin unless it names its offset) or epoch seconds (default: from where the last run stopped)",
    )
    backfill.add_argument("--short-abandon", type=float, default=None, help="short-abandon threshold in seconds")
    _add_db(backfill)

    from uhd_telephony.directory import cli as directory_cli

    import_users = sub.add_parser("import-users", help="import users and places (ward phones) from CSV or JSON")
    directory_cli.add_import_arguments(import_users)
    _add_db(import_users)
    categories = sub.add_parser("import-categories", help="import a tenant's category tree (YAML or JSON)")
    categories.add_argument("file", nargs="?", help="the tree; default: the example tree shipped with the package")
    categories.add_argument("--tenant", required=True)
    categories.add_argument("--prune", action="store_true", help="deactivate categories not in the file")
    _add_db(categories)
    groups = sub.add_parser("import-groups", help="import a tenant's support groups (who gets work orders)")
    groups.add_argument("file", help="the groups (see examples/groups.example.yaml)")
    groups.add_argument("--tenant", required=True)
    groups.add_argument("--prune", action="store_true", help="deactivate groups not in the file")
    _add_db(groups)
    # a tenant's SLA (calendar, targets per priority, escalation contacts)
    sla = sub.add_parser("import-sla", help="import a tenant's SLA: calendar, targets, escalation contacts")
    sla.add_argument("file", help="the SLA (see examples/sla.example.yaml)")
    sla.add_argument("--tenant", required=True)
    _add_db(sla)
    # the monthly report of one tenant
    rep = sub.add_parser("report", help="a tenant's monthly KPI report (HTML with charts, CSV or JSON)")
    rep.add_argument("--tenant", required=True)
    rep.add_argument("--month", required=True, help="YYYY-MM, in Europe/Berlin (e.g. 2026-11)")
    rep.add_argument("--format", default="html", choices=["html", "csv", "json"])
    rep.add_argument("--output", help="file to write (default: stdout)")
    _add_db(rep)
    # the KPI history (kpi_daily) behind Grafana's "Hotline history" dashboard
    daily = sub.add_parser("kpi-daily", help="compute the per-day KPI history (kpi_daily) of past days")
    daily.add_argument(
        "--tenant", dest="tenants", action="append", default=[], help="a tenant (repeatable; default: every tenant)"
    )
    daily.add_argument("--from", dest="first", required=True, type=_day, help="first day, YYYY-MM-DD (Europe/Berlin)")
    daily.add_argument("--to", dest="last", type=_day, help="last day, included (default: today)")
    _add_db(daily)
    lookup = sub.add_parser("lookup", help="who is this caller ID? the directory match as JSON (exit 1: unknown)")
    directory_cli.add_lookup_arguments(lookup)
    _add_db(lookup)

    from uhd_telephony.agi import cli as agi_cli

    agi_lookup = sub.add_parser(
        "agi-lookup",
        help="AGI caller lookup on stdin/stdout, as Asterisk runs dialplan/agi/uhd-lookup.agi (always exit 0)",
    )
    agi_cli.add_lookup_arguments(agi_lookup)
    _add_db(agi_lookup)

    from uhd_telephony.tenants import cli as tenants_cli

    tenant = sub.add_parser("tenant", help="add or list tenants (customer organisations) and their hotline numbers")
    tenants_cli.add_arguments(tenant, _add_db)

    from uhd_telephony.simulator import cli as sim_cli

    simulate = sub.add_parser("simulate", help="run the AMI simulator (a PBX for demos and tests)")
    sim_cli.add_arguments(simulate)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings().with_overrides(
        log_level=getattr(args, "log_level", None),
        database_url=getattr(args, "database_url", None),
        ami_host=getattr(args, "ami_host", None),
        ami_port=getattr(args, "ami_port", None) if args.command == "run" else None,
        ami_username=getattr(args, "ami_username", None),
        ami_secret=getattr(args, "ami_secret", None),
        short_abandon_s=getattr(args, "short_abandon", None),
        http_host=getattr(args, "http_host", None),
        http_port=getattr(args, "http_port", None) if args.command == "run" else getattr(args, "port", None),
    )


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.calls.pipeline import tracker_from_settings
    from uhd_telephony.calls.replay import read_capture, replay_bytes

    data = read_capture(args.file)
    events: list[Any] | None = [] if args.store else None
    result = replay_bytes(data, tracker_from_settings(settings), also=events)
    out = sys.stdout
    if args.json or not args.summary:
        for record in result.records:
            out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    if args.summary:
        out.write(json.dumps({"summary": result.summary()}, ensure_ascii=False) + "\n")
    if args.store and events is not None:
        from uhd_telephony.calls.service import store_domain_events

        written = asyncio.run(store_domain_events(settings, events))
        log.info("stored %d call records in %s", written, _safe_url(settings.database_url))
    return 0


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """The queue_log backfill (store/backfill.py), from the stored mark or from ``--since``."""
    from uhd_telephony.calls.backfill import backfill, tracker_tenant_of
    from uhd_telephony.calls.pipeline import tracker_from_settings
    from uhd_telephony.tenants.service import hotline_resolver

    path = args.queue_log or settings.queue_log
    if not path:
        raise UhdError("no queue_log: pass --queue-log FILE or set UHD_QUEUE_LOG")

    async def run() -> int:
        async with _database(settings) as db:
            tracker = tracker_from_settings(settings)
            tracker.tenant_resolver = await hotline_resolver(db, tracker.tenant_numbers)
            result = await backfill(
                db,
                path,
                tenant_of=tracker_tenant_of(tracker),
                short_abandon_s=settings.short_abandon_s,
                since=args.since,
                batch_size=settings.store_batch_size,
            )
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return 0

    return asyncio.run(run())


@contextlib.asynccontextmanager
async def _database(settings: Settings, *, migrated: bool = True) -> AsyncIterator[Database]:
    """The command's database, brought to the current schema first unless ``migrated=False``; closed after."""
    from uhd_telephony.store.db import Database
    from uhd_telephony.store.migrate import migrate

    if migrated:
        await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        yield db
    finally:
        await db.close()


def _safe_url(url: str) -> str:
    """A database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.store.migrate import migrate

    asyncio.run(migrate(settings.database_url, args.revision))
    log.info("database %s is at revision %s", _safe_url(settings.database_url), args.revision)
    return 0


NEW_PASSWORD_ENV = "UHD_NEW_PASSWORD"


def _new_password() -> str:
    """The new account's password: from the environment (scripts), else typed twice on a terminal."""
    password = os.environ.get(NEW_PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise UhdError(f"no password: set {NEW_PASSWORD_ENV} or run on a terminal")
    import getpass

    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise UhdError("the passwords differ")
    return password


def cmd_create_account(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.accounts.service import create_account

    view = asyncio.run(
        create_account(
            settings.database_url,
            args.username,
            _new_password(),
            role=args.role,
            tenants=args.tenants,
            display_name=args.display_name,
            interface=args.interface,
            member_name=args.member_name,
            phone_channel=args.phone_channel,
            partner_group=args.partner_group,
        )
    )
    sys.stdout.write(json.dumps(view.to_dict(), ensure_ascii=False) + "\n")
    return 0


def cmd_tenant(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.tenants import cli as tenants_cli

    return asyncio.run(tenants_cli.run(args, settings))


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.calls import service

    if args.check:
        return asyncio.run(service.check(settings))
    from uhd_telephony.app.server import serve

    return asyncio.run(serve(settings, web_enabled=not args.no_web))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.app.demo import run_demo

    return asyncio.run(run_demo(settings, args))


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.simulator import cli as sim_cli

    return asyncio.run(sim_cli.main(args))


def cmd_import_users(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.directory import cli as directory_cli

    return asyncio.run(directory_cli.import_users(args, settings))


def cmd_lookup(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.directory import cli as directory_cli

    return asyncio.run(directory_cli.lookup(args, settings))


def cmd_agi_lookup(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.agi import cli as agi_cli

    return agi_cli.agi_lookup(args, settings)


def cmd_import_categories(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories

    async def run() -> int:
        async with _database(settings) as db:
            result = await import_categories(db, args.tenant, args.file or DEFAULT_CATEGORIES, prune=args.prune)
        sys.stdout.write(json.dumps({"tenant": args.tenant, **result.to_dict()}) + "\n")
        return 0

    return asyncio.run(run())


def cmd_import_groups(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.tickets.groups import import_groups

    async def run() -> int:
        async with _database(settings) as db:
            result = await import_groups(db, args.tenant, args.file, prune=args.prune)
        # counts only: a group's webhook secret never reaches the output or the log
        sys.stdout.write(json.dumps({"tenant": args.tenant, **result.to_dict()}) + "\n")
        return 0

    return asyncio.run(run())


def cmd_import_sla(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the tenant's SLA and re-arm the timers of its open tickets."""
    from uhd_telephony.sla.policy import import_sla

    async def run() -> int:
        async with _database(settings) as db:
            result = await import_sla(db, args.tenant, args.file)
        # counts only: a contact's webhook secret never reaches the output or the log
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        return 0

    return asyncio.run(run())


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """The monthly report, computed by metrics.kpi over the stored calls and tickets."""
    from pathlib import Path

    from uhd_telephony.metrics import report

    async def run() -> str:
        report.month_period(args.month)  # a bad month fails before the database is touched
        async with _database(settings, migrated=False) as db:
            built = await report.build(db, args.tenant, args.month)
        return await report.render(built, args.format)

    text = asyncio.run(run())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        log.info("wrote the %s report of %s for %s to %s", args.format, args.tenant, args.month, args.output)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_kpi_daily(args: argparse.Namespace, settings: Settings) -> int:
    """(re)compute kpi_daily for a range of days, with metrics.aggregates (idempotent upserts)."""
    from uhd_telephony.metrics import daily

    async def run() -> int:
        now = daily.utc_now()
        last = args.last or daily.berlin_day(now)
        async with _database(settings) as db:
            written = await daily.backfill(db, args.first, last, tenants=args.tenants, now=now)
        result = {"from": args.first.isoformat(), "to": last.isoformat(), "tenants": args.tenants or "all"}
        sys.stdout.write(json.dumps({**result, "rows": written}) + "\n")
        return 0

    return asyncio.run(run())


COMMANDS = {
    "report": cmd_report,
    "kpi-daily": cmd_kpi_daily,
    "import-sla": cmd_import_sla,
    "import-categories": cmd_import_categories,
    "import-groups": cmd_import_groups,
    "replay": cmd_replay,
    "backfill": cmd_backfill,
    "migrate": cmd_migrate,
    "create-account": cmd_create_account,
    "run": cmd_run,
    "demo": cmd_demo,
    "simulate": cmd_simulate,
    "import-users": cmd_import_users,
    "lookup": cmd_lookup,
    "agi-lookup": cmd_agi_lookup,
    "tenant": cmd_tenant,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        setup_logging("INFO")
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            log.error("invalid setting UHD_%s: %s", where.upper(), err["msg"])
        return 2
    from uhd_telephony.security.redact import settings_secrets

    setup_logging(settings.log_level, settings_secrets(settings))
    try:
        return COMMANDS[args.command](args, settings)
    except UhdError as exc:
        log.error("%s", exc.message)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
