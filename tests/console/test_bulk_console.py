"""Bulk tagging in the console: a confirmation naming the count, then the change once (a double submit does not
tag twice or audit twice), scoped to what the operator sees."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.customers.models import CustomerTag
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def _holders(tag_id: int) -> set[int]:
    return set(CustomerTag.objects.filter(tag_id=tag_id).values_list("customer_id", flat=True))


def test_all_filtered_is_confirmed_with_its_count_then_applied_once(client: Client, org: Org, people: People) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    listing = client.get("/customers/", {"channel": "wecom"}).content.decode()
    assert 'id="bulk-form"' in listing and "全部 2 位符合筛选条件的客户" in listing
    ask = {"target": "all", "action": "add", "tag": people.newbie.pk, "query": "channel=wecom"}
    confirm = client.post("/customers/bulk/", ask)
    page = confirm.content.decode()
    assert confirm.status_code == 200 and 'data-count="2"' in page and _holders(people.newbie.pk) == set()
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page)
    assert key
    final = {**ask, "confirmed": "1", "key": key.group(1)}
    first = client.post("/customers/bulk/", final)
    second = client.post("/customers/bulk/", final)
    assert first.status_code == second.status_code == 302 and first["Location"] == "/customers/?channel=wecom"
    assert _holders(people.newbie.pk) == {people.ada.pk, people.cai.pk}
    assert AuditEntry.objects.filter(action="customer.tag", target_id=str(people.newbie.pk)).count() == 1


def test_selected_customers_out_of_scope_are_left_alone(client: Client, org: Org, people: People) -> None:
    assert org.n1_manager.user is not None
    client.force_login(org.n1_manager.user)
    ask = {"target": "selected", "action": "add", "tag": people.newbie.pk, "ids": [people.ada.pk, people.cai.pk]}
    page = client.post("/customers/bulk/", ask).content.decode()
    assert 'data-count="1"' in page
    client.post("/customers/bulk/", {**ask, "confirmed": "1", "key": "k" * 32})
    assert _holders(people.newbie.pk) == {people.ada.pk}
    refused = client.post("/customers/bulk/", {"target": "selected", "action": "add", "tag": people.newbie.pk})
    assert refused.status_code == 302 and _holders(people.newbie.pk) == {people.ada.pk}


def test_remove_from_all_filtered(client: Client, org: Org, people: People) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    ask = {"target": "all", "action": "remove", "tag": people.vip.pk, "query": ""}
    assert 'data-count="3"' in client.post("/customers/bulk/", ask).content.decode()
    client.post("/customers/bulk/", {**ask, "confirmed": "1", "key": "r" * 32})
    assert _holders(people.vip.pk) == set()
