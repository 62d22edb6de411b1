"""One import record (a CSV row or a JSON object) validated with Pydantic, numbers normalised on the way.

A record is a user (``type`` user, the default) or a place (``type`` place). Phone numbers come either in the
``phones`` field (``"0231 9860572; mobile:0171 2345678"``, or a JSON list of ``{"kind", "number"}``) or in one
field per kind (``phone``/``desk``, ``mobile``, ``dect``, ``extension``, ``fax``, ``home``, ``shared``,
``other``), each holding one or several numbers separated by ``;`` or ``,``. Numbers are text, never JSON
numbers: a number loses its leading 0 and its +.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, PhoneKind, Place, Role, User

# field name (and its German spelling in HR exports) -> the phone kind its numbers get; None: the record's
# default, desk for a user and shared for a place (the "phone" of a ward is the ward's shared phone)
KIND_FIELDS: dict[str, str | None] = {
    "phone": None,
    "telefon": None,
    "tel": None,
    "desk": PhoneKind.DESK,
    "mobile": PhoneKind.MOBILE,
    "mobil": PhoneKind.MOBILE,
    "handy": PhoneKind.MOBILE,
    "dect": PhoneKind.DECT,
    "extension": PhoneKind.EXTENSION,
    "nebenstelle": PhoneKind.EXTENSION,
    "durchwahl": PhoneKind.EXTENSION,
    "fax": PhoneKind.FAX,
    "home": PhoneKind.HOME,
    "shared": PhoneKind.SHARED,
    "other": PhoneKind.OTHER,
}
ROLE_ALIASES: dict[str, str] = {
    "arzt": Role.DOCTOR,
    "ärztin": Role.DOCTOR,
    "aerztin": Role.DOCTOR,
    "ärztlicher dienst": Role.DOCTOR,
    "pflege": Role.NURSING,
    "pflegedienst": Role.NURSING,
    "nurse": Role.NURSING,
    "verwaltung": Role.ADMINISTRATION,
    "admin": Role.ADMINISTRATION,
    "geschäftsführung": Role.MANAGEMENT,
    "medizintechnik": Role.MEDTECH,
    "sonstige": Role.OTHER,
}
_TRUE = frozenset({"1", "true", "yes", "y", "ja", "j", "x", "wahr"})
_FALSE = frozenset({"0", "false", "no", "n", "nein", "falsch", "-"})
_SPLIT = re.compile(r"[;,\n]")
_KIND_PREFIX = re.compile(r"^\s*([A-Za-z]+)\s*:\s*(.+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_RAW_NUMBER = 64

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _phone_items(value: Any, kind: str | None, default_kind: str) -> list[Any]:
    """The ``{"kind", "number"}`` items of one field's value; anything odd is passed on for Pydantic to reject."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = []
        for part in _SPLIT.split(value):
            part = part.strip()
            if not part:
                continue
            prefixed = _KIND_PREFIX.match(part) if kind is None else None
            if prefixed is not None and prefixed.group(1).lower() in KIND_FIELDS:
                named = KIND_FIELDS[prefixed.group(1).lower()] or default_kind
                items.append({"kind": named, "number": prefixed.group(2).strip()})
            else:
                items.append({"kind": kind or default_kind, "number": part})
        return items
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                out.append(item if "kind" in item else {"kind": kind or default_kind, **item})
            elif isinstance(item, str):
                out.extend(_phone_items(item, kind, default_kind))
            else:
                out.append({"kind": kind or default_kind, "number": item})
        return out
    return [{"kind": kind or default_kind, "number": value}]


class PhoneIn(BaseModel):
    """One number of a record; ``key`` is its normalised form in the tenant's numbering plan."""

    model_config = ConfigDict(extra="forbid")

    kind: PhoneKind
    number: str
    _key: str = PrivateAttr(default="")

    @field_validator("number", mode="before")
    @classmethod
    def _text_only(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or not isinstance(value, str):
            kind = info.data.get("kind", "phone")
            raise ValueError(f'{kind} number {value!r} must be text such as "0231 9860572", not a JSON number')
        value = value.strip()
        if not value:
            raise ValueError("empty phone number")
        if len(value) > MAX_RAW_NUMBER:
            raise ValueError(f"phone number longer than {MAX_RAW_NUMBER} characters")
        return value

    @model_validator(mode="after")
    def _normalise(self, info: ValidationInfo) -> PhoneIn:
        plan = (info.context or {}).get("plan") or NumberingPlan()
        key = plan.normalise(self.number)
        if key is None:
            raise ValueError(
                f"{self.kind.value} number {self.number!r} is neither a valid phone number in region "
                f"{plan.region} nor an extension (up to {plan.max_extension_length} digits, no leading 0)"
            )
        self._key = key
        return self

    def to_phone(self) -> Phone:
        return Phone(self.kind.value, self._key, self.number)


class RecordIn(BaseModel):
    """One user or place of an import file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["user", "place"] = "user"
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    name: Text200
    department: Text200 | None = None
    role: Role | None = None
    location: Text200 | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    vip: bool = False
    active: bool = True
    phones: list[PhoneIn] = []

    @model_validator(mode="before")
    @classmethod
    def _collect_phones(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # an empty value is no value, in a JSON object as in a CSV cell: the field's default applies
        data = {key: value for key, value in data.items() if not (isinstance(value, str) and not value.strip())}
        kind_of_record = str(data.get("type") or "user").strip().lower()
        default_kind = PhoneKind.SHARED if kind_of_record == "place" else PhoneKind.DESK
        phones = _phone_items(data.pop("phones", None), None, default_kind)
        for name, kind in KIND_FIELDS.items():
            if name in data:
                phones.extend(_phone_items(data.pop(name), kind, default_kind))
        data["phones"] = phones
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return ROLE_ALIASES.get(value, value) if value else None
        return value

    @field_validator("vip", "active", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"{value!r} is not a yes/no value (use 1/0, true/false, ja/nein or x)")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _place_has_no_person_fields(self) -> RecordIn:
        if self.type == "place" and (self.role is not None or self.email is not None or self.vip):
            raise ValueError("a place has no role, e-mail or VIP flag: leave them empty or make it a user")
        return self

    def to_record(self, tenant: str) -> User | Place:
        """The directory entry of this record, numbers normalised."""
        phones = tuple(p.to_phone() for p in self.phones)
        if self.type == "place":
            return Place(tenant, self.external_id, self.name, self.department, self.location, self.active, phones)
        return User(
            tenant,
            self.external_id,
            self.name,
            self.department,
            (self.role or Role.OTHER).value,
            self.location,
            self.email,
            self.vip,
            self.active,
            phones,
        )
