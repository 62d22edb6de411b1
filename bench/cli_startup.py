"""Wall time of the CLI's read commands against bare Python importing SQLAlchemy's asyncio layer and aiosqlite.

    python bench/cli_startup.py [--runs 10] [--database-url URL]

Each figure is a whole process, as a shell runs it (start, imports, database, output): the baseline is
``python -c "import sqlalchemy.ext.asyncio, aiosqlite"``; the commands are ``uhd-telephony tenant list`` and
``uhd-telephony lookup`` (a caller the directory knows) on a SQLite file at the newest revision with a tenant and
the example users. Runs alternate between the baseline and the commands, so machine noise hits all of them; the
ratio is of the best runs (and, for reference, of the medians). Target: at most 1.5x. Bytecode is cached as in an
installed package (in a folder of the run's own, for the baseline too), unless --no-bytecode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.5


def command() -> list[str]:
    """How a user starts the CLI: the installed ``uhd-telephony`` script (else ``python -m uhd_telephony``)."""
    script = Path(sys.executable).with_name("uhd-telephony")
    if script.exists():
        return [str(script)]
    found = shutil.which("uhd-telephony")
    return [found] if found else [sys.executable, "-m", "uhd_telephony"]


def run(argv: list[str], env: dict[str, str], *, check: bool = True) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    if done.stderr.strip():
        raise SystemExit(f"{' '.join(argv)} wrote to stderr: {done.stderr.decode()[-2000:]}")
    return elapsed


def prepare(uhd: list[str], env: dict[str, str]) -> None:
    """A database at the newest revision with a tenant and the example users (the writing commands migrate)."""
    users = str(ROOT / "examples" / "users.example.csv")
    for argv in (
        ["tenant", "add", "klinikum-nord", "--name", "Klinikum Nord", "--hotline", "0231 990001=hotline"],
        ["import-users", users, "--tenant", "klinikum-nord", "--extension-prefix", "+49231986"],
    ):
        done = subprocess.run([*uhd, *argv], env=env, capture_output=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"preparing failed: {done.stderr.decode()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs of each (default 10)")
    parser.add_argument("--database-url", help="a database to use instead of a new SQLite file (it gets a tenant)")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep the environment's PYTHONDONTWRITEBYTECODE: this package compiled from source in every process",
    )
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    env = {**os.environ, "UHD_DATABASE_URL": url}
    env.pop("UHD_LOG_LEVEL", None)
    if not args.no_bytecode:
        # as installed: every module compiled once (pip does it), here into a cache of this run's own, for the
        # baseline's modules too, and not into the source tree
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = f"{tmp.name}/pycache"
    uhd = command()
    prepare(uhd, env)

    cases = {
        "baseline: python -c 'import sqlalchemy.ext.asyncio, aiosqlite'": [
            sys.executable,
            "-c",
            "import sqlalchemy.ext.asyncio, aiosqlite",
        ],
        "uhd-telephony tenant list": [*uhd, "tenant", "list"],
        "uhd-telephony lookup '0231 986 4711' --tenant klinikum-nord": [
            *uhd,
            "lookup",
            "0231 986 4711",
            "--tenant",
            "klinikum-nord",
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():  # one warm-up each: the page cache, compiled bytecode
        run(argv, env)
    for _ in range(args.runs):
        for name, argv in cases.items():
            times[name].append(run(argv, env))

    base_name = next(iter(cases))
    best_base, median_base = min(times[base_name]), statistics.median(times[base_name])
    bytecode = "compiled from source each time" if "PYTHONDONTWRITEBYTECODE" in env else "bytecode cached"
    print(f"{args.runs} runs each after one warm-up, alternating; {os.cpu_count()} CPUs; {bytecode}; {uhd[0]}")
    worst = 0.0
    for name, samples in times.items():
        best, median = min(samples), statistics.median(samples)
        line = f"{name:<64} best {best * 1000:7.1f} ms   median {median * 1000:7.1f} ms"
        if name != base_name:
            ratio = best / best_base
            worst = max(worst, ratio)
            line += f"   ratio best {ratio:.2f}x, median {median / median_base:.2f}x"
        print(line)
    verdict = "met" if worst <= TARGET else "NOT met"
    print(f"target: a read command at most {TARGET}x the baseline (best of {args.runs}): {verdict} ({worst:.2f}x)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
