"""Merges that would join two different people are refused unless HQ forces them with a reason; exclusive tag groups
end with one tag (the survivor's); a merge decided on stale rows is refused, never a cycle."""

from __future__ import annotations

import pytest

from siyu.core.errors import Conflict, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers import queries, services
from siyu.customers.models import Customer, CustomerMerge, CustomerTag, Identity
from siyu.customers.services import IdentityInput
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import TagFactory, TagGroupFactory


def _customer(org: Org, name: str, *identities: tuple[str, str, str], phone: str = "") -> Customer:
    return services.create_customer(
        enterprise_id=org.enterprise.pk, name=name, phone=phone,
        identities=[IdentityInput(kind=k, value=v, account=a) for k, v, a in identities],
    )


@pytest.mark.parametrize(
    ("survivor_ids", "absorbed_ids", "kind"),
    [
        ([("unionid", "U-ALICE", "")], [("unionid", "U-BOB", "")], "unionid"),
        ([("wecom_external_userid", "wmA", "corp1")], [("wecom_external_userid", "wmB", "corp1")],
         "wecom_external_userid"),
        ([("oa_openid", "oA", "wxoa1")], [("oa_openid", "oB", "wxoa1")], "oa_openid"),
        ([("mp_openid", "mA", "wxmp1")], [("mp_openid", "mB", "wxmp1")], "mp_openid"),
    ],
)
def test_two_people_with_conflicting_strong_identities_are_not_merged(
    org: Org, survivor_ids: list[tuple[str, str, str]], absorbed_ids: list[tuple[str, str, str]], kind: str
) -> None:
    alice = _customer(org, "Alice", *survivor_ids, phone="13800000001")
    bob = _customer(org, "Bob", *absorbed_ids, phone="13900000002")

    with pytest.raises(Conflict) as err:
        services.merge_customers(survivor=alice, absorbed=bob, reason="manual")

    assert err.value.code == "merge_conflict"
    assert kind in err.value.message
    assert Customer.objects.get(pk=bob.pk).merged_into_id is None
    assert not CustomerMerge.objects.exists()
    assert set(Identity.objects.filter(customer=alice).values_list("kind", flat=True)) == {kind, "phone"}


def test_the_same_kind_from_different_apps_is_no_conflict(org: Org) -> None:
    """One person has one external_userid per corp and one openid per app: two corps or two apps are two ids."""
    alice = _customer(org, "Alice", ("wecom_external_userid", "wmA", "corp1"), ("oa_openid", "oA", "wxoa1"))
    again = _customer(org, "Alice", ("wecom_external_userid", "wmA2", "corp2"), ("oa_openid", "oA2", "wxoa2"))
    services.merge_customers(survivor=alice, absorbed=again, reason="manual")
    assert Identity.objects.filter(customer=alice).count() == 4


def test_hq_may_force_a_conflicting_merge_with_a_reason(org: Org) -> None:
    alice = _customer(org, "Alice", ("unionid", "U-1", ""))
    alias = _customer(org, "Alice (old app)", ("unionid", "U-2", ""))
    with pytest.raises(ValidationFailed) as err:
        services.merge_customers(survivor=alice, absorbed=alias, reason="manual", force=True, force_reason="  ")
    assert err.value.field == "force_reason"

    record = services.merge_customers(
        survivor=alice, absorbed=alias, reason="manual", force=True,
        force_reason="the same member re-registered under the old mini-program", actor=org.hq.user,
    )

    assert record.force_reason == "the same member re-registered under the old mini-program"
    assert set(Identity.objects.filter(customer=alice, kind="unionid").values_list("value", flat=True)) == {
        "U-1", "U-2"}
    entry = AuditEntry.objects.get(action="customer.merge", target_id=str(alice.pk))
    assert entry.changes["forced"] == {
        "reason": "the same member re-registered under the old mini-program", "conflicts": ["unionid"]}


def test_an_exclusive_tag_group_keeps_the_survivors_tag(org: Org) -> None:
    ent = org.enterprise
    level = TagGroupFactory.create(enterprise=ent, name="Level", exclusive=True)
    gold, silver = TagFactory.create(group=level, name="Gold"), TagFactory.create(group=level, name="Silver")
    hobby = TagGroupFactory.create(enterprise=ent, name="Hobby")
    running = TagFactory.create(group=hobby, name="Running")
    survivor, absorbed, untagged = (_customer(org, n) for n in ("S", "A", "U"))
    services.tag_customers(enterprise_id=ent.pk, customer_ids=[survivor.pk], tag_ids=[gold.pk])
    services.tag_customers(enterprise_id=ent.pk, customer_ids=[absorbed.pk], tag_ids=[silver.pk, running.pk])

    record = services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")

    assert set(CustomerTag.objects.filter(customer=survivor).values_list("tag__name", flat=True)) == {
        "Gold", "Running"}
    assert record.moved["exclusive_tags_dropped"] == 1
    # a survivor without a tag of the group takes the absorbed customer's
    services.merge_customers(survivor=untagged, absorbed=survivor, reason="manual")
    assert set(CustomerTag.objects.filter(customer=untagged).values_list("tag__name", flat=True)) == {
        "Gold", "Running"}


def test_a_merge_decided_on_stale_rows_is_refused_not_a_cycle(org: Org) -> None:
    """Two operators open the same pair; one merges A into B, the other (holding the rows it read before) B into A."""
    a, b = _customer(org, "A"), _customer(org, "B")
    stale_a, stale_b = Customer.objects.get(pk=a.pk), Customer.objects.get(pk=b.pk)
    services.merge_customers(survivor=b, absorbed=a, reason="manual")

    with pytest.raises(Conflict) as err:
        services.merge_customers(survivor=stale_a, absorbed=stale_b, reason="manual")

    assert err.value.code == "already_merged"
    assert Customer.objects.get(pk=b.pk).merged_into_id is None
    assert Customer.objects.get(pk=a.pk).merged_into_id == b.pk
    assert CustomerMerge.objects.count() == 1


def test_resolve_customer_does_not_merge_conflicting_people(org: Org) -> None:
    """The platform says wmA's unionid is U-B, but wmA's customer already has U-A: the two stay apart."""
    a = _customer(org, "A", ("wecom_external_userid", "wmA", "corp1"), ("unionid", "U-A", ""))
    b = _customer(org, "B", ("unionid", "U-B", ""))

    found = services.resolve_customer(
        enterprise_id=org.enterprise.pk,
        identities=[IdentityInput("wecom_external_userid", "wmA", "corp1"), IdentityInput("unionid", "U-B")],
    )

    assert found.pk == a.pk
    assert Customer.objects.get(pk=b.pk).merged_into_id is None
    assert Identity.objects.get(kind="unionid", value="U-B").customer_id == b.pk
    assert not CustomerMerge.objects.exists()


def test_the_preview_shows_both_sides_conflicts_and_what_is_kept(org: Org) -> None:
    ent = org.enterprise
    level = TagGroupFactory.create(enterprise=ent, name="Level", exclusive=True)
    gold, silver = TagFactory.create(group=level, name="Gold"), TagFactory.create(group=level, name="Silver")
    survivor = _customer(org, "Alice", ("unionid", "U-1", ""), phone="13800000001")
    absorbed = services.create_customer(
        enterprise_id=ent.pk, phone="13900000002", gender="female", region="Beijing",
        identities=[IdentityInput("unionid", "U-2"), IdentityInput("oa_openid", "oX", "wxoa1")],
    )
    services.tag_customers(enterprise_id=ent.pk, customer_ids=[survivor.pk], tag_ids=[gold.pk])
    services.tag_customers(enterprise_id=ent.pk, customer_ids=[absorbed.pk], tag_ids=[silver.pk])
    services.add_relationship(customer=absorbed, staff=org.n1_staff, added_at=absorbed.created_at)

    preview = queries.merge_preview(scope_for_staff(org.hq), survivor.pk, absorbed.pk)

    assert preview.survivor.customer.pk == survivor.pk and preview.absorbed.customer.pk == absorbed.pk
    assert [c.kind for c in preview.conflicts] == ["unionid"]
    assert preview.conflicts[0].survivor_values == ("U-1",) and preview.conflicts[0].absorbed_values == ("U-2",)
    kept = {row.field: (row.value, row.source) for row in preview.profile}
    assert kept["name"] == ("Alice", "survivor")
    assert kept["phone"] == ("13800000001", "survivor")
    assert kept["gender"] == ("female", "absorbed")
    assert kept["region"] == ("Beijing", "absorbed")
    assert [t.name for t in preview.tags_kept] == ["Gold"]
    assert [t.name for t in preview.tags_dropped] == ["Silver"]
    assert [r.staff.pk for r in preview.absorbed.relationships] == [org.n1_staff.pk]
    assert preview.absorbed.counts["events"] >= 1 and "orders" in preview.absorbed.counts
    assert not preview.mergeable
    # nothing was written by looking
    assert Customer.objects.get(pk=absorbed.pk).merged_into_id is None
