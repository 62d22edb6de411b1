"""uhd_telephony.tenant: the one rule for a tenant identifier, its length, and number/queue → tenant."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import String

from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.directory.numbers import normalise
from uhd_telephony.errors import DirectoryError, InvalidInput
from uhd_telephony.tenant import (
    TENANT_LENGTH,
    TENANT_VARIABLE,
    Hotlines,
    TenantName,
    check_new_tenant,
    check_tenant,
    is_tenant,
    number_key,
    number_map,
    resolve_tenant,
)

VALID = ["klinikum-nord", "a", "0", "k.nord_2-b", "x" * TENANT_LENGTH, "default"]
# what existing data can hold: tickets and category trees took any printable text before tenants were data,
# and migration 0007 copied those tenants into the tenants table as they were
LEGACY = ["Klinikum-Nord", "Klinikum Nord", "St. Josef (Hamm)", "klinikum-süd"]
INVALID = ["", " ", " klinikum", "klinikum ", "x" * (TENANT_LENGTH + 1), "a\tb", "a\nb", "a\x00b", "a\x7fb", "a\u200bb"]


# --- the rule -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant", VALID + LEGACY)
def test_a_tenant_identifier_is_printable_text_of_at_most_64_characters(tenant: str) -> None:
    assert is_tenant(tenant)
    assert check_tenant(tenant) == tenant


@pytest.mark.parametrize("tenant", INVALID)
def test_anything_else_is_refused_with_a_400_that_says_what_a_tenant_is(tenant: str) -> None:
    assert not is_tenant(tenant)
    with pytest.raises(InvalidInput) as info:
        check_tenant(tenant)
    assert info.value.status_code == 400
    assert info.value.message.startswith("invalid tenant") and "printable" in info.value.message
    assert info.value.details == {"field": "tenant"}


@pytest.mark.parametrize("value", [None, 42, b"klinikum", ["klinikum"]])
def test_a_tenant_is_text(value: object) -> None:
    assert not is_tenant(value)
    with pytest.raises(InvalidInput):
        check_tenant(value)


def test_the_caller_chooses_the_error_class_and_field() -> None:
    with pytest.raises(DirectoryError) as info:
        check_tenant("no\ttenant", DirectoryError, field="tenants")
    assert info.value.error_id == "invalid-directory-entry" and info.value.details == {"field": "tenants"}


def test_a_huge_value_is_not_repeated_whole_in_the_message() -> None:
    with pytest.raises(InvalidInput) as info:
        check_tenant("x" * 10_000)
    assert len(info.value.message) < 300


@pytest.mark.parametrize("tenant", VALID)
def test_a_new_tenant_is_a_lower_case_slug(tenant: str) -> None:
    assert check_new_tenant(tenant) == tenant
    assert check_new_tenant(f"  {tenant} ") == tenant  # blanks around it are dropped, as before
    assert is_tenant(check_new_tenant(tenant))  # every slug is a tenant identifier


@pytest.mark.parametrize("tenant", [*LEGACY, *INVALID[:2], "x" * (TENANT_LENGTH + 1), "-nord", ".nord", "nord/süd"])
def test_a_new_tenant_that_is_no_slug_is_refused(tenant: str) -> None:
    with pytest.raises(InvalidInput, match="lower-case letters"):
        check_new_tenant(tenant)


def test_the_length_is_the_width_of_every_tenant_column() -> None:
    from uhd_telephony.app import schema
    from uhd_telephony.store.models import Base

    assert schema is not None and TENANT_LENGTH == 64  # no migration: the columns have always been String(64)
    widths = {
        f"{table.name}.{column.name}": column.type.length
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name == "tenant" and isinstance(column.type, String)
    }
    assert len(widths) >= 10
    # calls.tenant has been an unbounded String since migration 0001
    assert {name: width for name, width in widths.items() if width != TENANT_LENGTH} == {"calls.tenant": None}


class Body(BaseModel):
    tenants: list[TenantName]


def test_the_pydantic_type_drops_blanks_and_applies_the_rule() -> None:
    assert Body(tenants=[" klinikum-nord ", "Klinikum Nord"]).tenants == ["klinikum-nord", "Klinikum Nord"]
    for bad in ("", "   ", "a\tb", "x" * (TENANT_LENGTH + 1)):
        with pytest.raises(ValidationError):
            Body(tenants=[bad])
    items = Body.model_json_schema()["properties"]["tenants"]["items"]
    assert items["type"] == "string" and items["minLength"] == 1 and items["maxLength"] == TENANT_LENGTH


# --- number/queue → tenant ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("+49231990001", "+49231990001"),
        ("+49 231 99-0001", "+49231990001"),
        (" +49 (231) 990001 ", "+49231990001"),
        ("0049231990001", "0049231990001"),  # 00 is not turned into +: UHD_TENANT_NUMBERS match it as written
        ("0231 990001", "0231990001"),
        ("", ""),
    ],
)
def test_number_key_keeps_digits_and_a_leading_plus(number: str, key: str) -> None:
    assert number_key(number) == key


SETTINGS = {"numbers": number_map({"+49 231 990001": "nord", "0231 990002": "sued"}), "default": "default"}


def resolve(dialled: str, queue: str = "", variables: dict[str, str] | None = None, **kwargs: object) -> str:
    options: dict[str, object] = {**SETTINGS, "queues": {"hotline-west": "west"}, **kwargs}
    return resolve_tenant(dialled, queue, variables or {}, **options)  # type: ignore[arg-type]


def test_settings_numbers_in_any_spelling_with_plus_and_spaces() -> None:
    assert resolve("+49231990001") == "nord"
    assert resolve("+49 231 99 00 01") == "nord"
    assert resolve("0231 990002") == "sued"
    assert resolve("0231-990002") == "sued"
    assert resolve("0049231990001") == "default"  # not the same key: the tenants table's E.164 match is for that


def test_a_queue_mapping_and_the_default() -> None:
    assert resolve("", "hotline-west") == "west"
    assert resolve("+4930123456", "hotline-west") == "west"  # an unknown number: the queue decides
    assert resolve("+49231990001", "hotline-west") == "nord"  # a known number decides before the queue
    assert resolve("", "elsewhere") == "default"
    assert resolve("", "elsewhere", default="klinikum") == "klinikum"


def test_uhd_tenant_wins_over_everything() -> None:
    table = Hotlines({"+49231990001": "from-table"}, {"hotline-west": "from-table"})
    variables = {TENANT_VARIABLE: "klinikum-ost"}
    assert TENANT_VARIABLE == "UHD_TENANT"
    assert resolve("+49231990001", "hotline-west", variables, table=table) == "klinikum-ost"
    assert resolve("+49231990001", "hotline-west", {TENANT_VARIABLE: ""}, table=table) == "from-table"


def hotlines(**kwargs: object) -> Hotlines:
    return Hotlines(
        {"+49231990001": "nord-table", "+49231990009": "neun"},
        {"nord-q": "nord-table", "west-q": "west-table"},
        parse=normalise,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_tenants_table_reads_any_spelling_of_a_hotline_number() -> None:
    table = hotlines()
    for spelling in ("+49231990009", "0049231990009", "0231 990009", "+49 (231) 99 00 09", "sip:+49231990009@x"):
        assert table(spelling, "", {}) == "neun", spelling
        assert resolve(spelling, table=table) == "neun", spelling
    assert table("+4930123456", "", {}) is None and table("", "", {}) is None


def test_the_order_table_number_settings_number_table_queue_settings_queue_default() -> None:
    table = hotlines(settings_numbers=frozenset(SETTINGS["numbers"]))  # type: ignore[arg-type]
    assert resolve("+49231990001", "west-q", table=table) == "nord-table"  # the table's number beats the settings'
    assert resolve("0231 990002", "west-q", table=table) == "sued"  # a settings number beats a table queue
    assert resolve("+4930123456", "west-q", table=table) == "west-table"
    assert resolve("+4930123456", "hotline-west", table=table) == "west"
    assert resolve("+4930123456", "nowhere", table=table) == "default"


def test_the_tracker_and_the_tenants_service_use_this_resolver() -> None:
    from uhd_telephony.tenants.service import HotlineResolver

    assert HotlineResolver is Hotlines
    table = hotlines()
    tracker = CallTracker(
        default_tenant="default",
        tenant_numbers={"+49 231 990001": "nord", "0231 990002": "sued"},
        tenant_queues={"hotline-west": "west"},
        tenant_resolver=table,
    )
    assert tracker.tenant_numbers == SETTINGS["numbers"]
    cases = [
        ("0231 990002", "", {}),
        ("+4930123456", "west-q", {}),
        ("", "hotline-west", {}),
        ("", "nowhere", {}),
        ("+49231990001", "", {TENANT_VARIABLE: "klinikum-ost"}),
    ]
    for dialled, queue, variables in cases:
        assert tracker._tenant(dialled, queue, variables) == resolve(dialled, queue, variables, table=table)
