"""The ``uhd-telephony`` command: run the service, the demo, migrations, replay and the simulator.

Quick and strict:

- each command imports what it needs when it runs (this module imports neither pydantic, SQLAlchemy, aiohttp,
  Alembic nor the simulator), and the parser is built with the chosen command's arguments alone;
- a command that only reads (``tenant list``, ``lookup``, ``report``, ``import-users --dry-run``) never migrates:
  a database behind the newest migration stops it with a message to run ``uhd-telephony migrate``. It reads its
  few settings without pydantic (``ReadSettings``) and logs warnings and errors only (unless ``--log-level``);
- a command that writes migrates first, quietly (one line, none of Alembic's);
- a tenant a command names must exist (a row of the tenants table, or a tenant the settings give calls to:
  ``UHD_DEFAULT_TENANT``, ``UHD_TENANT_NUMBERS``, ``UHD_TENANT_QUEUES``), checked before anything is written or
  migrated;
- every expected failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from uhd_telephony import __version__
from uhd_telephony.errors import NotFound, StoreError, UhdError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from uhd_telephony.settings import Settings
    from uhd_telephony.store.db import Database

log = logging.getLogger("uhd_telephony")

DESCRIPTION = (
    "The helpdesk's telephony service: run it, the demo, migrations, replays of AMI captures and the AMI simulator; "
    "import a tenant's users, categories, groups and SLA; accounts, tenants, lookups and reports."
)
EPILOG = "uhd-telephony COMMAND --help shows a command's options. Settings come from UHD_* environment variables."


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
    # Alembic tells each step ("Context impl SQLiteImpl.", "Running upgrade ..."): store.migrate says the outcome
    # in one line
    logging.getLogger("alembic").setLevel(logging.WARNING)


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


def _run_args(run: argparse.ArgumentParser) -> None:
    _add_ami(run)
    _add_db(run)
    run.add_argument("--check", action="store_true", help="check AMI login and database, then exit 0/1")
    run.add_argument("--http-host", help="web address (env UHD_HTTP_HOST, default 127.0.0.1)")
    run.add_argument("--http-port", type=int, help="web port (env UHD_HTTP_PORT, default 8080)")
    run.add_argument("--no-web", action="store_true", help="track calls only; consoles are served elsewhere")
    run.add_argument(
        "--role",
        choices=("all", "web", "tracker"),
        help="all: everything (default); web: pages, API and consoles, no AMI; tracker: AMI, tickets, pops and the"
        " scanners, standing by while another process holds the lease (env UHD_ROLE)",
    )


def _demo_args(demo: argparse.ArgumentParser) -> None:
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


def _migrate_args(migrate: argparse.ArgumentParser) -> None:
    _add_db(migrate)
    migrate.add_argument("--revision", default="head", help="the revision to upgrade to (default: the newest)")


def _account_args(account: argparse.ArgumentParser) -> None:
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


def _replay_args(replay: argparse.ArgumentParser) -> None:
    replay.add_argument("file", help="capture: the raw bytes as Asterisk sent them")
    replay.add_argument("--json", action="store_true", help="one JSON object per finished queue call")
    replay.add_argument("--summary", action="store_true", help="totals per outcome")
    replay.add_argument("--store", action="store_true", help="also write the records into the database")
    replay.add_argument("--short-abandon", type=float, default=None, help="short-abandon threshold in seconds")
    _add_db(replay)


def _backfill_args(backfill: argparse.ArgumentParser) -> None:
    backfill.add_argument("--queue-log", help="Asterisk's queue_log file (env UHD_QUEUE_LOG)")
    backfill.add_argument(
        "--since",
        type=_instant,
        help="read the whole file, record calls that entered at or after this: YYYY-MM-DD or an ISO date-time "
        "(Europe/Berlin unless it names its offset) or epoch seconds (default: from where the last run stopped)",
    )
    backfill.add_argument("--short-abandon", type=float, default=None, help="short-abandon threshold in seconds")
    _add_db(backfill)


def _import_users_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.directory import cli as directory_cli

    directory_cli.add_import_arguments(p)
    _add_db(p)


def _categories_args(categories: argparse.ArgumentParser) -> None:
    categories.add_argument("file", nargs="?", help="the tree; default: the example tree shipped with the package")
    categories.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")
    categories.add_argument("--prune", action="store_true", help="deactivate categories not in the file")
    _add_db(categories)


def _groups_args(groups: argparse.ArgumentParser) -> None:
    groups.add_argument("file", help="the groups (see examples/groups.example.yaml)")
    groups.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")
    groups.add_argument("--prune", action="store_true", help="deactivate groups not in the file")
    _add_db(groups)


def _sla_args(sla: argparse.ArgumentParser) -> None:
    sla.add_argument("file", help="the SLA (see examples/sla.example.yaml)")
    sla.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")
    _add_db(sla)


def _ola_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.sla import cli as sla_cli

    sla_cli.add_import_ola_arguments(p)
    _add_db(p)


def _sla_command_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.sla import cli as sla_cli

    sub = p.add_subparsers(dest="sla_command", required=True, metavar="SUBCOMMAND")
    text = "send a marked test warning and breach through every escalation path, print each one's delivery result"
    test = sub.add_parser("test", help=text, description=text)
    sla_cli.add_test_arguments(test)
    _add_db(test)


def _articles_args(articles: argparse.ArgumentParser) -> None:
    articles.add_argument("folder", help="Markdown files with a front matter (see uhd_telephony/articles/examples)")
    articles.add_argument("--tenant", help="the tenant whose own articles these are (default: shared by every tenant)")
    _add_db(articles)


def _report_args(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("--tenant", required=True, help="the tenant (it must exist: uhd-telephony tenant list)")
    rep.add_argument("--month", required=True, help="YYYY-MM, in Europe/Berlin (e.g. 2026-11)")
    rep.add_argument("--format", default="html", choices=["html", "csv", "json"])
    rep.add_argument("--output", help="file to write (default: stdout); its folder must exist")
    _add_db(rep)


def _kpi_daily_args(daily: argparse.ArgumentParser) -> None:
    daily.add_argument(
        "--tenant", dest="tenants", action="append", default=[], help="a tenant (repeatable; default: every tenant)"
    )
    daily.add_argument("--from", dest="first", required=True, type=_day, help="first day, YYYY-MM-DD (Europe/Berlin)")
    daily.add_argument("--to", dest="last", type=_day, help="last day, included (default: today)")
    _add_db(daily)


def _lookup_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.directory import cli as directory_cli

    directory_cli.add_lookup_arguments(p)
    _add_db(p)


def _sync_ldap_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.directory import cli as directory_cli

    directory_cli.add_sync_ldap_arguments(p)
    _add_db(p)


def _agi_lookup_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.agi import cli as agi_cli

    agi_cli.add_lookup_arguments(p)
    _add_db(p)


def _agi_subscribe_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.agi import cli as agi_cli

    agi_cli.add_subscribe_arguments(p)
    _add_db(p)


def _tenant_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.tenants import cli as tenants_cli

    tenants_cli.add_arguments(p, _add_db)


def _mail_address_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.mailin import cli as mailin_cli

    mailin_cli.add_arguments(p, _add_db)


def _retention_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.privacy import cli as privacy_cli

    privacy_cli.add_retention_arguments(p, _add_db)


def _erase_person_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.privacy import cli as privacy_cli

    privacy_cli.add_erase_arguments(p, _add_db)


def _simulate_args(p: argparse.ArgumentParser) -> None:
    from uhd_telephony.simulator import cli as sim_cli

    sim_cli.add_arguments(p)


# every command: its name, its line in --help, and what adds its arguments (called only for the command given,
# or for all when the whole parser is asked for: some come from modules that import half the package)
PARSERS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    ("run", "connect to Asterisk and keep call records", _run_args),
    ("demo", "simulator + service + agent console + live KPIs on SQLite, no Redis", _demo_args),
    ("migrate", "create or upgrade the database schema", _migrate_args),
    (
        "create-account",
        "create a login (password from env UHD_NEW_PASSWORD, else asked for on the terminal)",
        _account_args,
    ),
    ("replay", "feed a raw AMI capture through the tracker", _replay_args),
    # calls Asterisk logged while the service could not see it
    ("backfill", "record the calls of Asterisk's queue_log the store does not have", _backfill_args),
    ("import-users", "import users and places (ward phones) from CSV or JSON", _import_users_args),
    ("import-categories", "import a tenant's category tree (YAML or JSON)", _categories_args),
    ("import-groups", "import a tenant's support groups (who gets work orders)", _groups_args),
    # a tenant's SLA (calendar, targets per priority, escalation contacts)
    ("import-sla", "import a tenant's SLA: calendar, targets, escalation contacts", _sla_args),
    # the support groups' own targets for work routed to them (OLAs: partner firms above all)
    ("import-ola", "import a tenant's OLAs: each support group's targets for work routed to it", _ola_args),
    # the escalation paths' test run (the test phase of an introduction)
    ("sla", "SLA checks: sla test sends a test warning and breach through every escalation path", _sla_command_args),
    # the Sofort-Support's solution articles: the folder is the whole scope (a file gone: its article deactivated)
    ("import-articles", "import solution articles (Markdown) of a tenant, or shared by every tenant", _articles_args),
    # the monthly report of one tenant
    ("report", "a tenant's monthly KPI report (HTML with charts, CSV or JSON)", _report_args),
    # the KPI history (kpi_daily) behind Grafana's "Hotline history" dashboard
    ("kpi-daily", "compute the per-day KPI history (kpi_daily) of past days", _kpi_daily_args),
    ("lookup", "who is this caller ID? the directory match as JSON (exit 1: unknown)", _lookup_args),
    # the directory from where hospitals keep it; the service does the same on a schedule (UHD_LDAP_CONFIG)
    ("sync-ldap", "sync a tenant's users from its LDAP / Active Directory (all or nothing)", _sync_ldap_args),
    (
        "agi-lookup",
        "AGI caller lookup on stdin/stdout, as Asterisk runs dialplan/agi/uhd-lookup.agi (always exit 0)",
        _agi_lookup_args,
    ),
    (
        "agi-subscribe",
        "AGI incident subscription on stdin/stdout, as Asterisk runs dialplan/agi/uhd-subscribe.agi (always exit 0)",
        _agi_subscribe_args,
    ),
    ("tenant", "add or list tenants (customer organisations) and their hotline numbers", _tenant_args),
    # requests by mail: which address is whose helpdesk (the LMTP/SMTP endpoint refuses every other recipient)
    ("mail-address", "add, remove or list the tenants' helpdesk mail addresses", _mail_address_args),
    # data protection: each data class's period per tenant, applied by the service every hour
    (
        "retention",
        "what the retention periods remove when (--dry-run), or remove it now; retention set",
        _retention_args,
    ),
    (
        "erase-person",
        "erase one person's data in a tenant (Art. 17 GDPR): directory, tickets, calls, mails",
        _erase_person_args,
    ),
    ("simulate", "run the AMI simulator (a PBX for demos and tests)", _simulate_args),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command (``command`` None), or with the arguments of ``command`` alone: the other
    commands are listed, their arguments left out. ``""``: none, to find out which command is given."""
    parser = argparse.ArgumentParser(prog="uhd-telephony", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"uhd-telephony {__version__}")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (env UHD_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text, add_arguments in PARSERS:
        if command is None or command == name:
            add_arguments(sub.add_parser(name, help=text, description=text))
        else:  # listed in --help; no -h of its own, so that "COMMAND -h" reaches the whole parser of COMMAND
            sub.add_parser(name, help=text, add_help=False)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, parsed by the parser of the command it names (none: the list of commands says what is
    wrong, or is the help asked for)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return build_parser(command_in(argv) or "").parse_args(argv)


def command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (nor --log-level's value), if a command."""
    names = {name for name, _, _ in PARSERS}
    words = iter(argv)
    for word in words:
        if word == "--":
            break
        if word.startswith("-"):
            # --log-level VALUE, or a prefix argparse takes for it (--log, --log-l ...), not --log-level=VALUE
            if len(word) >= 3 and "--log-level".startswith(word):
                next(words, None)
            continue
        return word if word in names else None
    return None


def settings_from(args: argparse.Namespace) -> Settings:
    from uhd_telephony.settings import Settings

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
        role=getattr(args, "role", None) if args.command == "run" else None,  # create-account has its own --role
    )


class DatabaseSettings(Protocol):
    """What the database preparation of a command reads: Settings, or a read command's ReadSettings."""

    @property
    def database_url(self) -> str: ...

    @property
    def default_tenant(self) -> str: ...

    @property
    def tenant_numbers(self) -> Mapping[str, str]: ...

    @property
    def tenant_queues(self) -> Mapping[str, str]: ...


def configured_tenants(settings: DatabaseSettings) -> set[str]:
    """The tenants the settings give calls to: UHD_DEFAULT_TENANT and those UHD_TENANT_NUMBERS/_QUEUES map to."""
    return {settings.default_tenant, *settings.tenant_numbers.values(), *settings.tenant_queues.values()}


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
READ_DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///uhd-telephony.db"  # Settings' default (settings.py)


@dataclass(frozen=True, slots=True)
class ReadSettings:
    """The settings a command that only reads uses, read from the environment as Settings reads them (prefix
    UHD_, names in any case; flags win) without importing pydantic, which alone takes about a third of such a
    command's time. Secrets are here to be masked in the log. tests/app/test_cli_quick.py checks that they agree
    with Settings."""

    database_url: str
    default_tenant: str
    tenant_numbers: dict[str, str]
    tenant_queues: dict[str, str]
    log_level: str
    ami_secret: str
    smtp_password: str | None
    session_key: str | None
    redis_url: str | None

    @classmethod
    def read(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ReadSettings | None:
        """The settings of ``args``' command; None when a value is not valid (Settings then says what is wrong)."""
        env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
        level = args.log_level if args.log_level is not None else env.get("uhd_log_level", "INFO")
        if level.upper() not in LOG_LEVELS:
            return None
        url = getattr(args, "database_url", None)
        try:
            numbers = _mapping(env.get("uhd_tenant_numbers", ""))
            queues = _mapping(env.get("uhd_tenant_queues", ""))
        except ValueError:
            return None
        return cls(
            database_url=url if url is not None else env.get("uhd_database_url", READ_DEFAULT_DATABASE_URL),
            default_tenant=env.get("uhd_default_tenant", "default"),
            tenant_numbers=numbers,
            tenant_queues=queues,
            log_level=level.upper(),
            ami_secret=env.get("uhd_ami_secret", "uhdsecret"),
            smtp_password=env.get("uhd_smtp_password"),
            session_key=env.get("uhd_session_key"),
            redis_url=env.get("uhd_redis_url"),
        )


def _mapping(value: str) -> dict[str, str]:
    """``key=value,key=value`` as Settings reads UHD_TENANT_NUMBERS and UHD_TENANT_QUEUES (settings.py)."""
    value = value.strip()
    result: dict[str, str] = {}
    if not value:
        return result
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(part)
        result[key.strip()] = val.strip()
    return result


def reads_only(args: argparse.Namespace) -> bool:
    """Whether the command only reads: it never migrates, and it needs a database at the newest revision."""
    if args.command == "tenant":
        from uhd_telephony.tenants import cli as tenants_cli

        return not tenants_cli.writes(args)
    if args.command == "mail-address":
        from uhd_telephony.mailin import cli as mailin_cli

        return not mailin_cli.writes(args)
    if args.command == "import-users":
        return bool(args.dry_run)
    if args.command in ("retention", "erase-person"):
        return bool(args.dry_run)
    return args.command in ("lookup", "report")


@contextlib.asynccontextmanager
async def _database(
    settings: DatabaseSettings, *, writes: bool = True, tenants: Iterable[str] = ()
) -> AsyncIterator[Database]:
    """The command's database, closed after; checked before anything is written or migrated.

    The ``tenants`` it names must exist: a row of the tenants table (active or not), or a tenant the settings give
    calls to (UHD_DEFAULT_TENANT, the tenants of UHD_TENANT_NUMBERS and UHD_TENANT_QUEUES). A command that only
    reads (``writes=False``) needs the database at the newest revision and never migrates; one that writes
    migrates it first (after the tenant check). A SQLite file that is not there is not created by a check that
    fails.
    """
    from uhd_telephony.store import migrate as schema
    from uhd_telephony.store.db import Database

    wanted = _checked_tenants(tenants)
    url = settings.database_url
    shown = f"the database {_safe_url(url)}"
    missing = _missing_sqlite_file(url)
    if missing is not None and not writes:
        raise StoreError(f"there is no database {missing}: check UHD_DATABASE_URL or run uhd-telephony migrate")
    if missing is not None and not _has_folder(missing):
        raise StoreError(f"cannot create the database {missing}: its folder does not exist")
    db = Database(url)
    try:
        revision: str | None = None
        known: set[str] = set()
        has_tenants = False
        if missing is None:
            async with _reachable(shown), db.engine.connect() as conn:
                revision = await schema.revision_of(conn)
                if wanted and revision is not None and await _has_table(conn, "tenants"):
                    has_tenants = True
                    known = await _existing_tenants(conn, wanted)
        problem = schema.schema_problem(revision, url=shown)
        if problem is not None and (not writes or (revision is not None and revision not in schema.revisions())):
            raise StoreError(problem)
        if writes and revision is not None and not has_tenants and wanted:
            # older than the tenants table: its migration fills it from the accounts' and category trees' tenants
            async with _reachable(shown):
                await schema.migrate(url)
            async with _reachable(shown), db.engine.connect() as conn:
                known = await _existing_tenants(conn, wanted)
            problem = None
        configured = configured_tenants(settings)
        unknown = [t for t in wanted if t not in known and t not in configured]
        if unknown:
            raise NotFound(
                f"unknown tenant {unknown[0]!r}: neither in the tenants table (uhd-telephony tenant list) nor "
                f"configured (UHD_DEFAULT_TENANT, UHD_TENANT_NUMBERS, UHD_TENANT_QUEUES); add it with "
                f"uhd-telephony tenant add {unknown[0]} --name NAME",
                {"tenant": unknown[0]},
            )
        if writes and problem is not None:
            async with _reachable(shown):
                await schema.migrate(url)
        yield db
    finally:
        await db.close()


def _checked_tenants(tenants: Iterable[str]) -> list[str]:
    from uhd_telephony.tenant import check_tenant

    return list(dict.fromkeys(check_tenant(t) for t in tenants))


async def _has_table(conn: AsyncConnection, name: str) -> bool:
    from sqlalchemy import inspect

    return bool(await conn.run_sync(lambda sync: inspect(sync).has_table(name)))


async def _existing_tenants(conn: AsyncConnection, tenants: Sequence[str]) -> set[str]:
    """Which of ``tenants`` are rows of the tenants table (active or not: a tenant's history outlives it)."""
    from sqlalchemy import bindparam, text

    query = text("SELECT tenant FROM tenants WHERE tenant IN :names").bindparams(bindparam("names", expanding=True))
    return {row[0] for row in await conn.execute(query, {"names": list(tenants)})}


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that does not exist yet (None: there, in memory, or not SQLite)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None  # Database() says what is wrong with it
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or os.path.exists(database):
        return None
    return database


def _has_folder(path: str) -> bool:
    return os.path.isdir(os.path.dirname(os.path.abspath(path)))


@contextlib.asynccontextmanager
async def _reachable(shown: str) -> AsyncIterator[None]:
    """A database that cannot be reached (refused, timed out, locked, no such file) is one line, not a traceback."""
    from uhd_telephony.store.db import is_unavailable

    try:
        yield
    except UhdError:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        text = str(getattr(exc, "orig", None) or exc).strip()
        reason = text.splitlines()[0][:300] if text else type(exc).__name__
        raise StoreError(f"cannot use {shown}: {reason}") from exc


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """The capture read and replayed in chunks: its calls printed as they end, memory flat in the file's size."""
    from uhd_telephony.calls.pipeline import tracker_from_settings
    from uhd_telephony.calls.replay import replay_file

    out = sys.stdout
    events: list[Any] | None = [] if args.store else None

    def emit(record: Any) -> None:
        out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")

    each = emit if args.json or not args.summary else None
    result = replay_file(args.file, tracker_from_settings(settings), also=events, on_record=each)
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


def _safe_url(url: str) -> str:
    """A database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Upgrade the schema; store.migrate logs the one line saying from which revision to which."""
    from uhd_telephony.store.migrate import migrate

    asyncio.run(migrate(settings.database_url, args.revision))
    return 0


NEW_PASSWORD_ENV = "UHD_NEW_PASSWORD"


def _password_given() -> str | None:
    """The new account's password from the environment (scripts); None: it is to be typed on this terminal."""
    password = os.environ.get(NEW_PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise UhdError(f"no password: set {NEW_PASSWORD_ENV} or run on a terminal")
    return None


def _new_password() -> str:
    """The new account's password: from the environment (scripts), else typed twice on a terminal."""
    password = _password_given()
    if password:
        return password
    import getpass

    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise UhdError("the passwords differ")
    return password


def cmd_create_account(args: argparse.Namespace, settings: Settings) -> int:
    """The tenants checked and the schema brought up to date before the password is asked for."""
    from uhd_telephony.accounts.service import create_account

    _password_given()  # no way to get one: say so before anything else

    async def prepare() -> None:
        async with _database(settings, tenants=args.tenants):
            pass

    asyncio.run(prepare())
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
            migrate_first=False,
        )
    )
    sys.stdout.write(json.dumps(view.to_dict(), ensure_ascii=False) + "\n")
    return 0


def cmd_tenant(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from uhd_telephony.tenants import cli as tenants_cli

    async def run() -> int:
        async with _database(settings, writes=tenants_cli.writes(args)) as db:
            return await tenants_cli.run(args, db)

    return asyncio.run(run())


def cmd_mail_address(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from uhd_telephony.mailin import cli as mailin_cli

    async def run() -> int:
        async with _database(settings, writes=mailin_cli.writes(args), tenants=mailin_cli.tenants(args)) as db:
            return await mailin_cli.run(args, db)

    return asyncio.run(run())


def cmd_retention(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from uhd_telephony.privacy import cli as privacy_cli

    async def run() -> int:
        async with _database(settings, writes=privacy_cli.writes(args), tenants=privacy_cli.tenants(args)) as db:
            return await privacy_cli.run_retention(args, db)

    return asyncio.run(run())


def cmd_erase_person(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from uhd_telephony.privacy import cli as privacy_cli

    async def run() -> int:
        async with _database(settings, writes=privacy_cli.writes(args), tenants=privacy_cli.tenants(args)) as db:
            return await privacy_cli.run_erase(args, db)

    return asyncio.run(run())


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


def cmd_import_users(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    """Into an existing tenant; ``--dry-run`` only reads (the schema must be current, nothing is migrated)."""
    from uhd_telephony.directory import cli as directory_cli

    async def run() -> int:
        async with _database(settings, writes=not args.dry_run, tenants=[args.tenant]) as db:
            return await directory_cli.import_users(args, db)

    return asyncio.run(run())


def cmd_lookup(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from uhd_telephony.directory import cli as directory_cli

    async def run() -> int:
        async with _database(settings, writes=False, tenants=[args.tenant]) as db:
            return await directory_cli.lookup(args, db)

    return asyncio.run(run())


def cmd_sync_ldap(args: argparse.Namespace, settings: Settings) -> int:
    """The sources file read first (a broken one is one line, the database untouched), the tenant checked, then one
    sync: all of it or nothing; ``--dry-run`` only reads (nothing is migrated)."""
    from uhd_telephony.directory import cli as directory_cli
    from uhd_telephony.directory.ldap_config import load_sources

    path = directory_cli.ldap_config_path(args, settings.ldap_config)
    sources = load_sources(path)

    async def run() -> int:
        async with _database(settings, writes=not args.dry_run, tenants=[args.tenant]) as db:
            return await directory_cli.sync_ldap(args, db, sources, path)

    return asyncio.run(run())


def cmd_agi_lookup(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.agi import cli as agi_cli

    return agi_cli.agi_lookup(args, settings)


def cmd_agi_subscribe(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.agi import cli as agi_cli

    return agi_cli.agi_subscribe(args, settings)


def cmd_import_categories(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories

    async def run() -> int:
        async with _database(settings, tenants=[args.tenant]) as db:
            result = await import_categories(db, args.tenant, args.file or DEFAULT_CATEGORIES, prune=args.prune)
        sys.stdout.write(json.dumps({"tenant": args.tenant, **result.to_dict()}) + "\n")
        return 0

    return asyncio.run(run())


def cmd_import_groups(args: argparse.Namespace, settings: Settings) -> int:
    from uhd_telephony.tickets.groups import import_groups

    async def run() -> int:
        async with _database(settings, tenants=[args.tenant]) as db:
            result = await import_groups(db, args.tenant, args.file, prune=args.prune)
        # counts only: a group's webhook secret never reaches the output or the log
        sys.stdout.write(json.dumps({"tenant": args.tenant, **result.to_dict()}) + "\n")
        return 0

    return asyncio.run(run())


def cmd_import_sla(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the tenant's SLA and re-arm the timers of its open tickets."""
    from uhd_telephony.sla.policy import import_sla

    async def run() -> int:
        async with _database(settings, tenants=[args.tenant]) as db:
            result = await import_sla(db, args.tenant, args.file)
        # counts only: a contact's webhook secret never reaches the output or the log
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        return 0

    return asyncio.run(run())


def cmd_import_ola(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the tenant's OLAs (its groups checked: an unknown one writes nothing) and re-arm the OLA timers."""
    from uhd_telephony.sla import cli as sla_cli

    async def run() -> int:
        async with _database(settings, tenants=[args.tenant]) as db:
            return await sla_cli.import_ola(args, db)

    return asyncio.run(run())


def cmd_sla(args: argparse.Namespace, settings: Settings) -> int:
    """``sla test``: the tenant checked, then the drill; its rows are delivered by the drill's own sender."""
    from uhd_telephony.sla import cli as sla_cli

    async def run() -> int:
        async with _database(settings, tenants=[args.tenant]) as db:
            return await sla_cli.test(args, db, settings)

    return asyncio.run(run())


def cmd_import_articles(args: argparse.Namespace, settings: Settings) -> int:
    """The folder checked first (a bad file is one line, the database untouched), then upserted in one go."""
    from uhd_telephony.articles.files import read_folder
    from uhd_telephony.articles.importer import import_articles

    files = read_folder(args.folder)

    async def run() -> int:
        async with _database(settings, tenants=[args.tenant] if args.tenant is not None else []) as db:
            result = await import_articles(db, files, args.tenant)
        for gone in result.deactivated:
            log.warning("article %s (%s) is no longer in %s: deactivated", gone["slug"], gone["file"], args.folder)
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return 0

    return asyncio.run(run())


def cmd_report(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    """The monthly report, computed by metrics.kpi over the stored calls and tickets."""
    from pathlib import Path

    from uhd_telephony.metrics import report

    output = Path(args.output) if args.output else None
    if output is not None and not output.parent.is_dir():  # found out before the report is computed
        raise UhdError(f"cannot write the report to {args.output}: there is no folder {output.parent}")

    async def run() -> str:
        report.month_period(args.month)  # a bad month fails before the database is touched
        async with _database(settings, writes=False, tenants=[args.tenant]) as db:
            built = await report.build(db, args.tenant, args.month)
        return await report.render(built, args.format)

    text = asyncio.run(run())
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UhdError(f"cannot write the report to {args.output}: {exc.strerror or exc}") from None
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


COMMANDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "report": cmd_report,
    "kpi-daily": cmd_kpi_daily,
    "import-sla": cmd_import_sla,
    "import-ola": cmd_import_ola,
    "sla": cmd_sla,
    "import-articles": cmd_import_articles,
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
    "sync-ldap": cmd_sync_ldap,
    "agi-lookup": cmd_agi_lookup,
    "agi-subscribe": cmd_agi_subscribe,
    "tenant": cmd_tenant,
    "mail-address": cmd_mail_address,
    "retention": cmd_retention,
    "erase-person": cmd_erase_person,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quick = reads_only(args)
    settings: Settings | ReadSettings | None = ReadSettings.read(args) if quick else None
    if settings is None:
        from pydantic import ValidationError

        try:
            settings = settings_from(args)
        except ValidationError as exc:
            setup_logging("INFO")
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                log.error("invalid setting UHD_%s: %s", where.upper(), err["msg"])
            return 2
    from uhd_telephony.security.redact import settings_secrets

    level = settings.log_level
    if quick and args.log_level is None:  # a command that reads prints its answer, no chatter unless asked for
        level = max(level, "WARNING", key=LOG_LEVELS.index)
    setup_logging(level, settings_secrets(settings))
    try:
        return COMMANDS[args.command](args, settings)
    except UhdError as exc:
        log.error("%s", exc.message)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
