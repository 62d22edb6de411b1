"""What the AGI scripts share: how a conversation ends (``Outcome``), the guard that turns every way it can end into
one of them (``run``), and the process's frame (``script_main``: a deadline with a SIGALRM backstop, exit 0).

Asterisk waits for a script's exit before the dialplan goes on, and a script that fails or hangs must never fail or
hold up the call: every script here answers within its deadline, never raises to Asterisk and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from asterisk.agi import AGIException

from uhd_telephony.agi.session import (
    AgiSession,
    CallerHungUp,
    DeadlineExceeded,
    LineReader,
    LineWriter,
    process_age_s,
)
from uhd_telephony.errors import DirectoryError
from uhd_telephony.tenant import check_tenant

log = logging.getLogger("uhd_telephony.agi")


class Outcome(StrEnum):
    """How one AGI conversation ended; the exit status is 0 for every one of them."""

    USER = "user"  # one user: UHD_USER_ID, UHD_USER_NAME, UHD_VIP (and QUEUE_PRIO for a VIP)
    PLACE = "place"  # a ward / shared phone: UHD_VIP=0
    CANDIDATES = "candidates"  # several people share the number: UHD_VIP=0, the screen-pop lists them
    UNKNOWN = "unknown"  # nobody has it: UHD_VIP=0
    WITHHELD = "withheld"  # no number at all: UHD_VIP=0, nothing asked
    SUBSCRIBED = "subscribed"  # the subscription AGI: told when the incidents are over (UHD_INCIDENT_SUBSCRIBED=1)
    NOT_SUBSCRIBED = "not-subscribed"  # ... no open incident of the tenant among UHD_INCIDENT, or no number
    TIMEOUT = "timeout"  # the deadline passed: UHD_TENANT only
    DATABASE_ERROR = "database-error"  # unreachable, not migrated, no URL: UHD_TENANT only
    HANGUP = "hangup"  # the caller hung up on the way
    PROTOCOL_ERROR = "protocol-error"  # Asterisk refused a command (510/520)
    NO_TENANT = "no-tenant"  # called without a (valid) tenant: nothing set
    FAILED = "failed"  # a bug in this script, logged with its traceback


# what a script does on its session: (session, argv, environment, database URL or None, deadline, clock) -> outcome
Body = Callable[[AgiSession, Sequence[str], Mapping[str, str], str | None, float, Callable[[], float]], Outcome]


def run(
    body: Body,
    argv: Sequence[str],
    *,
    what: str,
    stdin_fd: int,
    stdout_fd: int,
    environ: Mapping[str, str] | None,
    database_url: str | None,
    deadline_s: float,
    elapsed_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Run ``body`` on one AGI session over the pipes, within ``deadline_s`` of the script's start (``elapsed_s``
    ago). Never raises: every way the conversation can end is an ``Outcome``."""
    env = os.environ if environ is None else environ
    deadline = clock() + deadline_s - elapsed_s
    reader = LineReader(stdin_fd, deadline, clock)
    writer = LineWriter(stdout_fd)
    try:
        with AgiSession(reader, writer) as session:
            return body(session, argv, env, database_url, deadline, clock)
    except (CallerHungUp, OSError) as exc:
        log.debug("caller hung up: %s", exc)
        return Outcome.HANGUP
    except DeadlineExceeded:
        log.warning("%s: no reply from Asterisk within %.0f ms", what, deadline_s * 1000)
        return Outcome.TIMEOUT
    except AGIException as exc:
        log.warning("%s: Asterisk refused a command: %s", what, str(exc).strip()[:200])
        return Outcome.PROTOCOL_ERROR
    except Exception:  # the edge to Asterisk: a bug here must not become a failed call
        log.exception("%s failed", what)
        return Outcome.FAILED


def tenant_of(session: AgiSession, argv: Sequence[str], what: str) -> str | None:
    """The script's tenant: its first argument (as given, else ``agi_arg_1``); None, logged, when it is no tenant
    (the script then sets nothing)."""
    tenant = ((argv[0] if argv else "") or session.argument(1) or "").strip()
    try:
        check_tenant(tenant, DirectoryError)
    except DirectoryError:
        log.warning("%s called without a valid tenant (%r): nothing set", what, tenant[:64])
        return None
    return tenant


# the backstop fires this long after the deadline, only when something blocked where no timeout reaches
BACKSTOP_S = 0.1


def _backstop(signum: int, frame: object) -> None:
    raise DeadlineExceeded("backstop: the script blocked past its deadline")


def script_main(
    prog: str,
    parser: argparse.ArgumentParser,
    start: Callable[[argparse.Namespace, float, float], object],
    argv: Sequence[str] | None = None,
) -> int:
    """A script's entry point: parse ``argv``, then ``start(args, deadline_s, elapsed_s)`` (``args.deadline_ms``
    from the script's start); always 0, within the deadline plus a margin.

    A SIGALRM backstop interrupts code no timeout reaches (a sqlite3 call on a hung disk); the caller should end the
    process with ``exit_now()``, which does not wait for a DNS lookup left running in a worker thread.
    """
    elapsed = process_age_s()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=f"{prog}: %(message)s")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit:  # a bad option: Asterisk still gets a clean exit
        return 0
    deadline_s = args.deadline_ms / 1000
    previous = signal.signal(signal.SIGALRM, _backstop)
    signal.setitimer(signal.ITIMER_REAL, max(deadline_s - elapsed, 0.0) + BACKSTOP_S)
    try:
        start(args, deadline_s, elapsed)
    except BaseException as exc:  # the backstop, or anything else: Asterisk gets exit status 0 all the same
        log.warning("%s stopped: %s", prog, exc or type(exc).__name__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return 0


def exit_now(status: int = 0) -> None:
    """End the process at once: everything was written unbuffered, and no thread may hold up the exit."""
    sys.stderr.flush()
    os._exit(status)
