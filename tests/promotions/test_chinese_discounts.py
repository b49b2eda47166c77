"""Coupons and tiers read the Chinese way in Chinese (满99元减20元, 8.5折) and stay English in English; a percentage
coupon can be entered as 8.5折 as well as 15 or 15%."""

from __future__ import annotations

import pytest
from django.utils import translation

from siyu.promotions.forms import DiscountField
from siyu.promotions.models import BenefitKind, CouponKind, CouponTemplate, FullReduction, ThresholdKind
from siyu.promotions.queries import template_value, tiers_text, zhe


@pytest.mark.parametrize(("percent_off", "expected"), [(15, "8.5"), (20, "8"), (1, "9.9"), (50, "5"), (99, "0.1")])
def test_zhe(percent_off: int, expected: str) -> None:
    assert zhe(percent_off) == expected


@pytest.mark.parametrize(("typed", "percent_off"), [
    ("15", 15), ("15%", 15), ("8.5折", 15), ("85折", 15), ("9折", 10), ("8 折", 20), ("9.9折", 1), ("", None),
])
def test_discount_field_reads_percent_and_zhe(typed: str, percent_off: int | None) -> None:
    assert DiscountField(required=False).clean(typed) == percent_off


@pytest.mark.parametrize("typed", ["0", "100", "8.55折", "10折", "abc", "-5", "15.5"])
def test_discount_field_refuses_what_is_no_whole_percent(typed: str) -> None:
    from django import forms

    with pytest.raises(forms.ValidationError):
        DiscountField(required=False).clean(typed)


def _template(**fields: object) -> CouponTemplate:
    return CouponTemplate(currency="CNY", **fields)  # unsaved: only read


@pytest.mark.parametrize(("fields", "zh", "en"), [
    ({"kind": CouponKind.THRESHOLD, "amount_off_fen": 2000, "threshold_fen": 9900},
     "满99元减20元", "¥20.00 off over ¥99.00"),
    ({"kind": CouponKind.FIXED, "amount_off_fen": 1050}, "无门槛减10.5元", "¥10.50 off"),
    ({"kind": CouponKind.PERCENT, "percent_off": 15, "max_off_fen": 10000},
     "8.5折（最多减100元）", "15% off (up to ¥100.00)"),
    ({"kind": CouponKind.PERCENT, "percent_off": 20, "threshold_fen": 5000}, "满50元享8折", "20% off over ¥50.00"),
])
def test_coupon_face_value_in_each_language(fields: dict[str, object], zh: str, en: str) -> None:
    template = _template(**fields)
    with translation.override("zh-hans"):
        assert template_value(template) == zh
    with translation.override("en"):
        assert template_value(template) == en


def test_tiers_in_each_language() -> None:
    spend = FullReduction(currency="CNY", threshold_kind=ThresholdKind.AMOUNT, benefit_kind=BenefitKind.AMOUNT_OFF,
                          tiers=[[19900, 2000], [29900, 4000]])
    pieces = FullReduction(currency="CNY", threshold_kind=ThresholdKind.QUANTITY,
                           benefit_kind=BenefitKind.PERCENT_OFF, tiers=[[2, 10], [3, 20]])
    with translation.override("zh-hans"):
        assert tiers_text(spend) == "满199元减20元 / 满299元减40元"
        assert tiers_text(pieces) == "满2件打9折 / 满3件打8折"
    with translation.override("en"):
        assert tiers_text(spend) == "≥¥199.00 -¥20.00 / ≥¥299.00 -¥40.00"
        assert tiers_text(pieces) == "≥2 pieces -10% / ≥3 pieces -20%"
