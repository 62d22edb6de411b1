"""Caller-ID lookup at hospital-group scale: index load time and per-lookup latency, against baselines.

    python bench/directory_lookup.py [--users 100000] [--lookups 100000] [--database-url URL] [--seed 1]

Writes ``--users`` users (desk number each, most with a mobile, half with a DECT extension, some sharing a
desk line) and a place per 50 users into one tenant through ``DirectoryRepository.upsert`` (the import's
write path; then once more, which must change nothing), into a fresh SQLite file or the given PostgreSQL
database (the bench tenant's rows are deleted first).
Then it measures:

- load: ``DirectoryIndex.load`` against a baseline that only SELECTs the same rows;
- lookup: ``DirectoryIndex.lookup`` on caller IDs in mixed spellings (``0231/98 60 572``, ``+49 231 ...``,
  ``0049 ...``, ``(0231) 98-60-572``, extensions) including misses and anonymous callers, each timed alone,
  against a baseline of ``normalise`` alone (the phonenumbers parse every lookup starts with).

The target is a p99 under 1 ms per lookup at 100,000 users.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, select

from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.directory.models import NUMBERING, PHONES, PLACES, USERS
from uhd_telephony.directory.numbers import NumberingPlan, normalise
from uhd_telephony.directory.records import Phone, Place, User
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

TENANT = "bench-klinikum"
PLAN = NumberingPlan("DE", extension_prefix="+49231986")
# (area code, subscriber digits): numbers phonenumbers accepts as valid German landlines and mobiles
AREAS = [("231", 7), ("30", 8), ("221", 7), ("89", 8), ("40", 8)]
MOBILES = [("151", 8), ("171", 7), ("160", 7)]
NAMES = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"]
FIRST = ["Jürgen", "Sabine", "Thomas", "Petra", "Anna", "Klaus", "Eva", "Mehmet", "Lena", "Olaf"]
ROLES = ["doctor", "nursing", "administration", "controlling", "it", "other"]


def subscriber(rng: random.Random, digits: int) -> str:
    return str(rng.randint(2, 9)) + "".join(rng.choice("0123456789") for _ in range(digits - 1))


def national(rng: random.Random, areas: list[tuple[str, int]]) -> tuple[str, str]:
    area, digits = rng.choice(areas)
    return area, subscriber(rng, digits)


def spell(area: str, sub: str, style: int) -> str:
    """One number written the way a caller ID, Excel sheet or person would."""
    if style == 0:
        return f"0{area}/{sub[:2]} {sub[2:4]} {sub[4:]}"
    if style == 1:
        return f"+49 {area} {sub}"
    if style == 2:
        return f"0049 {area} {sub}"
    if style == 3:
        return f"(0{area}) {sub[:2]}-{sub[2:4]}-{sub[4:]}"
    return f"+49{area}{sub}"


def build(rng: random.Random, count: int) -> tuple[list[User], list[Place], list[tuple[str, str]], list[str]]:
    """Users and places, plus the (area, subscriber) numbers and extensions lookups will ask for."""
    users: list[User] = []
    numbers: list[tuple[str, str]] = []
    extensions: list[str] = []
    used: set[str] = set()

    def fresh(areas: list[tuple[str, int]]) -> tuple[str, str]:
        while True:
            area, sub = national(rng, areas)
            if area + sub not in used:
                used.add(area + sub)
                return area, sub

    for i in range(count):
        phones: list[Phone] = []
        # every 20th user shares the desk line of the user before (a secretaries' office): candidates
        area, sub = numbers[-1] if i % 20 == 19 else fresh(AREAS)
        numbers.append((area, sub))
        phones.append(Phone("desk", f"+49{area}{sub}", spell(area, sub, i % 5)))
        if rng.random() < 0.6:
            m_area, m_sub = fresh(MOBILES)
            numbers.append((m_area, m_sub))
            phones.append(Phone("mobile", f"+49{m_area}{m_sub}", spell(m_area, m_sub, 1)))
        if i % 2 == 0 and i // 2 < 89_999:
            ext = str(10_000 + i // 2)
            extensions.append(ext)
            phones.append(Phone("dect", f"ext:{ext}", ext))
        name = f"{rng.choice(FIRST)} {rng.choice(NAMES)}"
        users.append(
            User(TENANT, f"P-{i:06d}", name, f"Abteilung {i % 80}", rng.choice(ROLES), f"Haus {i % 7}", None,
                 i % 97 == 0, True, tuple(phones))
        )  # fmt: skip
    places = []
    for j in range(count // 50):
        area, sub = fresh(AREAS)
        numbers.append((area, sub))
        phone = Phone("shared", f"+49{area}{sub}", spell(area, sub, 0))
        ward = Place(TENANT, f"W-{j:05d}", f"Station {j}", f"Abteilung {j % 80}", f"Haus {j % 7}", True, (phone,))
        places.append(ward)
    return users, places, numbers, extensions


def queries(rng: random.Random, n: int, numbers: list[tuple[str, str]], extensions: list[str]) -> list[str]:
    """Caller IDs in mixed spellings: 75 % known numbers, 10 % extensions, 10 % misses, 5 % no number."""
    out: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.75:
            area, sub = rng.choice(numbers)
            out.append(spell(area, sub, rng.randrange(5)))
        elif roll < 0.85:
            out.append(rng.choice(extensions))
        elif roll < 0.95:
            area, sub = national(rng, AREAS)
            out.append(spell(area, sub, rng.randrange(5)))
        else:
            out.append(rng.choice(["anonymous", "<unknown>", "", "s", "Anonymous", "0800"]))
    return out


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return {"p50": pick(0.50), "p99": pick(0.99), "p99.9": pick(0.999), "max": ordered[-1] / 1000}


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    tmp = None
    url = args.database_url
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    await migrate(url)
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            for table in (PHONES, USERS, PLACES, NUMBERING):
                await conn.execute(delete(table).where(table.c.tenant == TENANT))
        users, places, numbers, extensions = build(rng, args.users)
        t0 = time.perf_counter()
        result = await DirectoryRepository(db).upsert(TENANT, users, places, plan=PLAN)
        write_s = time.perf_counter() - t0
        phones = sum(len(u.phones) for u in users) + len(places)
        print(f"database: {db.dialect}  users: {result.users.created:,}  places: {result.places.created:,}  "
              f"phones: {phones:,}  written in {write_s:.2f} s")  # fmt: skip
        t0 = time.perf_counter()
        again = await DirectoryRepository(db).upsert(TENANT, users, places, plan=PLAN)
        print(f"the same upsert again: {again.users.unchanged:,} users unchanged in {time.perf_counter() - t0:.2f} s")

        loads, baselines = [], []
        index = DirectoryIndex()
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            async with db.engine.connect() as conn:
                for table in (PHONES, USERS, PLACES):
                    (await conn.execute(select(table).where(table.c.tenant == TENANT))).all()
            baselines.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await index.load(db)
            loads.append(time.perf_counter() - t0)
        load_s, base_s = statistics.median(loads), statistics.median(baselines)
        print(f"load:   index {load_s:.2f} s   baseline SELECT of the rows {base_s:.2f} s   "
              f"ratio {load_s / base_s:.2f}")  # fmt: skip

        asked = queries(rng, args.lookups, numbers, extensions)
        lookup_ns: list[int] = []
        normalise_ns: list[int] = []
        kinds: dict[str, int] = {}
        clock = time.perf_counter_ns
        for raw in asked:
            t0 = clock()
            normalise(raw, "DE")
            normalise_ns.append(clock() - t0)
            t0 = clock()
            found = index.lookup(TENANT, raw)
            lookup_ns.append(clock() - t0)
            kinds[found.kind] = kinds.get(found.kind, 0) + 1
        lk, base = percentiles(lookup_ns), percentiles(normalise_ns)
        print(f"lookups: {len(asked):,}  results: {dict(sorted(kinds.items()))}")
        print("          " + "  ".join(f"{k:>8}" for k in lk) + "   (µs)")
        print("lookup    " + "  ".join(f"{v:8.1f}" for v in lk.values()))
        print("normalise " + "  ".join(f"{v:8.1f}" for v in base.values()))
        print(f"ratio p50 lookup/normalise {lk['p50'] / base['p50']:.2f}   "
              f"p99 target < 1000 µs: {'met' if lk['p99'] < 1000 else 'MISSED'}")  # fmt: skip
    finally:
        await db.close()
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="index loads to take the median of")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp directory")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
