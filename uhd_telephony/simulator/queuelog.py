"""The queue_log the simulated PBX writes, as app_queue does (``queue_log = yes``, the default file format).

One line per queue happening, ``time|callid|queue|agent|event|data1|data2|…`` with whole epoch seconds, the caller
channel's Uniqueid as ``callid`` and the member name as ``agent`` (``NONE`` where no member is involved). The lines
and their data are those of a real Asterisk 22 (tests/data/queue-log/README.md): ENTERQUEUE ``url|callerid|position``,
CONNECT ``holdtime|bridged-uniqueid|ringtime``, COMPLETEAGENT / COMPLETECALLER ``holdtime|calltime|origposition``,
ABANDON, EXITWITHTIMEOUT and EXITEMPTY ``position|origposition|waittime``, BLINDTRANSFER
``extension|context|holdtime|calltime|origposition``, RINGNOANSWER and RINGCANCELED ``ringtime`` in milliseconds.
A refused join (JOINEMPTY) writes nothing, as app_queue does not.

Each line is flushed as it is written: a service reading the file (the queue_log backfill) sees what Asterisk
would have written by then, and a last line is never half there.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO


class QueueLog:
    """An append-only queue_log file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = self.path.open("ab")
        self.lines = 0

    def write(self, now: float, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        if self._file is None:
            return
        fields = [str(int(now)), callid or "NONE", queue, agent or "NONE", event, *(_field(d) for d in data)]
        self._file.write(("|".join(fields) + "\n").encode("utf-8"))
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _field(value: object) -> str:
    # a caller ID cannot break the line: app_queue writes what the channel has, we keep the format readable
    return str(value).replace("|", " ").replace("\n", " ").replace("\r", " ")
