"""Number normalisation: every way a number is written gives one key; anything else gives None."""

from __future__ import annotations

import pytest

from uhd_telephony.directory.numbers import NumberingPlan, is_extension, normalise

DORTMUND = "+492319860572"


@pytest.mark.parametrize(
    "raw",
    [
        "0231/98 60 572",
        "+49 231 9860572",
        "0049 231 9860572",
        "(0231) 98-60-572",
        "0231 9860572",
        "02319860572",
        "+492319860572",
        "+49 (0)231 9860572",
        "  +49-231-986-0572 ",
        "sip:+492319860572@carrier.example;user=phone",
        "tel:+49-231-9860572",
    ],
)
def test_every_spelling_of_a_number_gives_its_e164_key(raw: str) -> None:
    assert normalise(raw) == DORTMUND


@pytest.mark.parametrize(
    ("raw", "region", "key"),
    [
        ("0171 2345678", "DE", "+491712345678"),
        ("+41 44 668 18 00", "DE", "+41446681800"),
        ("044 668 18 00", "CH", "+41446681800"),
        ("01 5121000", "AT", "+4315121000"),
        ("0049 231 9860572", "AT", DORTMUND),
    ],
)
def test_the_region_decides_what_a_national_number_means(raw: str, region: str, key: str) -> None:
    assert normalise(raw, region) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [("4711", "ext:4711"), ("47 11", "ext:4711"), ("47-11", "ext:4711"), ("1", "ext:1"), ("986057", "ext:986057")],
)
def test_short_digit_strings_are_internal_extensions(raw: str, key: str) -> None:
    assert normalise(raw) == key
    assert is_extension(key)


def test_the_extension_length_is_configurable() -> None:
    assert normalise("1234567") is None  # seven digits: no extension by default, and no valid public number
    assert normalise("1234567", max_extension_length=7) == "ext:1234567"
    assert normalise("4711", max_extension_length=3) is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "ANONYMOUS",
        "<unknown>",
        "unknown",
        "s",
        "restricted",
        "0",
        "0800",  # a leading 0 is the trunk prefix, never an extension; and too short for a number
        "+",
        "++49",
        "*97",
        "abc",
        "Jürgen Müller",
        "12345678901234567890",
        "+49 231",
        "9" * 200,
    ],
)
def test_no_number_normalises_to_none(raw: str | None) -> None:
    assert normalise(raw) is None


def test_an_extension_prefix_joins_the_two_key_spaces() -> None:
    plan = NumberingPlan("DE", extension_prefix="+49231986")
    assert plan.keys("4711") == ("ext:4711", "+492319864711")
    assert plan.keys("+49 231 986 4711") == ("+492319864711", "ext:4711")
    assert plan.keys("0231 9864711") == ("+492319864711", "ext:4711")
    # outside the block, or a remainder longer than an extension: one key only
    assert plan.keys("0231 5554711") == ("+492315554711",)
    assert plan.keys("0231 98604711") == ("+4923198604711",)
    assert plan.keys("anonymous") == ()
    assert NumberingPlan().keys("4711") == ("ext:4711",)


@pytest.mark.parametrize(
    "kwargs",
    [{"region": "XX"}, {"region": "de"}, {"extension_prefix": "0231986"}, {"max_extension_length": 0}],
)
def test_a_bad_numbering_plan_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NumberingPlan(**kwargs)  # type: ignore[arg-type]
