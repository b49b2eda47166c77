"""Scripts: variables are validated when saved, rendered per customer, and a missing value is never sent as a blank
or a raw brace: it falls back, or is shown as missing and refused for sending."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.content.variables import render, render_for_sending, variables_in
from siyu.core.errors import ValidationFailed
from siyu.customers import services as customer_services
from tests.conftest import Org


def test_variables_are_found_in_order() -> None:
    assert variables_in("{customer_name}您好，我是{store}的{staff_name}；{{促销}}") == [
        "customer_name", "store", "staff_name"]


@pytest.mark.parametrize(("template", "code"), [
    ("{name}您好", "unknown_variable"),
    ("{customer_name!r}", "bad_template"),
    ("{customer_name:>10}", "bad_template"),
    ("您好 {customer_name", "bad_template"),
    ("您好 }", "bad_template"),
])
def test_templates_the_renderer_cannot_fill_are_refused(template: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        variables_in(template)
    assert refused.value.code == code


def test_all_values_present() -> None:
    rendered = render("{customer_name}您好，{{限时}}用券{coupon}", {"customer_name": "王芳", "coupon": "满100减20"})
    assert (rendered.text, rendered.complete) == ("王芳您好，{限时}用券满100减20", True)


def test_a_missing_value_takes_the_fallback() -> None:
    rendered = render("{customer_name}您好", {"customer_name": "  "}, {"customer_name": "亲"})
    assert (rendered.text, rendered.complete) == ("亲您好", True)


def test_a_missing_value_without_fallback_is_shown_and_refused_for_sending() -> None:
    rendered = render("{customer_name}您好，送您{coupon}", {"customer_name": None, "coupon": ""})
    assert rendered.missing == ("customer_name", "coupon")
    assert "{" not in rendered.text and "【" in rendered.text
    with pytest.raises(ValidationFailed) as refused:
        render_for_sending("{customer_name}您好，送您{coupon}", {"customer_name": "王芳"})
    assert (refused.value.code, refused.value.field) == ("missing_variable", "coupon")
    assert render_for_sending("{customer_name}您好", {"customer_name": "王芳"}) == "王芳您好"


@pytest.mark.django_db
def test_rendering_for_a_customer_through_the_api(org: Org, hq_api: Client, staff_api: Client) -> None:
    customer = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="王芳",
                                                 home_store_id=org.store_n1.pk)
    customer_services.add_relationship(customer=customer, staff=org.n1_staff, added_at=customer.created_at)
    stranger = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="路人")
    body = {"title": "欢迎", "scenario": "greeting", "steps": [
        {"step": "hook", "text": "{customer_name}您好，我是{store}的{staff_name}"},
        {"step": "cta", "text": "这张{coupon}请收好"}]}
    created = hq_api.post("/api/content/scripts", body, content_type="application/json")
    assert created.status_code == 201, created.json()
    url = f"/api/content/scripts/{created.json()['id']}/render"
    got = staff_api.post(url, {"customer_id": customer.pk}, content_type="application/json").json()
    assert got["missing"] == ["coupon"] and got["complete"] is False
    assert got["text"].startswith("王芳您好，我是Beijing 1的n1_staff")
    filled = staff_api.post(url, {"customer_id": customer.pk, "values": {"coupon": "满100减20券"}},
                            content_type="application/json").json()
    assert filled["text"] == "王芳您好，我是Beijing 1的n1_staff\n这张满100减20券请收好" and filled["complete"]
    outside = staff_api.post(url, {"customer_id": stranger.pk}, content_type="application/json")
    assert outside.status_code == 404  # not the staff member's customer
    bad = hq_api.post("/api/content/scripts", {**body, "steps": [{"step": "hook", "text": "{nickname}"}]},
                      content_type="application/json")
    assert (bad.status_code, bad.json()["field"]) == (422, "steps[0].text")


@pytest.mark.django_db
def test_quick_reply_search_needs_every_word(org: Org, hq_api: Client, staff_api: Client) -> None:
    rows = (("复购提醒", "抽纸快用完了吧"), ("售后安抚", "非常抱歉给您添麻烦"), ("抽纸上新", "新款抽纸到店"))
    for title, text in rows:
        hq_api.post("/api/content/scripts", {"title": title, "scenario": "other", "steps": [
            {"step": "hook", "text": text}]}, content_type="application/json")
    titles = [s["title"] for s in staff_api.get("/api/content/quick-replies", {"q": "抽纸"}).json()]
    assert titles == ["抽纸上新", "复购提醒"]  # a title match first
    assert [s["title"] for s in staff_api.get("/api/content/quick-replies", {"q": "抽纸 到店"}).json()] == ["抽纸上新"]
    assert staff_api.get("/api/content/quick-replies", {"q": "咖啡"}).json() == []
