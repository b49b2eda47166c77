"""The address book page (/m/<brand>/me/addresses/): list, add, edit, delete, default; one default at most; the
signed-in customer's own rows only (another customer's address id is a 404 on every action); bad fields come back
with their code and nothing is written."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.customers.models import Customer
from siyu.storefront.models import MallAddress
from tests.conftest import Org
from tests.orders.helpers import Shop
from tests.storefront.mall.conftest import Platforms, base, sms_sign_in

pytestmark = pytest.mark.django_db
HOME = {"name": "张三", "phone": "13800001111", "region": "上海市 徐汇区", "detail": "漕溪北路 88 号"}
OFFICE = {"name": "张三", "phone": "13800001111", "region": "上海市 浦东新区", "detail": "世纪大道 100 号"}


def _signed_in(org: Org, platforms: Platforms, phone: str) -> tuple[Client, Customer]:
    client = Client()
    assert sms_sign_in(client, org, platforms, phone).status_code == 302
    return client, Customer.objects.get(enterprise=org.enterprise, phone=phone)


def _book(org: Org) -> str:
    return f"{base(org)}/me/addresses/"


def _defaults(customer: Customer) -> list[str]:
    return list(MallAddress.objects.filter(customer=customer, is_default=True).values_list("detail", flat=True))


def test_add_edit_default_and_delete(org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    client, me = _signed_in(org, platforms, "13700007777")
    assert client.get(_book(org)).status_code == 200
    assert client.post(_book(org), HOME).status_code == 302
    assert _defaults(me) == ["漕溪北路 88 号"]  # the first address is the default
    assert client.post(_book(org), OFFICE).status_code == 302
    assert _defaults(me) == ["漕溪北路 88 号"]
    office = MallAddress.objects.get(customer=me, detail="世纪大道 100 号")

    assert client.post(f"{_book(org)}{office.pk}/default/").status_code == 302
    assert _defaults(me) == ["世纪大道 100 号"]
    page = client.get(_book(org)).content.decode()
    assert re.findall(r'data-address="(\d+)"', page)[0] == str(office.pk)  # the default first

    edited = client.post(f"{_book(org)}{office.pk}/", {**OFFICE, "detail": "世纪大道 200 号"})
    assert edited.status_code == 302
    office.refresh_from_db()
    assert office.detail == "世纪大道 200 号" and office.is_default

    assert client.post(f"{_book(org)}{office.pk}/delete/").status_code == 302
    assert _defaults(me) == ["漕溪北路 88 号"]  # the remaining one took over
    assert MallAddress.objects.filter(customer=me).count() == 1


def test_another_customers_address_is_404_everywhere(org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    owner_client, owner = _signed_in(org, platforms, "13700008888")
    owner_client.post(_book(org), HOME)
    theirs = MallAddress.objects.get(customer=owner)
    other, _me = _signed_in(org, platforms, "13700009999")
    assert other.get(f"{_book(org)}{theirs.pk}/").status_code == 404
    assert other.post(f"{_book(org)}{theirs.pk}/", {**HOME, "detail": "被改掉的地址"}).status_code == 404
    assert other.post(f"{_book(org)}{theirs.pk}/default/").status_code == 404
    assert other.post(f"{_book(org)}{theirs.pk}/delete/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.detail == HOME["detail"] and theirs.is_default
    assert "漕溪北路" not in other.get(_book(org)).content.decode()
    assert Client().get(_book(org)).status_code == 302  # signed out: to the sign-in page


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({**HOME, "phone": "12345"}, "invalid_phone", "phone"),
    ({**HOME, "name": ""}, "required", "name"),
    ({**HOME, "detail": "短"}, "required", "detail"),
    ({**HOME, "region": "区" * 101}, "too_long", "region"),
])
def test_bad_fields_are_refused_with_their_code(org: Org, mall_shop: Shop, platforms: Platforms,
                                                fields: dict[str, str], code: str, field: str) -> None:
    client, me = _signed_in(org, platforms, "13700001212")
    refused = client.post(_book(org), fields)
    assert refused.status_code == 422
    assert f'data-code="{code}" data-field="{field}"' in refused.content.decode()
    assert not MallAddress.objects.filter(customer=me).exists()


def test_the_same_address_twice_is_a_conflict_on_add_and_edit(org: Org, mall_shop: Shop,
                                                              platforms: Platforms) -> None:
    client, me = _signed_in(org, platforms, "13700003434")
    client.post(_book(org), HOME)
    client.post(_book(org), OFFICE)
    again = client.post(_book(org), HOME)
    assert again.status_code == 409 and 'data-code="duplicate_address"' in again.content.decode()
    office = MallAddress.objects.get(customer=me, detail=OFFICE["detail"])
    clash = client.post(f"{_book(org)}{office.pk}/", HOME)
    assert clash.status_code == 409
    office.refresh_from_db()
    assert office.region == OFFICE["region"]
    assert MallAddress.objects.filter(customer=me).count() == 2
