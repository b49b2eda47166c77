from __future__ import annotations

from collections.abc import Callable

from siyu.customers.models import CustomerTag, TagGroup
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory


def test_build_a_tag_library_and_tag_customers(org: Org, api_as: Callable[[Staff], Api]) -> None:
    hq = api_as(org.hq)
    group = hq.post("/api/tag-groups", {"name": "Lifecycle", "exclusive": True})
    assert group.status_code == 201 and group.json()["tags"] == []
    gid = group.json()["id"]
    new = hq.post(f"/api/tag-groups/{gid}/tags", {"name": "new"}).json()
    loyal = hq.post(f"/api/tag-groups/{gid}/tags", {"name": "loyal", "kind": "rule", "rule": {"orders_gte": 3}}).json()
    assert loyal["kind"] == "rule" and loyal["group_id"] == gid

    mine = CustomerFactory.create(enterprise=org.enterprise)
    RelationshipFactory.create(customer=mine, staff=org.s1_staff)
    theirs = CustomerFactory.create(enterprise=org.enterprise)
    assert hq.post("/api/tags/bulk-tag", {"customer_ids": [mine.pk, theirs.pk], "tag_ids": [new["id"]]}).json() == {
        "changed": 2
    }

    s1 = api_as(org.s1_staff)
    refused = s1.post("/api/tags/bulk-tag", {"customer_ids": [mine.pk, theirs.pk], "tag_ids": [loyal["id"]]})
    assert refused.status_code == 404
    assert (refused.json()["field"], refused.json()["index"]) == ("customer_ids", 1)
    assert s1.post("/api/tags/bulk-tag", {"customer_ids": [mine.pk], "tag_ids": [loyal["id"]]}).json() == {"changed": 1}
    # exclusive group: "loyal" replaced "new" for this customer
    assert set(CustomerTag.objects.filter(customer=mine).values_list("tag__name", flat=True)) == {"loyal"}

    def counts(api: Api) -> dict[str, int]:
        [lib] = [g for g in api.get("/api/tag-groups").json() if g["id"] == gid]
        return {t["name"]: t["customer_count"] for t in lib["tags"]}

    assert counts(hq) == {"new": 1, "loyal": 1}
    assert counts(s1) == {"new": 0, "loyal": 1}

    assert s1.post("/api/tags/bulk-untag", {"customer_ids": [mine.pk], "tag_ids": [loyal["id"]]}).json() == {
        "changed": 1
    }
    assert not CustomerTag.objects.filter(customer=mine).exists()


def test_only_hq_edits_the_library_and_names_are_unique(org: Org, api_as: Callable[[Staff], Api]) -> None:
    assert api_as(org.north_manager).post("/api/tag-groups", {"name": "Mine"}).status_code == 403
    hq = api_as(org.hq)
    gid = hq.post("/api/tag-groups", {"name": "Interest"}).json()["id"]
    again = hq.post("/api/tag-groups", {"name": "Interest"})
    assert (again.status_code, again.json()["code"]) == (409, "duplicate")
    assert api_as(org.n1_manager).post(f"/api/tag-groups/{gid}/tags", {"name": "tea"}).status_code == 403
    assert hq.post("/api/tag-groups/424242/tags", {"name": "tea"}).status_code == 404
    bad_kind = hq.post(f"/api/tag-groups/{gid}/tags", {"name": "tea", "kind": "magic"})
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    assert TagGroup.objects.filter(enterprise=org.enterprise).count() == 1
