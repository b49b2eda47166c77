"""Customer search as operators type it: the last 4 digits of a phone (尾号), +86 or spaced numbers; and several tags
at once, all of them or any."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from siyu.customers import services
from siyu.customers.queries import CustomerFilter, filtered_customers
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def _names(org: Org, **kw: object) -> set[str]:
    return {c.name for c in filtered_customers(scope_for_staff(org.hq), CustomerFilter(**kw))}  # type: ignore[arg-type]


def test_phone_by_last_four_digits_plus86_and_spaces(org: Org, people: People) -> None:
    services.create_customer(enterprise_id=org.enterprise.pk, name="Dee", phone="13912340001")
    services.create_customer(enterprise_id=org.enterprise.pk, name="Eve", phone="13700005678")
    assert _names(org, q="0001") == {"Ada Wang", "Dee"}  # 尾号 0001: 13800000001 and 13912340001
    assert _names(org, q="5678") == {"Eve"}
    assert _names(org, q="+86 138 0000 0001") == {"Ada Wang"}
    assert _names(org, q="138-0000-0001") == {"Ada Wang"}
    assert _names(org, q="0086 139 1234") == {"Dee"}  # a prefix in any spelling
    assert _names(org, q="1234") == set()  # four digits match a tail or a start, not the middle
    assert _names(org, q="Ada") == {"Ada Wang"}


def test_several_tags_all_or_any(org: Org, people: People) -> None:
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.ada.pk, people.bob.pk],
                           tag_ids=[people.newbie.pk])
    both = (people.vip.pk, people.newbie.pk)
    assert _names(org, tag_ids=both, tag_match="all") == {"Ada Wang"}
    assert _names(org, tag_ids=both, tag_match="any") == {"Ada Wang", "Bob Li"}


def test_the_console_list_takes_several_tags_and_a_tail_number(client: Client, org: Org, people: People) -> None:
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk], tag_ids=[people.newbie.pk])
    assert org.hq.user is not None
    client.force_login(org.hq.user)

    def rows(**params: Any) -> set[int]:
        html = client.get("/customers/", params).content.decode()
        return {pk for pk in (people.ada.pk, people.bob.pk, people.cai.pk) if f'data-customer-id="{pk}"' in html}

    assert rows(tags=[people.vip.pk, people.newbie.pk], match="any") == {people.ada.pk, people.bob.pk}
    assert rows(tags=[people.vip.pk, people.newbie.pk], match="all") == set()
    assert rows(q="0001") == {people.ada.pk}
