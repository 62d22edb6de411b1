"""``uhd-lookup.agi``: who is calling the hotline? Sets the channel variables that Queue() and the tracker read.

The dialplan runs ``AGI(uhd-lookup.agi,<tenant>)`` before ``Queue()``, for every call. The caller's number is the
``agi_callerid`` Asterisk announces (a second argument overrides it): the caller ID itself never becomes an argument,
so a caller ID with a comma in it cannot shift the tenant. The script then sets, with ``SET VARIABLE``:

- ``UHD_TENANT`` first, at once, whatever happens next;
- when the tenant has open major incidents (``incidents``): ``UHD_INCIDENT`` (their ids, newest first) and
  ``UHD_INCIDENT_PROMPT`` (their announcements joined with ``&``, the generic one where an incident has none of its
  own); the dialplan announces them before the queue. Nothing is set when there is none (one query on the
  directory's connection, for a withheld number too); the first call of an incident stamps ``communicated_at``;
- for a caller the directory names unambiguously: ``UHD_USER_ID`` (the directory user id), ``UHD_USER_NAME``,
  ``UHD_VIP`` (1/0), and ``QUEUE_PRIO`` = 10 for a VIP, so app_queue answers them first;
- otherwise (unknown, a shared phone, a ward phone, no number at all): ``UHD_VIP=0``.

It answers within 500 ms of its start or falls through: past the deadline (a slow or unreachable database) the
call goes on with ``UHD_TENANT`` only (and no announcement). It never raises to Asterisk and always exits 0; a caller
hanging up at any point (``HANGUP``, EOF, SIGHUP, a closed pipe) is one quiet outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from uhd_telephony.agi import script
from uhd_telephony.agi.callerdb import CallerFacts, Target, UnsupportedDatabase, fetch_caller, target_of
from uhd_telephony.agi.cli import DEADLINE_MS, add_lookup_arguments, lookup_argv
from uhd_telephony.agi.script import Outcome, exit_now, script_main
from uhd_telephony.agi.session import AgiSession
from uhd_telephony.ami import names
from uhd_telephony.directory.lookup import LookupResult, TenantIndex
from uhd_telephony.incidents.announcement import announcement

log = logging.getLogger("uhd_telephony.agi")

__all__ = ["Outcome", "exit_now", "lookup", "main", "run", "variables_for"]

DEADLINE_S = DEADLINE_MS / 1000
# kept back from the lookup for the SET VARIABLEs that follow it
SET_RESERVE_S = 0.05
VIP_QUEUE_PRIO = 10
DATABASE_URL_ENV = "UHD_DATABASE_URL"

# what this script sets, for the dialplan test: every one of them is a name the tracker or Queue() reads
SETS = (
    names.VAR_TENANT,
    names.VAR_INCIDENT,
    names.VAR_INCIDENT_PROMPT,
    names.VAR_USER_ID,
    names.VAR_USER_NAME,
    names.VAR_VIP,
    names.VAR_QUEUE_PRIO,
)


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


# AST_PRES_RESTRICTED (0x20) and AST_PRES_UNAVAILABLE (0x40) in agi_callingpres: the caller withheld the number
_PRES_WITHHELD = 0x60


def is_withheld(number: str, callingpres: str) -> bool:
    """No number to look up or call back: anonymous, unknown, empty, or presentation restricted (CLIR)."""
    if not any(c.isdigit() for c in number):
        return True
    try:
        return bool(int(callingpres) & _PRES_WITHHELD)
    except ValueError:
        return False


async def _fetch(target: Target, tenant: str, number: str | None, budget_s: float) -> CallerFacts:
    async with asyncio.timeout(budget_s):
        return await fetch_caller(target, tenant, number, budget_s)


def read_call(
    target: Target, tenant: str, number: str | None, budget_s: float
) -> tuple[CallerFacts, LookupResult | None]:
    """The tenant's open incidents and who ``number`` is (None: not asked), ranked by the service's own
    TenantIndex; TimeoutError past the budget."""
    loop = asyncio.new_event_loop()
    try:
        facts = loop.run_until_complete(_fetch(target, tenant, number, budget_s))
    finally:
        # not asyncio.run(): its shutdown_default_executor() would wait for a getaddrinfo() stuck in a thread
        # (a DNS server that does not answer), holding up the call past every deadline
        loop.close()
    if facts.directory is None or number is None:
        return facts, None
    return facts, TenantIndex(facts.directory).lookup(number)


def lookup(target: Target, tenant: str, number: str, budget_s: float) -> LookupResult:
    """Who ``number`` is in ``tenant``, ranked by the service's own TenantIndex; TimeoutError past the budget."""
    result = read_call(target, tenant, number, budget_s)[1]
    assert result is not None
    return result


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
    return script.run(
        _converse, argv, what="caller lookup", stdin_fd=stdin_fd, stdout_fd=stdout_fd, environ=environ,
        database_url=database_url, deadline_s=deadline_s, elapsed_s=elapsed_s, clock=clock,
    )  # fmt: skip


def _converse(
    session: AgiSession,
    argv: Sequence[str],
    env: Mapping[str, str],
    database_url: str | None,
    deadline: float,
    clock: Callable[[], float],
) -> Outcome:
    tenant = script.tenant_of(session, argv, "caller lookup")
    if tenant is None:
        return Outcome.NO_TENANT
    number = argv[1] if len(argv) > 1 else session.env.get("agi_callerid", "")
    session.set_variable(names.VAR_TENANT, tenant)

    # anonymous, unknown, empty, or presentation restricted (CLIR): nothing to look up in the directory; the
    # tenant's incidents are announced to them all the same
    withheld = is_withheld(number, session.env.get("agi_callingpres", ""))
    if withheld:
        session.set_variable(names.VAR_VIP, "0")
    url = database_url if database_url is not None else env.get(DATABASE_URL_ENV, "")
    if not url:
        log.warning("caller lookup: %s is not set: UHD_TENANT only", DATABASE_URL_ENV)
        return Outcome.WITHHELD if withheld else Outcome.DATABASE_ERROR
    budget = deadline - SET_RESERVE_S - clock()
    if budget <= 0:
        log.warning("caller lookup: no time left for the directory: UHD_TENANT only")
        return Outcome.WITHHELD if withheld else Outcome.TIMEOUT
    read = _read(url, tenant, None if withheld else number, budget)
    if isinstance(read, Outcome):
        return Outcome.WITHHELD if withheld else read
    facts, result = read
    for name, value in _incident_variables(facts):
        session.set_variable(name, value)
    if result is None:
        return Outcome.WITHHELD
    for name, value in variables_for(result):
        session.set_variable(name, value)
    return Outcome(result.kind)


def _read(
    url: str, tenant: str, number: str | None, budget: float
) -> tuple[CallerFacts, LookupResult | None] | Outcome:
    """The call's facts from the database, or the outcome that ends the lookup without them."""
    try:
        return read_call(target_of(url), tenant, number, budget)
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


def _incident_variables(facts: CallerFacts) -> list[tuple[str, str]]:
    """UHD_INCIDENT and UHD_INCIDENT_PROMPT when the tenant has open incidents; nothing when it has none."""
    if not facts.incidents:
        return []
    ids, prompts = announcement((row.id, row.prompt) for row in facts.incidents)
    return [(names.VAR_INCIDENT, ids), (names.VAR_INCIDENT_PROMPT, prompts)]


def build_parser() -> argparse.ArgumentParser:
    """The script's arguments (the same as ``uhd-telephony agi-lookup``'s)."""
    parser = argparse.ArgumentParser(prog="uhd-lookup.agi", description="Asterisk AGI: caller lookup")
    add_lookup_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dialplan/agi/uhd-lookup.agi``: always returns 0, within the deadline plus a margin (end the
    process with ``exit_now()`` afterwards)."""
    return script_main(
        "uhd-lookup.agi",
        build_parser(),
        lambda args, deadline_s, elapsed: run(lookup_argv(args), deadline_s=deadline_s, elapsed_s=elapsed),
        argv,
    )
