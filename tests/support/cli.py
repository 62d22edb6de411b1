"""The ``uhd-telephony`` command as a user runs it: a real subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import asyncio
import os
import sys

# what the tests' own environment must not decide for the command (a developer's shell may set them)
_OWN = ("UHD_DATABASE_URL", "UHD_LOG_LEVEL", "UHD_NEW_PASSWORD", "UHD_DEFAULT_TENANT", "UHD_TENANT_NUMBERS",
        "UHD_TENANT_QUEUES")  # fmt: skip


async def uhd(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run ``python -m uhd_telephony ARGS`` with ``env`` over a clean copy of this process's environment."""
    base = {k: v for k, v in os.environ.items() if k not in _OWN}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    return proc.returncode or 0, out.decode(), err.decode()
