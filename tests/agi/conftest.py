"""Scripted AGI sessions: the agi_* header Asterisk sends, a reply per command, what the script sent back."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.directory_data import phone, user
from uhd_telephony.agi.lookup import Outcome, run
from uhd_telephony.directory.records import Place, User
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "dialplan" / "agi" / "uhd-lookup.agi"
TENANT = "klinikum-nord"
OK = b"200 result=1\n"
_COMMAND = re.compile(r'^SET VARIABLE "([^"]+)" "((?:[^"\\]|\\.)*)"$')


def header(callerid: str | bytes = "+4923198600001", name: str | bytes = "Dr. Meier", *args: str) -> bytes:
    """The agi_* lines res_agi writes before the first command, ending in a blank line."""

    def enc(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode()

    lines = [
        b"agi_request: uhd-lookup.agi",
        b"agi_channel: PJSIP/trunk-00000007",
        b"agi_language: en",
        b"agi_type: PJSIP",
        b"agi_uniqueid: 1795733173.14",
        b"agi_version: 22.8.2",
        b"agi_callerid: " + enc(callerid),
        b"agi_calleridname: " + enc(name),
        b"agi_callingpres: 0",
        b"agi_dnid: +4923198605000",
        b"agi_context: uhd-hotline",
        b"agi_extension: open",
        b"agi_priority: 7",
        b"agi_enhanced: 0.0",
        b"agi_accountcode: ",
        b"agi_threadid: 140234",
    ]
    lines += [f"agi_arg_{n}: {arg}".encode() for n, arg in enumerate(args, 1)]
    return b"\n".join(lines) + b"\n\n"


@dataclass
class Transcript:
    """What one scripted session produced."""

    outcome: Outcome | None
    lines: list[str]
    elapsed_s: float
    returncode: int | None = None
    stderr: str = ""

    @property
    def variables(self) -> dict[str, str]:
        """The SET VARIABLEs sent, unescaped, in order (later wins)."""
        out: dict[str, str] = {}
        for line in self.lines:
            match = _COMMAND.match(line)
            assert match is not None, f"not a SET VARIABLE: {line!r}"
            out[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2))
        return out

    @property
    def names(self) -> list[str]:
        return list(self.variables)


def converse(
    stdin: bytes,
    argv: Sequence[str],
    *,
    database_url: str | None = None,
    deadline_s: float = 0.5,
    runner: Callable[..., Outcome] = run,
) -> Transcript:
    """Run the lookup (or another script's ``run``) in this process over pipes pre-filled with ``stdin`` (header
    and replies, then EOF)."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(in_w, stdin)  # small: fits the pipe buffer
        os.close(in_w)
        in_w = -1
        started = time.monotonic()
        outcome = runner(
            argv, stdin_fd=in_r, stdout_fd=out_w, environ={}, database_url=database_url, deadline_s=deadline_s
        )
        elapsed = time.monotonic() - started
        os.close(out_w)
        out_w = -1
        chunks = []
        while chunk := os.read(out_r, 65536):
            chunks.append(chunk)
    finally:
        for fd in (in_r, in_w, out_r, out_w):
            if fd >= 0:
                os.close(fd)
    return Transcript(outcome, b"".join(chunks).decode().splitlines(), elapsed)


async def converse_async(stdin: bytes, argv: Sequence[str], **kwargs: object) -> Transcript:
    """``converse`` from an async test: in a worker thread, where the lookup runs its own event loop."""
    return await asyncio.to_thread(converse, stdin, argv, **kwargs)  # type: ignore[arg-type]


async def run_script(
    argv: Sequence[str],
    head: bytes,
    *,
    env: dict[str, str],
    replies: Sequence[bytes | None] = (),
    timeout_s: float = 10.0,
    script: Path = SCRIPT,
) -> Transcript:
    """Run dialplan/agi/uhd-lookup.agi (or ``script``) as Asterisk does: a process, the header, then one reply per
    command.

    ``replies[n]`` answers the n-th command (``None``: close stdin, as a hang-up does); past the list, ``200
    result=1``. The venv's python is first on PATH, as asterisk/Dockerfile puts its venv.
    """
    full_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        **env,
    }
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(script),
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
        cwd=str(ROOT),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(timeout_s):
        proc.stdin.write(head)
        await proc.stdin.drain()
        while line := await proc.stdout.readline():
            lines.append(line.decode().rstrip("\n"))
            reply = replies[len(lines) - 1] if len(lines) <= len(replies) else OK
            if proc.stdin.is_closing():
                continue
            if reply is None:
                proc.stdin.close()
                continue
            try:
                proc.stdin.write(reply)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
        stderr = await proc.stderr.read()
        returncode = await proc.wait()
    if not proc.stdin.is_closing():
        proc.stdin.close()
    return Transcript(None, lines, time.monotonic() - started, returncode, stderr.decode())


@dataclass
class Seeded:
    """A migrated database with the directory of the tests below."""

    url: str
    ids: dict[str, int]


async def seed(
    url: str, users: Sequence[User] = (), places: Sequence[Place] = (), tenant: str = TENANT
) -> dict[str, int]:
    """Store ``users`` and ``places`` of ``tenant``; their ids by external_id."""
    await migrate(url)
    db = Database(url)
    try:
        repo = DirectoryRepository(db)
        await repo.upsert(tenant, users, places)
        ids = {}
        for entry in users:
            stored = await repo.get_user_by_external_id(tenant, entry.external_id)
            assert stored is not None and stored.id is not None
            ids[entry.external_id] = stored.id
    finally:
        await db.close()
    return ids


MUELLER = user("P-1", "Jürgen Müller", phone("0231 9860572"), department="Kardiologie")
CHEFARZT = user("P-2", 'Prof. Dr. Hans "Hansi" Weber', phone("0231 9860100"), vip=True)


@pytest.fixture
async def directory(db_url: str) -> AsyncIterator[Seeded]:
    """Müller (a desk phone) and a VIP in klinikum-nord; Müller's number belongs to someone else in klinikum-sued."""
    ids = await seed(db_url, [MUELLER, CHEFARZT])
    await seed(
        db_url, [user("S-9", "Someone Else", phone("0231 9860572"), tenant="klinikum-sued")], tenant="klinikum-sued"
    )
    yield Seeded(db_url, ids)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connecting is refused


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung database server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
