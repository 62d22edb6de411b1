"""``uhd-subscribe.agi``: the caller pressed the key during a major incident's announcement — tell them when it is
over. The dialplan (``[uhd-incident]``) runs ``AGI(uhd-subscribe.agi,<tenant>,${CHANNEL(linkedid)})``.

The incidents are the ones the lookup announced: the channel's ``UHD_INCIDENT`` (read with ``GET VARIABLE``, not
passed as arguments: its commas would split them). The caller's number is ``agi_callerid``; the directory says who
it is (``callerdb``, as the lookup reads it): the subscription keeps the number as the directory normalises it, the
user's name, mail and id for a caller it names, else the caller ID's name. ``incidents.phone.subscribe`` records it,
once per incident and number, for open incidents of that tenant only; then ``UHD_INCIDENT_SUBSCRIBED=1`` tells the
dialplan to confirm and hang up. Without it (no number, nothing open any more, the database away, past the
deadline) the dialplan sends the caller on to the queue: nobody leaves believing they will be told when they
will not.

The caller has just pressed a key and waits for the confirmation, so this script may take longer than the
lookup's 500 ms: it loads SQLAlchemy (~0.7 s) to record through the incidents' own function. Like the lookup it
never raises to Asterisk and always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from uhd_telephony.agi import script
from uhd_telephony.agi.callerdb import UnsupportedDatabase, fetch_directory, target_of
from uhd_telephony.agi.cli import SUBSCRIBE_DEADLINE_MS, add_subscribe_arguments, subscribe_argv
from uhd_telephony.agi.lookup import DATABASE_URL_ENV, SET_RESERVE_S, is_withheld
from uhd_telephony.agi.script import Outcome, script_main
from uhd_telephony.agi.session import AgiSession
from uhd_telephony.ami import names
from uhd_telephony.directory.lookup import TenantIndex

log = logging.getLogger("uhd_telephony.agi")

# what this script sets, for the dialplan test
SETS = (names.VAR_INCIDENT_SUBSCRIBED,)
MAX_INCIDENTS = 20  # ids read from UHD_INCIDENT: more is no announcement of ours
_ID = re.compile(r"[1-9][0-9]{0,17}")


def incident_ids(value: str) -> list[int]:
    """The incident ids of a ``UHD_INCIDENT`` value ("7,3"): whole positive numbers only, each once, in order."""
    out: list[int] = []
    for part in value.split(",")[:MAX_INCIDENTS]:
        part = part.strip()
        if _ID.fullmatch(part) and int(part) not in out:
            out.append(int(part))
    return out


async def record(
    url: str, tenant: str, ids: Sequence[int], raw_number: str, caller_name: str, linkedid: str | None, budget_s: float
) -> list[int]:
    """Look the caller up and subscribe them; the ids of the incidents they are subscribed to now."""
    directory = await fetch_directory(target_of(url), tenant, raw_number, budget_s)
    # only now, the key pressed: SQLAlchemy and the incidents' models
    from uhd_telephony.incidents.phone import subscribe, subscriber_of

    caller = subscriber_of(TenantIndex(directory).lookup(raw_number), raw_number, caller_name, linkedid)
    from uhd_telephony.store.db import Database

    timeout_ms = max(int(budget_s * 1000), 1)
    db = Database(url, pg_connect_timeout_s=budget_s, pg_command_timeout_s=budget_s, sqlite_busy_timeout_ms=timeout_ms)
    try:
        return await subscribe(db, tenant, ids, caller, datetime.now(UTC))
    finally:
        await db.close()


def _record_within(
    url: str, tenant: str, ids: Sequence[int], number: str, name: str, linkedid: str | None, budget_s: float
) -> list[int]:
    async def bounded() -> list[int]:
        async with asyncio.timeout(budget_s):
            return await record(url, tenant, ids, number, name, linkedid, budget_s)

    loop = asyncio.new_event_loop()  # not asyncio.run(): see lookup.read_call
    try:
        return loop.run_until_complete(bounded())
    finally:
        loop.close()


def run(
    argv: Sequence[str],
    *,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    environ: Mapping[str, str] | None = None,
    database_url: str | None = None,
    deadline_s: float = SUBSCRIBE_DEADLINE_MS / 1000,
    elapsed_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """One subscription over the AGI pipes; ``argv`` is ``[tenant]`` or ``[tenant, linkedid]``. Never raises."""
    return script.run(
        _converse, argv, what="incident subscription", stdin_fd=stdin_fd, stdout_fd=stdout_fd, environ=environ,
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
    tenant = script.tenant_of(session, argv, "incident subscription")
    if tenant is None:
        return Outcome.NO_TENANT
    linkedid = (argv[1] if len(argv) > 1 else session.argument(2)) or None
    number = session.env.get("agi_callerid", "")
    if is_withheld(number, session.env.get("agi_callingpres", "")):
        log.info("incident subscription: a withheld number cannot be told: on to the queue")
        return Outcome.NOT_SUBSCRIBED
    ids = incident_ids(session.get_variable(names.VAR_INCIDENT))
    if not ids:
        log.warning("incident subscription: no incident announced on this channel: on to the queue")
        return Outcome.NOT_SUBSCRIBED
    url = database_url if database_url is not None else env.get(DATABASE_URL_ENV, "")
    budget = deadline - SET_RESERVE_S - clock()
    if not url or budget <= 0:
        log.warning("incident subscription: no database or no time left: on to the queue")
        return Outcome.DATABASE_ERROR if not url else Outcome.TIMEOUT
    try:
        subscribed = _record_within(url, tenant, ids, number, session.env.get("agi_calleridname", ""), linkedid, budget)
    except TimeoutError:
        log.warning("incident subscription: the database did not answer within %.0f ms", budget * 1000)
        return Outcome.TIMEOUT
    except UnsupportedDatabase as exc:
        log.warning("incident subscription: %s", exc)
        return Outcome.DATABASE_ERROR
    except Exception as exc:  # asyncpg / sqlite3 / SQLAlchemy errors of every kind: the caller goes to the queue
        log.warning("incident subscription: not recorded (%s): on to the queue", type(exc).__name__)
        log.debug("subscription error", exc_info=True)
        return Outcome.DATABASE_ERROR
    if not subscribed:
        log.info("incident subscription: none of %s is open in %s any more: on to the queue", ids, tenant)
        return Outcome.NOT_SUBSCRIBED
    session.set_variable(names.VAR_INCIDENT_SUBSCRIBED, "1")
    return Outcome.SUBSCRIBED


def build_parser() -> argparse.ArgumentParser:
    """The script's arguments (the same as ``uhd-telephony agi-subscribe``'s)."""
    parser = argparse.ArgumentParser(prog="uhd-subscribe.agi", description="Asterisk AGI: incident subscription")
    add_subscribe_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dialplan/agi/uhd-subscribe.agi``: always returns 0 (then ``exit_now()``)."""
    return script_main(
        "uhd-subscribe.agi",
        build_parser(),
        lambda args, deadline_s, elapsed: run(subscribe_argv(args), deadline_s=deadline_s, elapsed_s=elapsed),
        argv,
    )
