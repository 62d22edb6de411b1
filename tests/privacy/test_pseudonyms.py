"""A caller's number cut to its area, channel names without their endpoint, stable pseudonyms, texts scrubbed."""

from __future__ import annotations

import pytest

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.privacy.classes import CLASSES, SCREEN_POP, data_class
from uhd_telephony.privacy.pseudonyms import area_of, channel_of, contains, name_of, scrub, token

PLAN = NumberingPlan(extension_prefix="+49231986")


@pytest.mark.parametrize(
    ("raw", "area"),
    [("+49 221 4711", "+49 221 ***"), ("02214711", "+49 221 ***"), ("0231/98 60 572", "+49 231 ***"),
     ("0049 30 123456", "+49 30 ***"), ("0171 2345678", "+49 171 ***"), ("sip:+4989123456@carrier", "+49 89 ***"),
     ("+43 1 5880", "+43 1 ***"), ("4711", ""), ("anonymous", ""), ("<unknown>", ""), ("", ""), ("garbage", ""),
     ("+49 221 ***", "+49 221 ***")],
)  # fmt: skip
def test_a_number_keeps_only_its_area(raw: str, area: str) -> None:
    assert area_of(raw, PLAN) == area


@pytest.mark.parametrize(
    ("channel", "left"),
    [("PJSIP/4711-0000002a", "PJSIP/***"), ("SIP/trunk-01", "SIP/***"), ("", ""), ("PJSIP/***", "PJSIP/***"),
     ("odd", "***")],
)  # fmt: skip
def test_a_channel_loses_its_endpoint(channel: str, left: str) -> None:
    assert channel_of(channel) == left


def test_tokens_are_stable_per_key_and_secret() -> None:
    assert token("k1", "number:+492214711") == token("k1", "number:+492214711")
    assert token("k1", "number:+492214711") != token("k2", "number:+492214711")
    assert token("k1", "number:+492214711") != token("k1", "number:+492214712")
    assert name_of(token("k1", "user:7")).startswith("Gelöschte Person ") and len(name_of(token("k", "x"))) == 21


def test_texts_and_json_are_scrubbed_longest_first() -> None:
    texts = {"Dr. Jürgen Müller": "Gelöschte Person 1", "Müller": "X", "+492214711": "anon:1", "ab": "never"}
    body = {"text": "Anruf von Dr. Jürgen Müller (+492214711), Müller sagt ab", "n": 3, "list": ["Müller"]}
    assert scrub(body, texts) == {"text": "Anruf von Gelöschte Person 1 (anon:1), X sagt ab", "n": 3, "list": ["X"]}
    assert contains(body, ["+492214711"]) and not contains(body, ["Schmidt"]) and not contains(body, ["ab"])


def test_the_registry_is_complete_and_consistent() -> None:
    assert len({c.code for c in CLASSES}) == len(CLASSES)
    for cls in CLASSES:
        assert cls.minimum_days <= cls.default_days or cls is SCREEN_POP
        assert cls.check(cls.default_days) == cls.default_days
        assert not cls.minimum_days or cls.minimum_reason
    with pytest.raises(ValueError):
        data_class("calls; DROP TABLE calls")
