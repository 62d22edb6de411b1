"""Import users and places from CSV or JSON: every row validated first, then one transaction, or nothing.

CSV: a header line, then one row per user or place. The delimiter (``,``, ``;`` as German Excel writes it,
or tab) is taken from the header line; the text is UTF-8 (a BOM is fine), else Windows-1252 (Excel's "CSV"
on German Windows). Columns come in any order, case-insensitive, German names in brackets accepted too;
only ``external_id`` and ``name`` are required. The header of ``examples/users.example.csv``::

    type,external_id,name,department,role,location,email,vip,active,phone,mobile,dect,extension

=============  ==================================================================================
type           ``user`` (default) or ``place``: a ward, nurses' room or DECT pool with a shared phone
external_id    the key an import updates by, unique per tenant: HR or AD id [id, personalnummer]
name           "Dr. Jürgen Müller", "Station 3B Kardiologie"
department     "Kardiologie" [abteilung]
role           doctor, nursing, administration, controlling, management, medtech, it, other
               [rolle; also Arzt, Ärztin, Pflege, Verwaltung, ...]; users only
location       building / floor / room / ward, free text [standort]
email          users only [mail, e-mail]
vip, active    1/0, true/false, yes/no, ja/nein, x; vip users only; active defaults to 1 [aktiv]
phones         numbers, each optionally ``kind:number``: "0231 9860572; mobile:0171 2345678"
phone          numbers of the entry's own kind: desk for a user, shared for a place [telefon, tel]
desk, mobile,  numbers of that kind [mobil, handy; nebenstelle, durchwahl for extension]
dect,
extension,
fax, home,
shared, other
=============  ==================================================================================

Several numbers in one cell are separated by ``;`` or ``,`` (quote the cell when ``;`` is the delimiter).
A number with a leading 0 or + is a phone number in the tenant's region (default DE); digits without a
leading 0, up to 6 by default, are an internal extension (``4711``).

JSON: an array of objects with the same fields; numbers as strings, never JSON numbers (they lose the
leading 0 and +); ``phones`` also as a list of ``{"kind": "dect", "number": "4711"}``.

Every error of the file is reported with its line number, and nothing is written if there is one.
Importing the same file again changes nothing; a changed row updates its entry and replaces its numbers.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from tqdm import tqdm

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Place, User
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.directory.rows import KIND_FIELDS, RecordIn
from uhd_telephony.directory.sync import UpsertCounts
from uhd_telephony.errors import DirectoryError, ImportFailed
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = ("csv", "json")
COLUMN_ALIASES: dict[str, str] = {
    "id": "external_id",
    "personalnummer": "external_id",
    "abteilung": "department",
    "standort": "location",
    "rolle": "role",
    "mail": "email",
    "e_mail": "email",
    "aktiv": "active",
    "typ": "type",
}
COLUMNS = frozenset({*RecordIn.model_fields, *KIND_FIELDS})
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True, slots=True)
class ImportIssue:
    """One problem of an import file: the line it is on, the field, what is wrong."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}" if self.field else f"line {self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(slots=True)
class ParsedFile:
    """An import file read and validated: its users and places, or the issues that stop it."""

    format: Format
    rows: int = 0
    users: list[User] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did (or, with ``dry_run``, would do)."""

    tenant: str
    file: str
    format: Format
    rows: int
    users: UpsertCounts
    places: UpsertCounts
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "users": self.users.to_dict(),
            "places": self.places.to_dict(),
            "dry_run": self.dry_run,
        }


def detect_format(path: str | Path, fmt: str | None = None) -> Format:
    """``fmt`` if given, else the file's suffix (``.csv``, ``.json``)."""
    name = (fmt or Path(path).suffix.lstrip(".")).lower()
    for known in FORMATS:
        if name == known:
            return known
    raise ImportFailed(f"{path}: unknown format {name!r}: say --format csv or --format json", {"file": str(path)})


def decode(data: bytes) -> str:
    """UTF-8 (a BOM dropped), else Windows-1252: what Excel writes on German Windows."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFailed(
            f"line {line}: the file is neither UTF-8 nor Windows-1252 text", {"errors": [{"line": line}]}
        ) from exc


def _column(header: str) -> str:
    name = re.sub(r"[\s\-]+", "_", header.strip().lower())
    return COLUMN_ALIASES.get(name, name)


def _csv_rows(text: str, issues: list[ImportIssue]) -> Iterator[tuple[int, dict[str, Any]]]:
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            issues.append(ImportIssue(1, "", "empty file: expected a header line"))
            return
        columns: list[str | None] = []
        for title in header:
            name = _column(title)
            if name not in COLUMNS:
                issues.append(ImportIssue(1, title, f"unknown column (known: {', '.join(sorted(COLUMNS))})"))
                columns.append(None)
            elif name in columns:
                issues.append(ImportIssue(1, title, "column given twice"))
                columns.append(None)
            else:
                columns.append(name)
        for required in ("external_id", "name"):
            if required not in columns:
                issues.append(ImportIssue(1, required, "required column missing"))
        end = reader.line_num
        for cells in reader:
            # a quoted cell may span lines: a row starts on the line after the previous row ended
            line, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                issues.append(ImportIssue(line, "", f"{len(cells)} cells, but the header has {len(header)} columns"))
                continue
            yield line, {name: cell for name, cell in zip(columns, cells, strict=False) if name and cell.strip()}
    except csv.Error as exc:
        issues.append(ImportIssue(reader.line_num, "", f"unreadable CSV: {exc}"))


def _json_records(text: str, issues: list[ImportIssue]) -> Iterator[tuple[int, Any]]:
    """The elements of a top-level JSON array, each with the line it starts on (json.load cannot tell)."""
    decoder = json.JSONDecoder()
    line, seen = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, seen
        line += text.count("\n", seen, pos)
        seen = pos
        return line

    def skip(pos: int) -> int:
        match = _JSON_SPACE.match(text, pos)
        return match.end() if match else pos

    pos = skip(0)
    if text[pos : pos + 1] != "[":
        issues.append(ImportIssue(line_at(pos), "", "expected a JSON array of user and place objects"))
        return
    pos = skip(pos + 1)
    if text[pos : pos + 1] == "]":
        return
    try:
        while True:
            start = line_at(pos)
            value, pos = decoder.raw_decode(text, pos)
            yield start, value
            pos = skip(pos)
            if text[pos : pos + 1] == ",":
                pos = skip(pos + 1)
                continue
            if text[pos : pos + 1] == "]" and not text[skip(pos + 1) :]:
                return
            issues.append(ImportIssue(line_at(pos), "", "expected ',' or the closing ']' of the array"))
            return
    except json.JSONDecodeError as exc:
        issues.append(ImportIssue(exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})"))


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Any) -> str:
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def parse_text(
    text: str, fmt: Format, tenant: str, plan: NumberingPlan, *, progress: bool | None = None, name: str = ""
) -> ParsedFile:
    """Validate every record of an import text; pure (no database), so it can run in a worker thread."""
    parsed = ParsedFile(fmt)
    records = _csv_rows(text, parsed.issues) if fmt == "csv" else _json_records(text, parsed.issues)
    first_line: dict[tuple[str, str], int] = {}
    # disable=None: a bar on a terminal, nothing in CI logs or when the output is piped
    bar = tqdm(
        records,
        # a CSV row is (about) a line; a JSON object spans several, and how many is unknown
        total=(text.count("\n") or None) if fmt == "csv" else None,
        disable=None if progress is None else not progress,
        unit=" rows",
        desc=f"importing {name}".strip(),
        leave=False,
    )
    for line, data in bar:
        parsed.rows += 1
        if not isinstance(data, dict):
            parsed.issues.append(ImportIssue(line, "", f"expected an object, got {type(data).__name__}"))
            continue
        try:
            row = RecordIn.model_validate(data, context={"plan": plan})
        except ValidationError as exc:
            parsed.issues.extend(ImportIssue(line, _field(e["loc"]), _message(e)) for e in exc.errors())
            continue
        key = (row.type, row.external_id)
        if key in first_line:
            parsed.issues.append(
                ImportIssue(line, "external_id", f"{row.external_id!r} is already on line {first_line[key]}")
            )
            continue
        first_line[key] = line
        record = row.to_record(tenant)
        if isinstance(record, Place):
            parsed.places.append(record)
        else:
            parsed.users.append(record)
    bar.close()
    parsed.issues.sort(key=lambda issue: issue.line)
    return parsed


def parse_file(
    path: str | Path, tenant: str, plan: NumberingPlan, fmt: str | None = None, *, progress: bool | None = None
) -> ParsedFile:
    """Read, decode and validate an import file."""
    kind = detect_format(path, fmt)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot read: {exc.strerror or exc}", {"file": str(path)}) from exc
    try:
        text = decode(data)
    except ImportFailed as exc:
        raise ImportFailed(f"{path}: {exc.message}", {"file": str(path), **exc.details}) from exc
    return parse_text(text, kind, tenant, plan, progress=progress, name=Path(path).name)


async def import_file(
    db: Database,
    path: str | Path,
    tenant: str,
    *,
    fmt: str | None = None,
    region: str | None = None,
    extension_prefix: str | None = None,
    max_extension_length: int | None = None,
    deactivate_missing: bool = False,
    dry_run: bool = False,
    progress: bool | None = None,
) -> ImportSummary:
    """Import a CSV/JSON file into ``tenant``'s directory; raises ImportFailed listing every issue, writing nothing.

    ``region``, ``extension_prefix`` and ``max_extension_length`` change the tenant's stored numbering plan
    (in the same transaction); otherwise the stored plan (or the default: DE, 6-digit extensions) applies.
    """
    check_tenant(tenant, DirectoryError)
    repo = DirectoryRepository(db)
    stored = await repo.numbering(tenant)
    try:
        plan = NumberingPlan(
            region=(region or stored.region).upper(),
            # "" removes a stored block
            extension_prefix=stored.extension_prefix if extension_prefix is None else (extension_prefix or None),
            max_extension_length=stored.max_extension_length if max_extension_length is None else max_extension_length,
        )
    except ValueError as exc:
        raise DirectoryError(str(exc), {"tenant": tenant}) from exc
    # phonenumbers on 100,000 rows takes seconds: off the event loop
    parsed = await asyncio.to_thread(parse_file, path, tenant, plan, fmt, progress=progress)
    if parsed.issues:
        count = len(parsed.issues)
        lines = "\n".join(f"  {issue}" for issue in parsed.issues)
        raise ImportFailed(
            f"{path}: {count} error{'s' if count != 1 else ''}, nothing imported:\n{lines}",
            {"file": str(path), "errors": [issue.to_dict() for issue in parsed.issues]},
        )
    result = await repo.upsert(
        tenant,
        parsed.users,
        parsed.places,
        plan=plan if plan != stored else None,
        deactivate_missing=deactivate_missing,
        dry_run=dry_run,
    )
    return ImportSummary(tenant, str(path), parsed.format, parsed.rows, result.users, result.places, dry_run)
