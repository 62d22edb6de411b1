"""LDAP entries to users: the import's number rules, hostile values cleaned, and every entry left out counted."""

from __future__ import annotations

import uuid
from typing import Any

from uhd_telephony.directory.ldap_client import LdapEntry
from uhd_telephony.directory.ldap_config import LdapSource
from uhd_telephony.directory.ldap_mapping import MAX_ISSUES, key_of, read_entries, text_of
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone

TENANT = "klinikum-nord"
PLAN = NumberingPlan(extension_prefix="+49231986")
GUID = uuid.UUID("0a1b2c3d-4e5f-4607-8899-aabbccddeeff")


def ad(**overrides: Any) -> LdapSource:
    return LdapSource.model_validate(
        {"type": "ad", "url": "ldap://dc1", "base_dn": "DC=k,DC=local", "timeout_s": 1, **overrides}
    )


def entry(dn: str = "CN=Jürgen Müller,OU=Staff", guid: uuid.UUID | None = GUID, **attributes: Any) -> LdapEntry:
    """An entry as the client reads it: raw values, attribute names in lower case."""
    values: dict[str, list[bytes]] = {} if guid is None else {"objectguid": [guid.bytes_le]}
    for name, value in attributes.items():
        items = value if isinstance(value, list) else [value]
        values[name.lower()] = [v if isinstance(v, bytes) else str(v).encode() for v in items]
    return LdapEntry(dn, values)


def test_an_ad_user_with_every_field() -> None:
    reading = read_entries(
        [
            entry(
                displayName="Dr. Jürgen Müller",
                cn="jmueller",
                department="Kardiologie",
                physicalDeliveryOfficeName="Haus A, 3. OG, Raum 3.12",
                mail="j.mueller@klinikum-nord.example",
                telephoneNumber=["+49 231 986-4711", "0231 9860572"],
                mobile="0171 2345678",
                ipPhone="4711",
                userAccountControl="512",
            )
        ],
        ad(),
        TENANT,
        PLAN,
    )
    assert (reading.entries, reading.disabled, dict(reading.skipped), dict(reading.dropped)) == (1, 0, {}, {})
    [user] = reading.users
    assert user.external_id == "0a1b2c3d-4e5f-4607-8899-aabbccddeeff"  # AD's GUID text, from its bytes
    assert (user.name, user.department, user.location) == (
        "Dr. Jürgen Müller",
        "Kardiologie",
        "Haus A, 3. OG, Raum 3.12",
    )
    assert user.email == "j.mueller@klinikum-nord.example" and user.active and user.role == "other"
    assert set(user.phones) == {
        Phone("desk", "+492319864711", "+49 231 986-4711"),
        Phone("desk", "+492319860572", "0231 9860572"),
        Phone("mobile", "+491712345678", "0171 2345678"),
        Phone("extension", "ext:4711", "4711"),
    }


def test_disabled_accounts_and_entries_left_out_are_counted_with_their_reason() -> None:
    entries = [
        entry("CN=Disabled", uuid.uuid4(), displayName="Weg", telephoneNumber="0231 9860572", userAccountControl=514),
        entry("CN=NoKey", None, displayName="Kein Schlüssel", telephoneNumber="0231 9860572"),
        entry("CN=NoName", uuid.uuid4(), telephoneNumber="0231 9860572"),
        entry("CN=NoNumber", uuid.uuid4(), displayName="Ohne Nummer", mail="o@example.org"),
        entry("CN=BadNumber", uuid.uuid4(), displayName="Falsche Nummer", telephoneNumber=["0800", "abc"]),
        entry("CN=First", GUID, displayName="Erste", telephoneNumber="0231 9860573"),
        entry("CN=Second", GUID, displayName="Zweite", telephoneNumber="0231 9860574"),
        entry("CN=Kept", uuid.uuid4(), displayName="Behalten", telephoneNumber=["0231 9860575", "12345678901234"]),
    ]
    reading = read_entries(entries, ad(), TENANT, PLAN)
    assert reading.entries == 8 and reading.disabled == 1
    assert [u.name for u in reading.users] == ["Erste", "Behalten"]
    assert reading.users[1].phones == (Phone("desk", "+492319860575", "0231 9860575"),)
    assert dict(reading.skipped) == {"no_key": 1, "no_name": 1, "no_number": 1, "bad_number": 1, "duplicate_key": 1}
    assert dict(reading.dropped) == {"number": 1}
    issues = {issue.dn: (issue.reason, issue.detail) for issue in reading.issues}
    assert issues == {
        "CN=NoKey": ("no_key", "objectGUID"),
        "CN=NoName": ("no_name", "displayName, cn"),
        "CN=NoNumber": ("no_number", ""),
        "CN=BadNumber": ("bad_number", "telephoneNumber: 0800; telephoneNumber: abc"),
        "CN=Second": ("duplicate_key", str(GUID)),
        "CN=Kept": ("number", "telephoneNumber: 12345678901234"),
    }


def test_without_require_number_people_without_a_number_stay_for_search_and_mail() -> None:
    reading = read_entries(
        [entry(displayName="Ohne Nummer", mail="o@example.org")], ad(require_number=False), TENANT, PLAN
    )
    assert [(u.name, u.email, u.phones) for u in reading.users] == [("Ohne Nummer", "o@example.org", ())]


def test_hostile_values_are_cleaned_cut_or_dropped_never_stored_raw() -> None:
    latin1 = "Jürgen Müller".encode("cp1252")
    reading = read_entries(
        [
            entry(
                "CN=Hostile\x00,OU=\x07Staff",
                displayName="X" * 5000,
                department=b"Kardio\x00logie\r\nInjected: yes\x1b[31m",
                physicalDeliveryOfficeName=b"\xff\xfe\x00\x01binary\x81",
                mail="not an address",
                telephoneNumber="0231 9860572" + " " * 100,
            ),
            entry("CN=Latin1", uuid.uuid4(), displayName=latin1, telephoneNumber=b"0231\x00 9860573"),
            entry("CN=Long", uuid.uuid4(), displayName="Lang", telephoneNumber="0" * 500),
        ],
        ad(),
        TENANT,
        PLAN,
    )
    hostile, latin = reading.users
    assert hostile.name == "X" * 200  # the column's length
    assert hostile.department == "Kardio logie Injected: yes [31m"  # no NUL, no line break, no escape
    assert hostile.location is not None and hostile.location.isprintable() and "binary" in hostile.location
    assert hostile.email is None and dict(reading.dropped) == {"email": 1}
    assert latin.name == "Jürgen Müller"  # Windows-1252 read as such, as the import reads a file
    assert latin.phones[0].number == "+492319860573"
    assert dict(reading.skipped) == {"bad_number": 1}
    assert all(issue.detail.isprintable() and len(issue.detail) <= 200 for issue in reading.issues)
    assert [i.dn for i in reading.issues] == ["CN=Hostile ,OU= Staff", "CN=Long"]  # control characters cleaned


def test_keys_from_binary_guids_text_and_other_binary() -> None:
    assert key_of("objectGUID", GUID.bytes_le) == str(GUID)
    assert key_of("entryUUID", b"d5248532-86d6-1041-94ec-f10e2399a7d5") == "d5248532-86d6-1041-94ec-f10e2399a7d5"
    assert key_of("sAMAccountName", b"jmueller ") == "jmueller"
    assert key_of("employeeID", b"\x00\xff") == "00ff"
    reading = read_entries(
        [entry(guid=None, uid="x" * 200, displayName="Y", telephoneNumber="4711")], ad(key="uid"), TENANT, PLAN
    )
    assert dict(reading.skipped) == {"invalid_key": 1}
    assert text_of(b"\xe2\x80\xa8line\tbreak") == "line break"


def test_issues_are_bounded_counts_are_not() -> None:
    entries = [entry(f"CN=p{i}", uuid.uuid4(), displayName=f"P {i}") for i in range(MAX_ISSUES + 30)]
    reading = read_entries(entries, ad(), TENANT, PLAN)
    assert reading.skipped["no_number"] == MAX_ISSUES + 30 and len(reading.issues) == MAX_ISSUES
