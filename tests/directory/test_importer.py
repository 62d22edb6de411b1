"""Imports from CSV and JSON: all errors with their lines and nothing written, or one idempotent upsert."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.directory_data import TENANT
from uhd_telephony.directory.importer import import_file, parse_text
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.directory.sync import UpsertCounts
from uhd_telephony.errors import ImportFailed
from uhd_telephony.store.db import Database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEADER = "external_id,name,department,role,location,email,vip,phone,mobile,dect,extension\n"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def test_the_example_files_import_and_match(db: Database) -> None:
    summary = await import_file(db, EXAMPLES / "users.example.csv", TENANT, extension_prefix="+49231986")
    assert (summary.rows, summary.users, summary.places) == (9, UpsertCounts(created=7), UpsertCounts(created=2))
    index = DirectoryIndex()
    await index.load(db)
    mueller = index.lookup(TENANT, "+49 231 9860572")
    assert mueller.user is not None and mueller.user.name == "Dr. Jürgen Müller" and mueller.user.vip
    assert index.lookup(TENANT, "0231 9864711").user.name == "Thomas Krüger"  # type: ignore[union-attr]
    assert index.lookup(TENANT, "0231 9864300").place.name == "Station 3B Kardiologie"  # type: ignore[union-attr]
    assert index.lookup(TENANT, "4731").kind == "candidates"
    # the JSON example describes a subset of the same people, partly with fewer details
    again = await import_file(db, EXAMPLES / "users.example.json", TENANT)
    assert again.users.created == 0 and again.places == UpsertCounts(unchanged=2)


async def test_reimporting_is_idempotent_and_a_changed_row_replaces_its_numbers(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    shutil.copy(EXAMPLES / "users.example.csv", path)
    await import_file(db, path, TENANT)
    repo = DirectoryRepository(db)
    before = await repo.get_user_by_external_id(TENANT, "P-10001")
    second = await import_file(db, path, TENANT)
    assert second.users == UpsertCounts(unchanged=7) and second.places == UpsertCounts(unchanged=2)
    assert await repo.get_user_by_external_id(TENANT, "P-10001") == before

    text = path.read_text(encoding="utf-8").replace("0231/98 60 572,0171 2345678", "0231 9860999,")
    path.write_text(text, encoding="utf-8")
    third = await import_file(db, path, TENANT)
    assert third.users == UpsertCounts(updated=1, unchanged=6)
    after = await repo.get_user_by_external_id(TENANT, "P-10001")
    assert after is not None and before is not None and after.id == before.id
    assert sorted((p.kind, p.number) for p in after.phones) == [("dect", "ext:4572"), ("desk", "+492319860999")]


async def test_a_file_with_errors_reports_every_line_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    rows = [
        "P-1,Jürgen Müller,Kardiologie,doctor,,,ja,0231 9860572,,,",  # line 2: fine
        "P-2,,Kardiologie,doctor,,,,0231 9860573,,,",  # line 3: no name
        "P-3,Sabine Weiß,,nurse,,,,0800,,,",  # line 4: not a number
        "P-4,Petra Hoffmann,,surgeon,,not-an-address,vielleicht,,,,",  # line 5: role, email, vip
        '"P-5","Anna ""Schröder""\nzweite Zeile",,,,,,,,,abc',  # lines 6-7: quoted name over two lines
        "P-1,Jürgen Müller (again),,,,,,,,,",  # line 8: duplicate key
        "P-6,Klaus Becker,,,,,,0231 9861000,,,,,,",  # line 9: too many cells
    ]
    path = write(tmp_path, "bad.csv", HEADER + "\n".join(rows) + "\n")
    with pytest.raises(ImportFailed) as caught:
        await import_file(db, path, TENANT)
    errors = caught.value.details["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (3, "name"),
        (4, "phones[0]"),
        (5, "role"),
        (5, "email"),
        (5, "vip"),
        (6, "phones[0]"),
        (8, "external_id"),
        (9, ""),
    ]
    message = caught.value.message
    assert "8 errors, nothing imported" in message
    assert "line 4: phones[0]: desk number '0800' is neither a valid phone number in region DE" in message
    assert "line 8: external_id: 'P-1' is already on line 2" in message
    assert caught.value.status_code == 400 and caught.value.error_id == "import-failed"
    assert await DirectoryRepository(db).count_users(TENANT) == 0


async def test_json_errors_carry_the_line_each_object_starts_on(db: Database, tmp_path: Path) -> None:
    records = [
        {"external_id": "P-1", "name": "Jürgen Müller", "phones": [{"kind": "desk", "number": "0231 9860572"}]},
        {"external_id": "P-2", "name": "Thomas Krüger", "extension": 4711},
        {"type": "place", "external_id": "W-1", "name": "Station 1", "vip": True},
        {"external_id": "P-3", "name": "Eva", "fax": ["0231 9860574", 231]},
        {"external_id": "P-4", "name": "Olaf", "shoe_size": "44"},
    ]
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, indent=2) for r in records) + "\n]\n"
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(ImportFailed) as caught:
        await import_file(db, path, TENANT)
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line == "{"]
    errors = caught.value.details["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (starts[1], "phones[0].number"),
        (starts[2], ""),
        (starts[3], "phones[1].number"),
        (starts[4], "shoe_size"),
    ]
    assert "must be text" in errors[0]["message"] and "a place has no role" in errors[1]["message"]
    assert await DirectoryRepository(db).count_users(TENANT) == 0


def test_broken_json_is_reported_with_its_line() -> None:
    plan = NumberingPlan()
    parsed = parse_text('[\n{"external_id": "P-1", "name": "A"},\n{"external_id": "P-2",,}\n]', "json", TENANT, plan)
    assert [(i.line, i.message.split(":")[0]) for i in parsed.issues] == [(3, "invalid JSON")]
    assert parse_text('{"users": []}', "json", TENANT, plan).issues[0].message.startswith("expected a JSON array")
    assert parse_text("[]", "json", TENANT, plan).issues == []


def test_csv_header_problems_are_reported_on_line_one() -> None:
    parsed = parse_text("id;Name;Abteilung;Handy;Schuhgröße\nP-1;A;B;0171 2345678;44\n", "csv", TENANT, NumberingPlan())
    assert [(i.line, i.field) for i in parsed.issues] == [(1, "Schuhgröße")]
    assert parsed.users[0].department == "B" and parsed.users[0].phones[0].kind == "mobile"
    missing = parse_text("name\nA\n", "csv", TENANT, NumberingPlan())
    assert [(i.line, i.field, i.message) for i in missing.issues] == [
        (1, "external_id", "required column missing"),
        (2, "external_id", "Field required"),
    ]


async def test_a_cp1252_excel_export_with_semicolons_imports(db: Database, tmp_path: Path) -> None:
    text = (
        "Personalnummer;Name;Abteilung;Rolle;Standort;Telefon;Mobil;Nebenstelle\r\n"
        "P-1;Jürgen Müller;Kardiologie;Arzt;Haus A, Raum 312;0231/98 60 572;;\r\n"
        'P-2;Sabine Weiß;Station 3B;Pflege;Haus A;"0231 9860573; 0231 9860574";0171 2345678;4731\r\n'
    )
    path = write(tmp_path, "export.csv", text, encoding="cp1252")
    summary = await import_file(db, path, TENANT)
    assert summary.users == UpsertCounts(created=2)
    repo = DirectoryRepository(db)
    weiss = await repo.get_user_by_external_id(TENANT, "P-2")
    assert weiss is not None and (weiss.name, weiss.role, weiss.location) == ("Sabine Weiß", "nursing", "Haus A")
    assert sorted(p.number for p in weiss.phones) == ["+491712345678", "+492319860573", "+492319860574", "ext:4731"]
    mueller = await repo.get_user_by_external_id(TENANT, "P-1")
    assert mueller is not None and mueller.name == "Jürgen Müller" and mueller.role == "doctor"
    # the same file as UTF-8 with a BOM is the same data: nothing to change
    write(tmp_path, "export.csv", "\ufeff" + text)
    assert (await import_file(db, path, TENANT)).users == UpsertCounts(unchanged=2)


async def test_region_and_block_are_stored_for_the_tenant(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "at.csv", "external_id,name,phone\nP-1,Maria Huber,01 5121000\n")
    with pytest.raises(ImportFailed):
        await import_file(db, path, "wien")  # in Germany 01 5121000 is no number
    await import_file(db, path, "wien", region="at")
    assert await DirectoryRepository(db).numbering("wien") == NumberingPlan("AT")
    index = DirectoryIndex()
    await index.load(db)
    assert index.lookup("wien", "01 5121000").user.name == "Maria Huber"  # type: ignore[union-attr]
    assert index.lookup("wien", "+43 1 5121000").kind == "user"
    # the stored plan applies to the next import; a block is set, then removed with ""
    await import_file(db, path, "wien", extension_prefix="+43151210")
    assert await DirectoryRepository(db).numbering("wien") == NumberingPlan("AT", "+43151210")
    await import_file(db, path, "wien", extension_prefix="")
    assert await DirectoryRepository(db).numbering("wien") == NumberingPlan("AT")


def test_a_progress_bar_on_request_and_none_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    text = HEADER + "".join(f"P-{i},User {i},,,,,,,,,{1000 + i}\n" for i in range(300))
    parsed = parse_text(text, "csv", TENANT, NumberingPlan(), progress=True, name="users.csv")
    assert len(parsed.users) == 300 and not parsed.issues
    assert "importing users.csv" in capsys.readouterr().err
    parse_text(text, "csv", TENANT, NumberingPlan(), name="users.csv")  # default: only on a TTY
    assert capsys.readouterr().err == ""
