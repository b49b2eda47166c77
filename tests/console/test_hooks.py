from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.http import HttpRequest
from django.test import Client
from django.utils.html import format_html
from django.utils.safestring import SafeString

from siyu.customers import sections
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.console.conftest import People


@pytest.fixture
def orders_section() -> Iterator[list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []

    def render(request: HttpRequest, scope: Scope, customer_id: int) -> SafeString:
        calls.append((scope.enterprise_id, customer_id))
        return format_html('<table id="orders-table"><tr><td>{}</td></tr></table>', "SO-0001 <paid>")

    previous = sections.profile_section("orders")  # the orders app registers its own; put it back afterwards
    sections.register_profile_section("orders", render)
    yield calls
    if previous is not None:
        sections.register_profile_section("orders", previous)
    else:
        sections.unregister_profile_section("orders")


@pytest.mark.django_db
def test_a_registered_orders_section_replaces_the_empty_state(
    client: Client, org: Org, people: People, orders_section: list[tuple[int, int]]
) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    html = client.get(f"/customers/{people.ada.pk}/").content.decode()
    assert '<table id="orders-table"><tr><td>SO-0001 &lt;paid&gt;</td></tr></table>' in html
    assert "暂无订单" not in html
    assert orders_section == [(org.enterprise.pk, people.ada.pk)]
