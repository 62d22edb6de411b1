"""Debian's Chromium for the browser tests (Playwright with executable_path, never a browser download)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"


# no network but loopback here: keep Chromium from reaching out at start
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# browser tests are slow; without Chromium they are skipped (and CI, which allows no skip, fails)
needs_chromium = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists(CHROMIUM), reason="no chromium"),
]
