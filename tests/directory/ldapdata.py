"""Sources and people for the LDAP sync's tests against the real slapd (tests/support/slapd.py)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.slapd import READER, READER_PW, Slapd, ad_user, person
from uhd_telephony.directory.ldap_config import LdapSource

PASSWORD_ENV = "UHD_TEST_LDAP_PASSWORD"
PASSWORD = READER_PW  # the reader account's, given to the sources through PASSWORD_ENV
TENANT = "klinikum-nord"
OTHER = "klinikum-sued"


def block(slapd: Slapd, base: str, flavour: str = "openldap", **overrides: Any) -> dict[str, Any]:
    """A source's block as the YAML file has it: the test server, its reader account, ``base``."""
    return {
        "type": flavour,
        "url": slapd.url,
        "bind_dn": READER,
        "bind_password_env": PASSWORD_ENV,
        "base_dn": base,
        "timeout_s": 5,
        **overrides,
    }


def source(slapd: Slapd, base: str, flavour: str = "openldap", **overrides: Any) -> LdapSource:
    return LdapSource.model_validate(block(slapd, base, flavour, **overrides))


def staff(slapd: Slapd, ou: str, count: int, *, start: int = 0) -> list[str]:
    """``count`` OpenLDAP people with a desk number each (0231 98607xx...), their DNs."""
    dns = []
    for i in range(start, start + count):
        dn, classes, attributes = person(
            ou, f"p{i:04d}", f"Person {i:04d}", telephoneNumber=f"0231 986{7000 + i:04d}", mail=f"p{i}@example.org"
        )
        slapd.add(dn, classes, attributes)
        dns.append(dn)
    return dns


def add_person(slapd: Slapd, ou: str, uid: str, name: str, **attributes: Any) -> str:
    dn, classes, values = person(ou, uid, name, **attributes)
    slapd.add(dn, classes, values)
    return dn


def add_ad_user(slapd: Slapd, ou: str, sam: str, name: str, **attributes: Any) -> tuple[str, uuid.UUID]:
    guid = uuid.uuid4()
    dn, classes, values = ad_user(ou, sam, name, guid=guid, **attributes)
    slapd.add(dn, classes, values)
    return dn, guid
