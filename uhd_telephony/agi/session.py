"""One AGI conversation with Asterisk over stdin/stdout, on pyst2's ``asterisk.agi`` with its rough edges covered.

pyst2 0.5.1 (STYLE.md) writes ~13 debug lines per command to stderr, decodes stdin as strict UTF-8, raises
``ValueError`` on a ``HANGUP`` line or at EOF, and loops forever on a ``520`` reply followed by EOF. Here it gets:

- a discarding stderr;
- a reader of our own: whole lines, decoded UTF-8 with a cp1252 fallback, every wait bounded by the session's
  deadline (``DeadlineExceeded``), and ``CallerHungUp`` for a ``HANGUP`` line or EOF, wherever pyst2 is reading;
- a writer of our own: unbuffered ``os.write``, a closed pipe is ``CallerHungUp`` too.

So every way the caller can go away ends in one exception, ``CallerHungUp``, within the deadline.
"""

from __future__ import annotations

import os
import re
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from asterisk.agi import AGI, AGIHangup

# a line longer than this is not AGI: stop reading instead of growing a buffer without bound
MAX_LINE = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class CallerHungUp(Exception):
    """The caller (or Asterisk) went away: HANGUP line, EOF on stdin, a closed stdout, SIGHUP."""


class DeadlineExceeded(Exception):
    """The session's deadline passed while waiting for Asterisk."""


def decode_line(raw: bytes) -> str:
    """A line from Asterisk as text: UTF-8, else cp1252 (Latin-1 names from older systems)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def agi_quote(value: str) -> str:
    """``value`` for a quoted AGI argument: no control characters (a newline ends the command), ``\\`` and ``"``
    escaped (res_agi's parse_args unescapes them)."""
    text = _CONTROL.sub(" ", value).strip()
    return text.replace("\\", "\\\\").replace('"', '\\"')


class LineReader:
    """What pyst2 reads from: ``readline()`` on a file descriptor, bounded by a deadline."""

    def __init__(self, fd: int, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.fd = fd
        self.deadline = deadline
        self.clock = clock
        self._buffer = b""

    def readline(self) -> str:
        """The next line with its newline; ``CallerHungUp`` for ``HANGUP`` or EOF, ``DeadlineExceeded`` on time."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                line = decode_line(raw)
                # res_agi writes "HANGUP" when the channel hangs up (and sends SIGHUP); pyst2 would int("")
                if line.strip() == "HANGUP":
                    raise CallerHungUp("HANGUP from Asterisk")
                return line
            if len(self._buffer) > MAX_LINE:
                raise CallerHungUp(f"no line end within {MAX_LINE} bytes from Asterisk")
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                raise DeadlineExceeded("no reply from Asterisk before the deadline")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                raise DeadlineExceeded("no reply from Asterisk before the deadline")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                # EOF: Asterisk closed our stdin (hang-up, or a 520 usage reply cut short)
                raise CallerHungUp("EOF from Asterisk")
            self._buffer += chunk


class LineWriter:
    """What pyst2 writes commands to: buffered until ``flush()``, then written whole with ``os.write``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pending: list[str] = []

    def write(self, text: str) -> int:
        self._pending.append(text)
        return len(text)

    def flush(self) -> None:
        data = "".join(self._pending).encode("utf-8")
        self._pending.clear()
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except BrokenPipeError:
            raise CallerHungUp("Asterisk closed the AGI pipe") from None


class _Discard:
    """pyst2's stderr: its per-command debug lines go nowhere."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _PystAGI(AGI):
    """pyst2's AGI with our streams; SIGHUP and the header are the session's business."""

    def __init__(self, stdin: Any, stdout: Any, stderr: Any) -> None:
        # pyst2's own __init__ installs a SIGHUP handler unconditionally (which fails outside the main thread
        # and outlives the session) and reads the header at once; the rest of it is this
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._got_sighup = False
        self.env: dict[str, str] = {}


class AgiSession:
    """The AGI conversation: ``env`` (the ``agi_*`` header Asterisk sent), ``set_variable`` and ``get_variable``.

    Construction reads the header. From before that until ``close()`` (or the end of a ``with`` block) a SIGHUP
    handler (main thread only) turns Asterisk's hang-up signal into ``CallerHungUp`` at the next command instead
    of ending the process; then the previous handler comes back.
    """

    def __init__(self, reader: LineReader, writer: LineWriter) -> None:
        self._agi = _PystAGI(reader, writer, _Discard())
        self._previous_sighup: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sighup = signal.signal(signal.SIGHUP, self._agi._handle_sighup)
        try:
            self._agi._get_agi_env()
        except BaseException:
            self.close()
            raise
        self.env: dict[str, str] = dict(self._agi.env)

    def close(self) -> None:
        """Give SIGHUP back to whoever had it."""
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None

    def __enter__(self) -> AgiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_variable(self, name: str, value: str) -> None:
        """``SET VARIABLE name "value"``; a hang-up in any form is ``CallerHungUp``."""
        try:
            self._agi.set_variable(name, agi_quote(value))
        except AGIHangup as exc:
            raise CallerHungUp(str(exc) or type(exc).__name__) from None

    def get_variable(self, name: str) -> str:
        """``GET VARIABLE name``: its value, empty when it is not set; a hang-up in any form is ``CallerHungUp``
        (pyst2's own ``get_variable`` answers a ``200 result=1 (hangup)`` with the value "hangup")."""
        try:
            result = self._agi.execute("GET VARIABLE", self._agi._quote(name))
            return str(result["result"][1])
        except AGIHangup as exc:
            raise CallerHungUp(str(exc) or type(exc).__name__) from None

    def argument(self, index: int) -> str | None:
        """The script's ``index``-th argument as Asterisk announced it (``agi_arg_<n>``), or None."""
        return self.env.get(f"agi_arg_{index}")


def process_age_s(cap_s: float = 0.25) -> float:
    """How long ago this process started (Linux ``/proc/self/stat``), at most ``cap_s``; 0.0 where unknown.

    The deadline is Asterisk's: it counts from when Asterisk started the script, interpreter start-up included.
    The cap keeps an odd clock (a container's time namespace) from eating the whole budget.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in ticks since boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0
    return min(max(age, 0.0), cap_s)
