"""Merging over the API: two people are a 409 naming the conflicting identity; only HQ forces, with a reason; the
preview shows both sides and what would be kept, within the caller's scope."""

from __future__ import annotations

from collections.abc import Callable

from siyu.customers import services
from siyu.customers.models import Customer, CustomerMerge
from siyu.customers.services import IdentityInput
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import TagFactory, TagGroupFactory


def _two_people(org: Org) -> tuple[Customer, Customer]:
    ent = org.enterprise.pk
    alice = services.create_customer(enterprise_id=ent, name="Alice", phone="13800000001",
                                     home_store_id=org.store_n1.pk, identities=[IdentityInput("unionid", "U-ALICE")])
    bob = services.create_customer(enterprise_id=ent, name="", phone="13900000002", home_store_id=org.store_n1.pk,
                                   region="Tianjin", identities=[IdentityInput("unionid", "U-BOB")])
    return alice, bob


def test_merging_two_people_is_a_409_naming_the_identity(org: Org, api_as: Callable[[Staff], Api]) -> None:
    alice, bob = _two_people(org)
    response = api_as(org.n1_manager).post("/api/customers/merge", {"survivor_id": alice.pk, "absorbed_id": bob.pk})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "merge_conflict" and body["field"] == "absorbed_id" and "unionid" in body["message"]
    assert Customer.objects.get(pk=bob.pk).merged_into_id is None


def test_only_hq_forces_and_only_with_a_reason(org: Org, api_as: Callable[[Staff], Api]) -> None:
    alice, bob = _two_people(org)
    body = {"survivor_id": alice.pk, "absorbed_id": bob.pk, "force": True, "force_reason": "same person, new phone"}
    manager = api_as(org.n1_manager).post("/api/customers/merge", body)
    assert manager.status_code == 403 and manager.json()["field"] == "force"
    hq = api_as(org.hq)
    no_reason = hq.post("/api/customers/merge", {**body, "force_reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "force_reason"
    assert not CustomerMerge.objects.exists()

    forced = hq.post("/api/customers/merge", body)

    assert forced.status_code == 200, forced.content
    assert forced.json()["force_reason"] == "same person, new phone"
    assert Customer.objects.get(pk=bob.pk).merged_into_id == alice.pk


def test_the_preview_lays_both_sides_side_by_side(org: Org, api_as: Callable[[Staff], Api]) -> None:
    alice, bob = _two_people(org)
    level = TagGroupFactory.create(enterprise=org.enterprise, name="Level", exclusive=True)
    gold, silver = TagFactory.create(group=level, name="Gold"), TagFactory.create(group=level, name="Silver")
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[alice.pk], tag_ids=[gold.pk])
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[bob.pk], tag_ids=[silver.pk])

    response = api_as(org.n1_manager).get(f"/api/customers/{alice.pk}/merge-preview", other=bob.pk)

    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["survivor"]["customer"]["id"] == alice.pk and preview["absorbed"]["customer"]["id"] == bob.pk
    assert preview["mergeable"] is False
    assert preview["conflicts"] == [
        {"kind": "unionid", "account": "", "survivor_values": ["U-ALICE"], "absorbed_values": ["U-BOB"]}]
    kept = {row["field"]: (row["value"], row["source"]) for row in preview["profile"]}
    assert kept["name"] == ("Alice", "survivor") and kept["region"] == ("Tianjin", "absorbed")
    assert kept["phone"] == ("13800000001", "survivor")
    assert [t["name"] for t in preview["tags_kept"]] == ["Gold"]
    assert [(t["name"], t["exclusive"]) for t in preview["tags_dropped"]] == [("Silver", True)]
    assert preview["absorbed"]["counts"] == {"events": 2, "orders": 0}  # customer_created + tag_added
    assert "survivor's tag wins" in preview["exclusive_tag_rule"]
    assert not CustomerMerge.objects.exists()


def test_the_preview_keeps_the_merge_rules_of_scope_and_role(org: Org, api_as: Callable[[Staff], Api]) -> None:
    alice, bob = _two_people(org)
    south = services.create_customer(enterprise_id=org.enterprise.pk, name="South", home_store_id=org.store_s1.pk)
    staff = api_as(org.n1_staff).get(f"/api/customers/{alice.pk}/merge-preview", other=bob.pk)
    assert staff.status_code == 403
    outside = api_as(org.n1_manager).get(f"/api/customers/{alice.pk}/merge-preview", other=south.pk)
    assert outside.status_code == 404 and outside.json()["field"] == "other"
    itself = api_as(org.hq).get(f"/api/customers/{alice.pk}/merge-preview", other=alice.pk)
    assert itself.status_code == 422 and itself.json()["field"] == "other"
    missing = api_as(org.hq).get(f"/api/customers/{alice.pk}/merge-preview")
    assert missing.status_code == 422 and missing.json()["field"] == "other"
