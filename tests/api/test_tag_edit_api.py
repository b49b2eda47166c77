"""Renaming and deleting tags and tag groups over REST: HQ only, field-level refusals, each change audited, and a
deleted tag leaves every customer who carried it (counted in the response)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from siyu.core.models import AuditEntry
from siyu.customers.models import Customer, CustomerTag, Tag, TagGroup
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import CustomerFactory, EnterpriseFactory, TagFactory, TagGroupFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db


@dataclass
class Library:
    """Interest (tea, coffee) and the exclusive Level (gold, silver).

    tea: ada, bob, cai — coffee: ada — gold: bob — silver: nobody; dan carries nothing."""

    interest: TagGroup
    level: TagGroup
    tea: Tag
    coffee: Tag
    gold: Tag
    silver: Tag
    ada: Customer
    bob: Customer
    cai: Customer
    dan: Customer


@pytest.fixture
def lib(org: Org) -> Library:
    interest = TagGroupFactory.create(enterprise=org.enterprise, name="Interest")
    level = TagGroupFactory.create(enterprise=org.enterprise, name="Level", exclusive=True)
    tea, coffee = TagFactory.create(group=interest, name="tea"), TagFactory.create(group=interest, name="coffee")
    gold, silver = TagFactory.create(group=level, name="gold"), TagFactory.create(group=level, name="silver")
    ada, bob, cai, dan = (CustomerFactory.create(enterprise=org.enterprise, name=n) for n in "Ada Bob Cai Dan".split())
    CustomerTag.objects.bulk_create(
        [CustomerTag(customer=c, tag=t) for c, t in [(ada, tea), (bob, tea), (cai, tea), (ada, coffee), (bob, gold)]]
    )
    return Library(interest, level, tea, coffee, gold, silver, ada, bob, cai, dan)


def delete(api: Api, path: str) -> Response:
    return api.client.delete(path, headers=api.headers)


def pairs() -> set[tuple[str, str]]:
    return set(CustomerTag.objects.values_list("customer__name", "tag__name"))


def audit_rows() -> list[tuple[str, str, str, str]]:
    return list(
        AuditEntry.objects.filter(action__in=["tag.rename", "tag.delete", "tag_group.rename", "tag_group.delete"])
        .order_by("id")
        .values_list("action", "target_id", "summary", "actor_label")
    )


def test_rename_a_tag_and_a_group(org: Org, lib: Library, api_as: Callable[[Staff], Api]) -> None:
    hq = api_as(org.hq)

    tag = hq.patch(f"/api/tags/{lib.tea.pk}", {"name": "  oolong "})
    assert tag.status_code == 200
    assert (tag.json()["id"], tag.json()["name"], tag.json()["group_id"]) == (lib.tea.pk, "oolong", lib.interest.pk)
    group = hq.patch(f"/api/tag-groups/{lib.level.pk}", {"name": "Membership"})
    assert group.status_code == 200
    body = group.json()
    assert (body["name"], body["exclusive"]) == ("Membership", True)
    assert [t["name"] for t in body["tags"]] == ["gold", "silver"]

    assert Tag.objects.get(pk=lib.tea.pk).name == "oolong"
    assert TagGroup.objects.get(pk=lib.level.pk).name == "Membership"
    # renaming keeps every customer's tags
    assert pairs() == {("Ada", "oolong"), ("Bob", "oolong"), ("Cai", "oolong"), ("Ada", "coffee"), ("Bob", "gold")}
    assert audit_rows() == [
        ("tag.rename", str(lib.tea.pk), "tea → oolong", "hq"),
        ("tag_group.rename", str(lib.level.pk), "Level → Membership", "hq"),
    ]


def test_renaming_to_the_same_name_changes_and_audits_nothing(
    org: Org, lib: Library, api_as: Callable[[Staff], Api]
) -> None:
    response = api_as(org.hq).patch(f"/api/tags/{lib.tea.pk}", {"name": "tea"})
    assert (response.status_code, response.json()["name"]) == (200, "tea")
    assert audit_rows() == []


def test_deleting_a_tag_untags_exactly_its_carriers(org: Org, lib: Library, api_as: Callable[[Staff], Api]) -> None:
    response = delete(api_as(org.hq), f"/api/tags/{lib.tea.pk}")

    assert response.status_code == 200
    assert response.json() == {"id": lib.tea.pk, "customers_untagged": 3}  # Ada, Bob and Cai
    assert not Tag.objects.filter(pk=lib.tea.pk).exists()
    assert pairs() == {("Ada", "coffee"), ("Bob", "gold")}
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 4  # the customers themselves stay
    assert audit_rows() == [("tag.delete", str(lib.tea.pk), "tea (3)", "hq")]


def test_deleting_a_tag_nobody_carries(org: Org, lib: Library, api_as: Callable[[Staff], Api]) -> None:
    response = delete(api_as(org.hq), f"/api/tags/{lib.silver.pk}")
    assert response.json() == {"id": lib.silver.pk, "customers_untagged": 0}
    assert len(pairs()) == 5


def test_deleting_a_group_deletes_its_tags_and_their_customer_links(
    org: Org, lib: Library, api_as: Callable[[Staff], Api]
) -> None:
    response = delete(api_as(org.hq), f"/api/tag-groups/{lib.interest.pk}")

    assert response.status_code == 200
    # tea x3 + coffee x1 (Ada counted twice: she carried both)
    assert response.json() == {"id": lib.interest.pk, "tags_deleted": 2, "customer_tags_removed": 4}
    assert not TagGroup.objects.filter(pk=lib.interest.pk).exists()
    assert not Tag.objects.filter(pk__in=[lib.tea.pk, lib.coffee.pk]).exists()
    assert pairs() == {("Bob", "gold")}
    assert audit_rows() == [("tag_group.delete", str(lib.interest.pk), "Interest (2 tags, 4 on customers)", "hq")]


def test_deleting_a_tag_is_set_based(org: Org, lib: Library, api_as: Callable[[Staff], Api]) -> None:
    """Untagging 40 customers costs the same statements as untagging 1: no per-customer query."""
    hq = api_as(org.hq)
    many = CustomerFactory.create_batch(40, enterprise=org.enterprise)
    CustomerTag.objects.bulk_create([CustomerTag(customer=c, tag=lib.silver) for c in many])

    def statements(tag: Tag) -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as ctx:
            response = delete(hq, f"/api/tags/{tag.pk}")
        touching = [q["sql"] for q in ctx.captured_queries if "customertag" in q["sql"].lower()]
        return response.json()["customers_untagged"], touching

    one, one_sql = statements(lib.coffee)
    forty, forty_sql = statements(lib.silver)
    assert (one, forty) == (1, 40)
    assert len(forty_sql) == len(one_sql)
    assert sum(sql.lstrip().upper().startswith("DELETE") for sql in forty_sql) == 1


def test_names_are_checked_field_by_field(org: Org, lib: Library, api_as: Callable[[Staff], Api]) -> None:
    hq = api_as(org.hq)

    def refused(response: Response) -> tuple[int, str, str]:
        body = response.json()
        return response.status_code, body.get("field", ""), body["code"]

    tag, group = f"/api/tags/{lib.tea.pk}", f"/api/tag-groups/{lib.interest.pk}"
    assert refused(hq.patch(tag, {"name": ""}))[:2] == (422, "name")
    assert refused(hq.patch(tag, {"name": "   "}))[:2] == (422, "name")
    assert refused(hq.patch(tag, {"name": "x" * 65}))[:2] == (422, "name")
    assert refused(hq.patch(tag, {}))[:2] == (422, "name")
    assert refused(hq.patch(tag, {"name": "coffee"})) == (409, "name", "duplicate")  # same group
    assert refused(hq.patch(group, {"name": ""}))[:2] == (422, "name")
    assert refused(hq.patch(group, {"name": "y" * 65}))[:2] == (422, "name")
    assert refused(hq.patch(group, {"name": "Level"})) == (409, "name", "duplicate")
    # whether a group is exclusive is fixed at creation
    assert refused(hq.patch(group, {"name": "Hobby", "exclusive": True}))[:2] == (422, "exclusive")
    assert refused(hq.patch("/api/tags/424242", {"name": "x"})) == (404, "tag_id", "not_found")
    assert refused(hq.patch("/api/tag-groups/424242", {"name": "x"})) == (404, "group_id", "not_found")
    assert refused(delete(hq, "/api/tags/424242")) == (404, "tag_id", "not_found")
    assert refused(delete(hq, "/api/tag-groups/424242")) == (404, "group_id", "not_found")

    assert set(Tag.objects.values_list("name", flat=True)) == {"tea", "coffee", "gold", "silver"}
    assert set(TagGroup.objects.values_list("name", "exclusive")) == {("Interest", False), ("Level", True)}
    assert audit_rows() == []

    # a name another group uses is fine, and 64 characters is the limit
    assert hq.patch(tag, {"name": "gold"}).status_code == 200
    assert hq.patch(group, {"name": "z" * 64}).json()["name"] == "z" * 64


def test_another_enterprises_tags_are_not_found(org: Org, lib: Library, api_as: Callable[[Staff], Api]) -> None:
    other = EnterpriseFactory.create(name="Other Brand", code="other-brand", wecom_corp_id="wwother")
    foreign_group = TagGroupFactory.create(enterprise=other, name="Theirs")
    foreign_tag = TagFactory.create(group=foreign_group, name="theirs")
    hq = api_as(org.hq)
    assert hq.patch(f"/api/tags/{foreign_tag.pk}", {"name": "mine"}).status_code == 404
    assert delete(hq, f"/api/tags/{foreign_tag.pk}").status_code == 404
    assert hq.patch(f"/api/tag-groups/{foreign_group.pk}", {"name": "Mine"}).status_code == 404
    assert delete(hq, f"/api/tag-groups/{foreign_group.pk}").status_code == 404
    assert Tag.objects.get(pk=foreign_tag.pk).name == "theirs"


@pytest.mark.parametrize("who", ["n1_staff", "n1_manager", "north_manager"])
def test_only_hq_renames_or_deletes(org: Org, lib: Library, api_as: Callable[[Staff], Api], who: str) -> None:
    api = api_as(getattr(org, who))
    assert api.patch(f"/api/tags/{lib.tea.pk}", {"name": "mine"}).status_code == 403
    assert delete(api, f"/api/tags/{lib.tea.pk}").status_code == 403
    assert api.patch(f"/api/tag-groups/{lib.interest.pk}", {"name": "Mine"}).status_code == 403
    assert delete(api, f"/api/tag-groups/{lib.interest.pk}").status_code == 403
    assert set(Tag.objects.values_list("name", flat=True)) == {"tea", "coffee", "gold", "silver"}
    assert len(pairs()) == 5
    assert audit_rows() == []


def test_the_new_endpoints_are_documented(db: None, api_as: Callable[[Staff], Api]) -> None:
    paths = Api(None).get("/api/openapi.json").json()["paths"]
    for path, method in [
        ("/api/tags/{tag_id}", "patch"),
        ("/api/tags/{tag_id}", "delete"),
        ("/api/tag-groups/{group_id}", "patch"),
        ("/api/tag-groups/{group_id}", "delete"),
    ]:
        operation = paths[path][method]
        assert "$ref" in str(operation["responses"]["200"]["content"]), (path, method)
        assert "ErrorOut" in str(operation["responses"]["409"]), (path, method)
