"""The timeline's small print: amounts as money, internal ids left out, known keys under their names."""

from __future__ import annotations

from django.utils import translation

from siyu.console.labels import event_details


def test_order_properties_read_as_an_operator_would() -> None:
    with translation.override("en"):
        shown = event_details(
            {
                "order_id": 1234, "order_no": "SY20261124000123", "payable_fen": 12990, "coupon_discount_fen": 1000,
                "shipping_fen": 0, "currency": "CNY", "coupon_id": 9, "template_id": 3, "product_id": 55,
            }
        )
    assert shown == [
        ("Order number", "SY20261124000123"),
        ("Payable", "¥129.90"),
        ("Coupon discount", "¥10.00"),
        ("Shipping", "¥0.00"),
        ("Product", "55"),
    ]


def test_an_unknown_amount_key_is_still_money_and_a_refund_in_chinese() -> None:
    with translation.override("zh-hans"):
        [(label, value)] = event_details({"shortfall_fen": -250})
    assert value == "-¥2.50"
    assert label == "金额"
