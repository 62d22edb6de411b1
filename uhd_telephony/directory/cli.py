"""``uhd-telephony import-users``, ``lookup`` and ``sync-ldap``: the operator's tools for the caller directory."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING

from uhd_telephony.errors import ConfigError, DirectoryError
from uhd_telephony.tenant import check_tenant

if TYPE_CHECKING:
    from uhd_telephony.directory.ldap_config import LdapSource
    from uhd_telephony.store.db import Database

# the handlers import the directory (pydantic models, phonenumbers, SQLAlchemy) when they run: building the
# parser for every other command stays cheap

log = logging.getLogger(__name__)

EXIT_FOUND = 0
EXIT_UNKNOWN = 1


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``import-users``."""
    p.add_argument("file", help="CSV or JSON file of users and places (see examples/users.example.csv)")
    p.add_argument("--tenant", required=True, help="the tenant (customer organisation) the users belong to")
    p.add_argument(
        "--format", choices=("csv", "json"), default=None, help="csv or json (default: from the file's suffix)"
    )
    p.add_argument("--region", default=None, help="default country of numbers without +, e.g. DE (stored per tenant)")
    p.add_argument(
        "--extension-prefix",
        default=None,
        help="the tenant's PBX number block, e.g. +49231986: +492319864711 then finds extension 4711 ('' removes it)",
    )
    p.add_argument("--max-extension-length", type=int, default=None, help="longest internal extension (default 6)")
    p.add_argument(
        "--deactivate-missing",
        action="store_true",
        help="deactivate the tenant's users and places not in the file (the file is a full export)",
    )
    p.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")


def add_lookup_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``lookup``."""
    p.add_argument("number", help="the caller ID as Asterisk shows it, e.g. '0231 9860572', 4711, anonymous")
    p.add_argument("--tenant", required=True, help="the tenant whose directory to search")


def add_sync_ldap_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sync-ldap``."""
    p.add_argument("--tenant", required=True, help="the tenant whose users to sync (its block in the LDAP file)")
    p.add_argument("--config", default=None, help="the LDAP sources file (default: env UHD_LDAP_CONFIG)")
    p.add_argument("--dry-run", action="store_true", help="search and count, write nothing")
    p.add_argument(
        "--force", action="store_true", help="sync even when the search finds far fewer users than are active"
    )


def ldap_config_path(args: argparse.Namespace, configured: str | None) -> str:
    """``--config``, else UHD_LDAP_CONFIG; ConfigError when neither names a file."""
    path = args.config or configured
    if not path:
        raise ConfigError("no LDAP sources file: pass --config FILE or set UHD_LDAP_CONFIG")
    return str(path)


async def sync_ldap(args: argparse.Namespace, db: Database, sources: dict[str, LdapSource], path: str) -> int:
    """Run ``sync-ldap`` on ``db`` (the CLI has read the file, checked the tenant and the schema): print what it
    did as JSON; a UhdError (one line) when the source or the size guard stops it, nothing written."""
    from uhd_telephony.directory.ldap_config import source_of
    from uhd_telephony.directory.ldap_sync import SyncRequest
    from uhd_telephony.directory.ldap_sync import sync_ldap as run_sync

    source = source_of(sources, args.tenant, path)
    request = SyncRequest(trigger="command", dry_run=args.dry_run, force=args.force)
    result = await run_sync(db, args.tenant, source, request)
    sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    return 0


async def import_users(args: argparse.Namespace, db: Database) -> int:
    """Run ``import-users`` on ``db`` (the CLI has checked the tenant and the schema): print the summary as
    JSON; ImportFailed (all errors, with lines) on a bad file."""
    from uhd_telephony.directory.importer import import_file

    check_tenant(args.tenant, DirectoryError)
    summary = await import_file(
        db,
        args.file,
        args.tenant,
        fmt=args.format,
        region=args.region,
        extension_prefix=args.extension_prefix,
        max_extension_length=args.max_extension_length,
        deactivate_missing=args.deactivate_missing,
        dry_run=args.dry_run,
    )
    sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False) + "\n")
    log.info(
        "%s %s into %s: users %s, places %s",
        "checked" if summary.dry_run else "imported",
        summary.file,
        summary.tenant,
        summary.users.to_dict(),
        summary.places.to_dict(),
    )
    return 0


async def lookup(args: argparse.Namespace, db: Database) -> int:
    """Run ``lookup`` on ``db`` (the CLI has checked the tenant and the schema): print the LookupResult as JSON;
    exit 0 when the caller is found, 1 when unknown."""
    from uhd_telephony.directory.lookup import DirectoryIndex

    check_tenant(args.tenant, DirectoryError)
    index = DirectoryIndex()
    await index.reload_tenant(db, args.tenant)
    result = index.lookup(args.tenant, args.number)
    sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    return EXIT_FOUND if result.found else EXIT_UNKNOWN
