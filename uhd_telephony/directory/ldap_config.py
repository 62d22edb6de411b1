"""The tenants' LDAP / Active Directory sources: where each is, how to bind, what to read, how attributes map.

One YAML file (``UHD_LDAP_CONFIG``; ``examples/ldap.example.yaml``) holds a block per tenant, keyed by its slug.
``type`` (``ad`` or ``openldap``) fills in what a block leaves out:

==============  =============================================  ==============================================
                ad                                             openldap
==============  =============================================  ==============================================
filter          ``(&(objectCategory=person)(objectClass=user))``  ``(objectClass=inetOrgPerson)``
key             ``objectGUID`` (binary, read as a GUID)        ``entryUUID``
name            displayName, else cn                           displayName, else cn
department      department                                     departmentNumber, else ou
location        physicalDeliveryOfficeName                     physicalDeliveryOfficeName, else roomNumber
email           mail                                           mail
phones          desk: telephoneNumber, mobile: mobile, extension: ipPhone (both)
disabled        userAccountControl with bit 2 (ACCOUNTDISABLE)  pwdAccountLockedTime present (ppolicy)
==============  =============================================  ==============================================

The key is what the directory's ``external_id`` becomes: it must never change for a person, which a GUID does
not (``sAMAccountName`` or ``uid`` do on a marriage). ``attributes`` replaces single fields of the map
(``phones`` kind by kind). The bind password never stands in the file: ``bind_password_env`` names an
environment variable, ``bind_password_file`` a file (a Docker or systemd secret).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from uhd_telephony.directory.records import PhoneKind
from uhd_telephony.errors import ConfigError, DirectorySourceError
from uhd_telephony.tenant import is_tenant

Flavour = Literal["ad", "openldap"]
# an attribute description as LDAP names it: a name (letters, digits, hyphens) or a numeric OID
AttrName = Annotated[str, StringConstraints(pattern=r"^(?:[A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(?:\.[0-9]+)+)$")]
Attrs = tuple[AttrName, ...]
ACCOUNTDISABLE = 2  # the bit of AD's userAccountControl that marks a disabled account
_BLOCK_FIELDS = ("filter", "key", "attributes", "disabled")

PHONES_DEFAULT: dict[str, list[str]] = {
    PhoneKind.DESK: ["telephoneNumber"],
    PhoneKind.MOBILE: ["mobile"],
    PhoneKind.EXTENSION: ["ipPhone"],
}
PRESETS: dict[str, dict[str, Any]] = {
    "ad": {
        # objectCategory=person leaves out computer accounts (objectClass user too) and contacts
        "filter": "(&(objectCategory=person)(objectClass=user))",
        "key": "objectGUID",
        "attributes": {
            "name": ["displayName", "cn"],
            "department": ["department"],
            "location": ["physicalDeliveryOfficeName"],
            "email": ["mail"],
            "phones": PHONES_DEFAULT,
        },
        "disabled": {"attribute": "userAccountControl", "bit": ACCOUNTDISABLE},
    },
    "openldap": {
        "filter": "(objectClass=inetOrgPerson)",
        "key": "entryUUID",
        "attributes": {
            "name": ["displayName", "cn"],
            "department": ["departmentNumber", "ou"],
            "location": ["physicalDeliveryOfficeName", "roomNumber"],
            "email": ["mail"],
            "phones": PHONES_DEFAULT,
        },
        # the ppolicy overlay's lock; without the overlay no entry has it
        "disabled": {"attribute": "pwdAccountLockedTime"},
    },
}


class DisabledRule(BaseModel):
    """When an entry is a disabled account: a bit of a number set, one of some values, or the attribute present."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: AttrName
    bit: int | None = Field(default=None, ge=1, description="disabled when this bit of the number is set")
    values: tuple[str, ...] = Field(default=(), description="disabled when the attribute has one of these")

    @model_validator(mode="after")
    def _one_way(self) -> DisabledRule:
        if self.bit is not None and self.values:
            raise ValueError("give either bit or values, not both")
        return self

    def matches(self, values: Sequence[str]) -> bool:
        """Whether an entry whose attribute has ``values`` is disabled."""
        if not values:
            return False
        if self.bit is not None:
            bit = self.bit
            return any(value.strip().lstrip("-").isdigit() and int(value) & bit for value in values)
        if self.values:
            wanted = {value.casefold() for value in self.values}
            return any(value.strip().casefold() in wanted for value in values)
        return True


class AttributeMap(BaseModel):
    """Which LDAP attributes fill which directory field: the first one an entry has wins (phones: every value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Attrs = Field(min_length=1)
    department: Attrs = ()
    location: Attrs = ()
    email: Attrs = ()
    phones: dict[PhoneKind, Attrs] = Field(default_factory=dict)

    def names(self) -> set[str]:
        """Every attribute the map reads."""
        found = {*self.name, *self.department, *self.location, *self.email}
        for attrs in self.phones.values():
            found.update(attrs)
        return found


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class LdapSource(BaseModel):
    """One tenant's directory server and what to read from it; ``type`` fills in what is left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Flavour
    url: tuple[NonEmpty, ...] = Field(min_length=1, description="ldap:// or ldaps:// URLs, tried in order")
    start_tls: bool = False
    ca_file: NonEmpty | None = None
    bind_dn: NonEmpty | None = None
    bind_password_env: NonEmpty | None = None
    bind_password_file: NonEmpty | None = None
    base_dn: NonEmpty
    filter: NonEmpty
    scope: Literal["subtree", "one"] = "subtree"
    key: AttrName
    attributes: AttributeMap
    disabled: DisabledRule | None
    require_number: bool = True
    min_share: float = Field(default=0.5, ge=0, le=1)
    page_size: int = Field(default=500, ge=1, le=10_000)
    max_entries: int = Field(default=200_000, ge=1)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    interval_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """The type's defaults under what the block gives; ``attributes`` field by field, phones kind by kind."""
        if not isinstance(data, dict):
            return data
        if data.get("type") not in PRESETS:  # said once, not as every field the type would have filled in
            raise ValueError(f"type must be ad or openldap, got {data.get('type')!r}")
        preset = PRESETS[data["type"]]
        merged = {**{name: preset[name] for name in _BLOCK_FIELDS if name not in data}, **data}
        given = data.get("attributes")
        if isinstance(given, dict):
            attributes = {**preset["attributes"], **given}
            if isinstance(given.get("phones"), dict):
                attributes["phones"] = {**preset["attributes"]["phones"], **given["phones"]}
            merged["attributes"] = attributes
        return merged

    @field_validator("url", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _ldap_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
                raise ValueError(f"{url!r} is not an ldap:// or ldaps:// URL with a host")
            if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
                raise ValueError(f"{url!r}: give only scheme, host and port (base DN and filter are settings)")
        return urls

    @model_validator(mode="after")
    def _consistent(self) -> LdapSource:
        if self.start_tls and any(url.lower().startswith("ldaps:") for url in self.url):
            raise ValueError("start_tls is for ldap:// URLs; an ldaps:// URL is TLS from the first byte")
        passwords = (self.bind_password_env is not None) + (self.bind_password_file is not None)
        if self.bind_dn is not None and passwords != 1:
            raise ValueError("bind_dn needs exactly one of bind_password_env and bind_password_file")
        if self.bind_dn is None and passwords:
            raise ValueError("a bind password without bind_dn")
        return self

    def attribute_names(self) -> list[str]:
        """The attributes a search asks for: the key, the map's, the disabled rule's."""
        names = {self.key, *self.attributes.names()}
        if self.disabled is not None:
            names.add(self.disabled.attribute)
        return sorted(names, key=str.lower)

    def password(self) -> str | None:
        """The bind password from its environment variable or file; None for an anonymous bind."""
        if self.bind_password_env is not None:
            value = os.environ.get(self.bind_password_env)
            if not value:
                raise DirectorySourceError(
                    f"the LDAP bind password's environment variable {self.bind_password_env} is not set",
                    {"variable": self.bind_password_env},
                )
            return value
        if self.bind_password_file is not None:
            try:
                value = Path(self.bind_password_file).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise DirectorySourceError(
                    f"cannot read the LDAP bind password file {self.bind_password_file}: "
                    f"{getattr(exc, 'strerror', None) or exc}",
                    {"file": self.bind_password_file},
                ) from None
            if not value:
                raise DirectorySourceError(f"the LDAP bind password file {self.bind_password_file} is empty")
            return value
        return None

    def interval(self, default_s: float) -> float:
        """Seconds between the service's syncs of this source (0: never by itself)."""
        return default_s if self.interval_s is None else self.interval_s


def parse_sources(data: Any, name: str = "the LDAP configuration") -> dict[str, LdapSource]:
    """The sources of a loaded YAML document: a mapping of tenant slug to block; ConfigError naming every problem."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{name}: expected a mapping of tenant to its LDAP source, got {type(data).__name__}")
    sources: dict[str, LdapSource] = {}
    problems: list[str] = []
    for tenant, block in data.items():
        if not isinstance(tenant, str) or not is_tenant(tenant):
            problems.append(f"{tenant!r} is not a tenant slug")
            continue
        try:
            sources[tenant] = LdapSource.model_validate(block)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(f"{tenant}: {where}: {message}" if where else f"{tenant}: {message}")
    if problems:
        raise ConfigError(f"{name}: " + "; ".join(problems), {"problems": problems})
    return sources


def load_sources(path: str | os.PathLike[str]) -> dict[str, LdapSource]:
    """Read the LDAP sources file (``UHD_LDAP_CONFIG``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the LDAP configuration {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the LDAP configuration {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_sources(data, str(path))


def source_of(sources: Mapping[str, LdapSource], tenant: str, path: str | os.PathLike[str]) -> LdapSource:
    """The tenant's block; ConfigError when the file has none."""
    source = sources.get(tenant)
    if source is None:
        raise ConfigError(f"the LDAP configuration {path} has no source for tenant {tenant!r}", {"tenant": tenant})
    return source
