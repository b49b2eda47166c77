"""The customer list filtered by a segment: the members the viewer may see, nobody else; the bulk tag of "all
filtered" and the export honour it (set-based: the members are a subquery). Hand-made set: a static segment of Ada
and Bob, and Dan who left it; Cai is not in it. The north-1 store manager sees Ada only."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from siyu.audiences import services as audience_services
from siyu.audiences.models import Segment, SegmentMembership
from siyu.core.errors import NotFound
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.customers.models import CustomerTag
from siyu.exports import sheets
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db
RULE = {"version": 1, "root": {"type": "gender", "values": ["female"]}}


def _segment(org: Org, people: People) -> Segment:
    dan = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="Dan Left")
    segment = audience_services.create_segment(scope=scope_for_staff(org.hq), name="老客", rule=RULE, kind="static",
                                               members=[people.ada.pk, people.bob.pk, dan.pk])
    SegmentMembership.objects.filter(segment=segment, customer=dan).update(left_at=timezone.now())
    return segment


def _names(html: str) -> set[str]:
    return {name for name in ("Ada Wang", "Bob Li", "Cai Zhang", "Dan Left") if name in html}


def test_the_list_shows_the_members_the_viewer_may_see(client: Client, org: Org, people: People) -> None:
    segment = _segment(org, people)
    assert org.hq.user is not None and org.n1_manager.user is not None
    client.force_login(org.hq.user)
    page = client.get("/customers/", {"segment": segment.pk}).content.decode()
    assert "人群包" in page and _names(page) == {"Ada Wang", "Bob Li"}
    client.force_login(org.n1_manager.user)
    assert _names(client.get("/customers/", {"segment": segment.pk}).content.decode()) == {"Ada Wang"}


def test_a_segment_outside_the_scope_is_not_found(org: Org, people: People) -> None:
    hq = scope_for_staff(org.hq)
    theirs = audience_services.create_segment(scope=hq, name="南区", rule=RULE, kind="static", store_id=org.store_s1.pk,
                                              members=[people.cai.pk])
    manager = scope_for_staff(org.n1_manager)
    with pytest.raises(NotFound):
        list(customer_queries.filtered_customers(manager, customer_queries.CustomerFilter(segment_id=theirs.pk)))
    assert theirs.pk not in dict(customer_queries.segment_choices(manager))


def test_bulk_tag_of_all_filtered_by_segment_tags_the_members_only(client: Client, org: Org, people: People) -> None:
    segment = _segment(org, people)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    ask = {"target": "all", "action": "add", "tag": people.newbie.pk, "query": f"segment={segment.pk}"}
    page = client.post("/customers/bulk/", ask).content.decode()
    assert 'data-count="2"' in page
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page)
    assert key
    client.post("/customers/bulk/", {**ask, "confirmed": "1", "key": key.group(1)})
    tagged = set(CustomerTag.objects.filter(tag=people.newbie).values_list("customer_id", flat=True))
    assert tagged == {people.ada.pk, people.bob.pk}


def test_the_export_keeps_the_segment(org: Org, people: People) -> None:
    segment = _segment(org, people)
    flt = customer_queries.CustomerFilter(segment_id=segment.pk)
    assert sheets.filter_json(flt) == {"segment_id": segment.pk}
    qs, _make = sheets.sheet_for(scope_for_staff(org.hq), "customers", {"segment_id": segment.pk})
    assert sorted(qs.values_list("name", flat=True)) == ["Ada Wang", "Bob Li"]
