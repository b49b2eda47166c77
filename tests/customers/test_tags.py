from __future__ import annotations

import pytest

from siyu.core.errors import NotFound, ValidationFailed
from siyu.customers import queries, services
from siyu.customers.models import CustomerTag, Event
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory, TagFactory, TagGroupFactory


def tags_of(customer_id: int) -> set[str]:
    return set(CustomerTag.objects.filter(customer_id=customer_id).values_list("tag__name", flat=True))


def test_tagging_is_set_based_and_idempotent(org: Org) -> None:
    ent = org.enterprise.pk
    a, b = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(2))
    vip = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise), name="vip")
    assert services.tag_customers(enterprise_id=ent, customer_ids=[a.pk, b.pk], tag_ids=[vip.pk]) == 2
    assert services.tag_customers(enterprise_id=ent, customer_ids=[a.pk, b.pk], tag_ids=[vip.pk]) == 0
    assert CustomerTag.objects.filter(tag=vip).count() == 2
    assert Event.objects.filter(name="tag_added").count() == 2
    assert services.untag_customers(enterprise_id=ent, customer_ids=[a.pk], tag_ids=[vip.pk]) == 1
    assert tags_of(a.pk) == set() and tags_of(b.pk) == {"vip"}


def test_a_tag_of_an_exclusive_group_replaces_its_sibling(org: Org) -> None:
    ent = org.enterprise.pk
    customer = CustomerFactory.create(enterprise=org.enterprise)
    stage = TagGroupFactory.create(enterprise=org.enterprise, name="stage", exclusive=True)
    new, loyal = TagFactory.create(group=stage, name="new"), TagFactory.create(group=stage, name="loyal")
    other = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise), name="runner")
    services.tag_customers(enterprise_id=ent, customer_ids=[customer.pk], tag_ids=[new.pk, other.pk])
    services.tag_customers(enterprise_id=ent, customer_ids=[customer.pk], tag_ids=[loyal.pk])
    assert tags_of(customer.pk) == {"loyal", "runner"}
    with pytest.raises(ValidationFailed) as err:
        services.tag_customers(enterprise_id=ent, customer_ids=[customer.pk], tag_ids=[new.pk, loyal.pk])
    assert err.value.code == "exclusive_group"


def test_unknown_tag_names_its_position_and_writes_nothing(org: Org) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    vip = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise), name="vip")
    with pytest.raises(NotFound) as err:
        services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[customer.pk], tag_ids=[vip.pk, 424242])
    assert (err.value.code, err.value.field, err.value.index) == ("unknown_tag", "tag_ids", 1)
    assert not CustomerTag.objects.exists()


def test_tagging_is_limited_to_visible_customers(org: Org) -> None:
    mine, theirs = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(2))
    RelationshipFactory.create(customer=mine, staff=org.s1_staff)
    vip = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise), name="vip")
    visible = queries.visible_customer_ids(scope_for_staff(org.s1_staff))
    with pytest.raises(NotFound) as err:
        services.tag_customers(
            enterprise_id=org.enterprise.pk,
            customer_ids=[mine.pk, theirs.pk],
            tag_ids=[vip.pk],
            visible_customers=visible,
        )
    assert (err.value.field, err.value.index) == ("customer_ids", 1)
    assert not CustomerTag.objects.exists()


def test_tag_library_counts_only_visible_customers(org: Org) -> None:
    mine, theirs = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(2))
    RelationshipFactory.create(customer=mine, staff=org.s1_staff)
    vip = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise), name="vip")
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[mine.pk, theirs.pk], tag_ids=[vip.pk])

    def count(staff: object) -> int:
        [group] = queries.tag_library(scope_for_staff(staff))  # type: ignore[arg-type]
        [tag] = group.tags.all()
        return int(tag.customer_count)  # type: ignore[attr-defined]

    assert count(org.hq) == 2
    assert count(org.s1_staff) == 1
    assert count(org.n1_staff) == 0
