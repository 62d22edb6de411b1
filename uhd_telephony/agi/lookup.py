"""``uhd-lookup.agi``: who is calling the hotline? Sets the channel variables that Queue() and the tracker read.

The dialplan runs ``AGI(uhd-lookup.agi,<tenant>)`` before ``Queue()``. The caller's number is the ``agi_callerid``
Asterisk announces (a second argument overrides it): the caller ID itself never becomes an argument, so a
caller ID with a comma in it cannot shift the tenant. The script then sets, with ``SET VARIABLE``:

- ``UHD_TENANT`` first, at once, whatever happens next;
- for a caller the directory names unambiguously: ``UHD_USER_ID`` (the directory user id), ``UHD_USER_NAME``,
  ``UHD_VIP`` (1/0), and ``QUEUE_PRIO`` = 10 for a VIP, so app_queue answers them first;
- otherwise (unknown, a shared phone, a ward phone, no number at all): ``UHD_VIP=0``.

It answers within 500 ms of its start or falls through: past the deadline (a slow or unreachable database) the
call goes on with ``UHD_TENANT`` only. It never raises to Asterisk and always exits 0; a caller hanging up at any
point (``HANGUP``, EOF, SIGHUP, a closed pipe) is one quiet outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from asterisk.agi import AGIException

from uhd_telephony.agi.callerdb import Target, UnsupportedDatabase, fetch_directory, target_of
from uhd_telephony.agi.cli import DEADLINE_MS, add_lookup_arguments, lookup_argv
from uhd_telephony.agi.session import (
    AgiSession,
    CallerHungUp,
    DeadlineExceeded,
    LineReader,
    LineWriter,
    process_age_s,
)
from uhd_telephony.ami import names
from uhd_telephony.directory.lookup import LookupResult, TenantIndex
from uhd_telephony.directory.records import TenantDirectory
from uhd_telephony.errors import DirectoryError
from uhd_telephony.tenant import check_tenant

log = logging.getLogger("uhd_telephony.agi")

DEADLINE_S = DEADLINE_MS / 1000
# kept back from the lookup for the SET VARIABLEs that follow it
SET_RESERVE_S = 0.05
VIP_QUEUE_PRIO = 10
DATABASE_URL_ENV = "UHD_DATABASE_URL"

# what this script sets, for the dialplan test: every one of them is a name the tracker or Queue() reads
SETS = (
    names.VAR_TENANT,
    names.VAR_USER_ID,
    names.VAR_USER_NAME,
    names.VAR_VIP,
    names.VAR_QUEUE_PRIO,
)


class Outcome(StrEnum):
    """How one lookup ended; the exit status is 0 for every one of them."""

    USER = "user"  # one user: UHD_USER_ID, UHD_USER_NAME, UHD_VIP (and QUEUE_PRIO for a VIP)
    PLACE = "place"  # a ward / shared phone: UHD_VIP=0
    CANDIDATES = "candidates"  # several people share the number: UHD_VIP=0, the screen-pop lists them
    UNKNOWN = "unknown"  # nobody has it: UHD_VIP=0
    WITHHELD = "withheld"  # no number at all: UHD_VIP=0, nothing asked
    TIMEOUT = "timeout"  # the deadline passed: UHD_TENANT only
    DATABASE_ERROR = "database-error"  # unreachable, not migrated, no URL: UHD_TENANT only
    HANGUP = "hangup"  # the caller hung up on the way
    PROTOCOL_ERROR = "protocol-error"  # Asterisk refused a command (510/520)
    NO_TENANT = "no-tenant"  # called without a (valid) tenant: nothing set
    FAILED = "failed"  # a bug in this script, logged with its traceback


def variables_for(result: LookupResult) -> list[tuple[str, str]]:
    """The SET VARIABLEs after UHD_TENANT for a finished lookup."""
    user = result.user
    if result.kind == "user" and user is not None:
        out = [
            (names.VAR_USER_ID, str(user.id)),
            (names.VAR_USER_NAME, user.name),
            (names.VAR_VIP, "1" if user.vip else "0"),
        ]
        if user.vip:
            out.append((names.VAR_QUEUE_PRIO, str(VIP_QUEUE_PRIO)))
        return out
    return [(names.VAR_VIP, "0")]


def _has_digits(number: str) -> bool:
    return any(c.isdigit() for c in number)


# AST_PRES_RESTRICTED (0x20) and AST_PRES_UNAVAILABLE (0x40) in agi_callingpres: the caller withheld the number
_PRES_WITHHELD = 0x60


def _restricted(callingpres: str) -> bool:
    try:
        return bool(int(callingpres) & _PRES_WITHHELD)
    except ValueError:
        return False


async def _fetch(target: Target, tenant: str, number: str, budget_s: float) -> TenantDirectory:
    async with asyncio.timeout(budget_s):
        return await fetch_directory(target, tenant, number, budget_s)


def lookup(target: Target, tenant: str, number: str, budget_s: float) -> LookupResult:
    """Who ``number`` is in ``tenant``, ranked by the service's own TenantIndex; TimeoutError past the budget."""
    loop = asyncio.new_event_loop()
    try:
        directory = loop.run_until_complete(_fetch(target, tenant, number, budget_s))
    finally:
        # not asyncio.run(): its shutdown_default_executor() would wait for a getaddrinfo() stuck in a thread
        # (a DNS server that does not answer), holding up the call past every deadline
        loop.close()
    return TenantIndex(directory).lookup(number)


def run(
    argv: Sequence[str],
    *,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    environ: Mapping[str, str] | None = None,
    database_url: str | None = None,
    deadline_s: float = DEADLINE_S,
    elapsed_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """One lookup over the AGI pipes; ``argv`` is ``[tenant]`` or ``[tenant, number]``. Never raises."""
    env = os.environ if environ is None else environ
    deadline = clock() + deadline_s - elapsed_s
    reader = LineReader(stdin_fd, deadline, clock)
    writer = LineWriter(stdout_fd)
    try:
        with AgiSession(reader, writer) as session:
            return _converse(session, argv, env, database_url, deadline, clock)
    except (CallerHungUp, OSError) as exc:
        log.debug("caller hung up: %s", exc)
        return Outcome.HANGUP
    except DeadlineExceeded:
        log.warning("caller lookup: no reply from Asterisk within %.0f ms", deadline_s * 1000)
        return Outcome.TIMEOUT
    except AGIException as exc:
        log.warning("caller lookup: Asterisk refused a command: %s", str(exc).strip()[:200])
        return Outcome.PROTOCOL_ERROR
    except Exception:  # the edge to Asterisk: a bug here must not become a failed call
        log.exception("caller lookup failed")
        return Outcome.FAILED


def _converse(
    session: AgiSession,
    argv: Sequence[str],
    env: Mapping[str, str],
    database_url: str | None,
    deadline: float,
    clock: Callable[[], float],
) -> Outcome:
    tenant = ((argv[0] if argv else "") or session.argument(1) or "").strip()
    number = argv[1] if len(argv) > 1 else session.env.get("agi_callerid", "")
    try:
        check_tenant(tenant, DirectoryError)
    except DirectoryError:
        log.warning("caller lookup called without a valid tenant (%r): nothing set", tenant[:64])
        return Outcome.NO_TENANT
    session.set_variable(names.VAR_TENANT, tenant)

    # anonymous, unknown, empty, or presentation restricted (CLIR): nothing to look up, and nothing to wait for
    if not _has_digits(number) or _restricted(session.env.get("agi_callingpres", "")):
        session.set_variable(names.VAR_VIP, "0")
        return Outcome.WITHHELD
    url = database_url if database_url is not None else env.get(DATABASE_URL_ENV, "")
    if not url:
        log.warning("caller lookup: %s is not set: UHD_TENANT only", DATABASE_URL_ENV)
        return Outcome.DATABASE_ERROR
    budget = deadline - SET_RESERVE_S - clock()
    if budget <= 0:
        log.warning("caller lookup: no time left for the directory: UHD_TENANT only")
        return Outcome.TIMEOUT
    try:
        target = target_of(url)
        result = lookup(target, tenant, number, budget)
    except TimeoutError:
        log.warning("caller lookup: the directory did not answer within %.0f ms: UHD_TENANT only", budget * 1000)
        return Outcome.TIMEOUT
    except UnsupportedDatabase as exc:
        log.warning("caller lookup: %s: UHD_TENANT only", exc)
        return Outcome.DATABASE_ERROR
    except Exception as exc:  # asyncpg / sqlite3 errors of every kind: the call goes on
        log.warning("caller lookup: directory unavailable (%s): UHD_TENANT only", type(exc).__name__)
        log.debug("directory error", exc_info=True)
        return Outcome.DATABASE_ERROR
    for name, value in variables_for(result):
        session.set_variable(name, value)
    return Outcome(result.kind)


def build_parser() -> argparse.ArgumentParser:
    """The script's arguments (the same as ``uhd-telephony agi-lookup``'s)."""
    parser = argparse.ArgumentParser(prog="uhd-lookup.agi", description="Asterisk AGI: caller lookup")
    add_lookup_arguments(parser)
    return parser


# the backstop fires this long after the deadline, only when something blocked where no timeout reaches
BACKSTOP_S = 0.1


def _backstop(signum: int, frame: object) -> None:
    raise DeadlineExceeded("backstop: the lookup blocked past its deadline")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dialplan/agi/uhd-lookup.agi``: always returns 0, within the deadline plus a margin.

    Asterisk waits for the script's exit before the dialplan goes on. A SIGALRM backstop interrupts code no
    timeout reaches (a sqlite3 call on a hung disk); the caller should end the process with ``exit_now()``,
    which does not wait for a DNS lookup left running in a worker thread.
    """
    elapsed = process_age_s()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="uhd-lookup.agi: %(message)s")
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit:  # a bad option: Asterisk still gets a clean exit
        return 0
    deadline_s = args.deadline_ms / 1000
    previous = signal.signal(signal.SIGALRM, _backstop)
    signal.setitimer(signal.ITIMER_REAL, max(deadline_s - elapsed, 0.0) + BACKSTOP_S)
    try:
        run(lookup_argv(args), deadline_s=deadline_s, elapsed_s=elapsed)
    except BaseException as exc:  # the backstop, or anything else: Asterisk gets exit status 0 all the same
        log.warning("caller lookup stopped: %s", exc or type(exc).__name__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return 0


def exit_now(status: int = 0) -> None:
    """End the process at once: everything was written unbuffered, and no thread may hold up the exit."""
    sys.stderr.flush()
    os._exit(status)
