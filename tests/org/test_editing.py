"""Regions, stores and staff created and edited by hand: who may, what is refused (with the field), what is audited."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User

from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.org import editing, queries
from siyu.org.models import Enterprise, OpeningState, Region, Role, Staff, Store
from siyu.org.scope import Scope, scope_for_staff
from tests.conftest import Org


def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


def test_hq_creates_a_region_and_a_store_with_an_opening_state(org: Org) -> None:
    region = editing.create_region(scope=hq(org), data=editing.RegionInput(name=" East  China ", code="east"),
                                   actor=org.hq.user)
    assert (region.name, region.code) == ("East China", "east")
    store = editing.create_store(scope=hq(org), actor=org.hq.user, data=editing.StoreInput(
        name="Shanghai 1", code="sh1", region_id=region.pk, city="上海", address="南京西路 1 号",
        opening_state=OpeningState.PREPARING, opened_on=date(2027, 1, 8)))
    assert (store.region_id, store.opening_state, store.is_active, store.opened_on) == (
        region.pk, "preparing", True, date(2027, 1, 8))
    closed = editing.update_store(scope=hq(org), store_id=store.pk, actor=org.hq.user, data=editing.StoreInput(
        name="Shanghai 1", code="sh1", region_id=region.pk, city="上海", address="南京西路 1 号",
        opening_state=OpeningState.CLOSED))
    assert (closed.opening_state, closed.is_active) == ("closed", False)
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["region.create", "store.create", "store.update"]
    assert AuditEntry.objects.get(action="store.update").changes["opening_state"] == ["preparing", "closed"]


@pytest.mark.parametrize(("data", "field"), [
    (editing.StoreInput(name="", code="x1", region_id=0), "name"),
    (editing.StoreInput(name="X", code="has space", region_id=0), "code"),
    (editing.StoreInput(name="X", code="bj1", region_id=0), "region_id"),
    (editing.StoreInput(name="X", code="x1", region_id=0, opening_state="maybe"), "opening_state"),
])
def test_bad_store_input_names_the_field_and_writes_nothing(org: Org, data: editing.StoreInput, field: str) -> None:
    before = Store.objects.count()
    with pytest.raises(ValidationFailed) as err:
        editing.create_store(scope=hq(org), data=data)
    assert err.value.field == field
    assert Store.objects.count() == before
    assert not AuditEntry.objects.exists()


def test_codes_are_unique_per_enterprise_only(org: Org) -> None:
    with pytest.raises(ValidationFailed) as err:
        editing.create_store(scope=hq(org), data=editing.StoreInput(name="Dup", code="bj1", region_id=org.north.pk))
    assert (err.value.field, err.value.code) == ("code", "duplicate")
    other = Scope.hq(_other_enterprise().pk)
    region = editing.create_region(scope=other, data=editing.RegionInput(name="North", code="north"))
    editing.create_store(scope=other, data=editing.StoreInput(name="B", code="bj1", region_id=region.pk))
    # a region of another enterprise cannot be named
    with pytest.raises(ValidationFailed) as err:
        editing.create_store(scope=hq(org), data=editing.StoreInput(name="Y", code="y1", region_id=region.pk))
    assert err.value.field == "region_id"


def _other_enterprise() -> Enterprise:
    return Enterprise.objects.create(name="Other", code="other-brand")


@pytest.mark.parametrize("who", ["north_manager", "n1_manager", "n1_staff"])
def test_only_hq_edits_regions_and_stores(org: Org, who: str) -> None:
    scope = scope_for_staff(getattr(org, who))
    with pytest.raises(PermissionDenied):
        editing.create_region(scope=scope, data=editing.RegionInput(name="R", code="r"))
    with pytest.raises(PermissionDenied):
        editing.update_store(scope=scope, store_id=org.store_n1.pk,
                             data=editing.StoreInput(name="X", code="bj1", region_id=org.north.pk))
    assert Store.objects.get(pk=org.store_n1.pk).name == "Beijing 1"
    assert Region.objects.count() == 2


def test_moving_a_store_to_another_region_moves_its_staff(org: Org) -> None:
    editing.update_store(scope=hq(org), store_id=org.store_n1.pk,
                         data=editing.StoreInput(name="Beijing 1", code="bj1", region_id=org.south.pk))
    assert set(Staff.objects.filter(store=org.store_n1).values_list("region_id", flat=True)) == {org.south.pk}


def test_store_manager_adds_and_edits_store_staff_of_their_own_store_only(org: Org) -> None:
    mgr = scope_for_staff(org.n1_manager)
    added = editing.create_staff(scope=mgr, actor=org.n1_manager.user, data=editing.StaffInput(
        name="新导购", wecom_userid="new.guide", mobile="+86 138-0013-8000", store_id=org.store_n1.pk))
    assert (added.store_id, added.region_id, added.role, added.mobile) == (
        org.store_n1.pk, org.north.pk, Role.STORE_STAFF, "13800138000")
    with pytest.raises(ValidationFailed) as err:  # another store is not theirs to staff
        editing.create_staff(scope=mgr, data=editing.StaffInput(name="X", store_id=org.store_n2.pk))
    assert err.value.field == "store_id"
    with pytest.raises(PermissionDenied):  # nor may they grant a manager role
        editing.create_staff(scope=mgr, data=editing.StaffInput(name="X", role=Role.STORE_MANAGER,
                                                                store_id=org.store_n1.pk))
    with pytest.raises(NotFound):  # staff of another store are not even visible
        editing.update_staff(scope=mgr, staff_id=org.n2_staff.pk,
                             data=editing.StaffInput(name="x", store_id=org.store_n1.pk))
    with pytest.raises(PermissionDenied):
        editing.create_staff(scope=scope_for_staff(org.n1_staff),
                             data=editing.StaffInput(name="X", store_id=org.store_n1.pk))


def test_hq_changes_a_role_and_the_change_is_audited_on_its_own(org: Org) -> None:
    staff = editing.update_staff(scope=hq(org), staff_id=org.n1_staff.pk, actor=org.hq.user, data=editing.StaffInput(
        name="n1_staff", role=Role.STORE_MANAGER, wecom_userid="n1_staff", store_id=org.store_n1.pk))
    assert staff.role == Role.STORE_MANAGER
    entry = AuditEntry.objects.get(action="staff.role")
    assert (entry.target_id, entry.changes["role"], entry.actor) == (
        str(org.n1_staff.pk), ["store_staff", "store_manager"], org.hq.user)
    # region managers need a region; store roles a store
    with pytest.raises(ValidationFailed) as err:
        editing.update_staff(scope=hq(org), staff_id=org.n1_staff.pk,
                             data=editing.StaffInput(name="n1_staff", role=Role.REGION_MANAGER))
    assert err.value.field == "region_id"


def test_userids_and_mobiles_are_checked(org: Org) -> None:
    for data, field in [
        (editing.StaffInput(name="X", wecom_userid="n2_staff", store_id=org.store_n1.pk), "wecom_userid"),
        (editing.StaffInput(name="X", wecom_userid="bad id!", store_id=org.store_n1.pk), "wecom_userid"),
        (editing.StaffInput(name="X", mobile="12345", store_id=org.store_n1.pk), "mobile"),
        (editing.StaffInput(name="X", role="king", store_id=org.store_n1.pk), "role"),
        (editing.StaffInput(name="X", store_id=None), "store_id"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            editing.create_staff(scope=hq(org), data=data)
        assert err.value.field == field, data


def test_hq_marks_staff_left_who_then_cannot_sign_in(org: Org) -> None:
    user = org.n2_staff.user
    assert user is not None
    user.set_password("pw-long-enough-1")
    user.save()
    left = editing.mark_staff_left(scope=hq(org), staff_id=org.n2_staff.pk, reason="resigned", actor=org.hq.user)
    assert not left.is_active and left.left_at is not None
    assert not User.objects.get(pk=user.pk).is_active
    assert authenticate(username="n2_staff", password="pw-long-enough-1") is None
    assert AuditEntry.objects.get(action="staff.left").summary == "n2_staff: resigned"
    # again: nothing more happens
    editing.mark_staff_left(scope=hq(org), staff_id=org.n2_staff.pk)
    assert AuditEntry.objects.filter(action="staff.left").count() == 1
    with pytest.raises(PermissionDenied):
        editing.mark_staff_left(scope=scope_for_staff(org.n1_manager), staff_id=org.n1_staff.pk)
    with pytest.raises(ValidationFailed):
        editing.mark_staff_left(scope=hq(org), staff_id=org.hq.pk)


def test_hq_sets_a_password_stored_only_as_a_hash(org: Org) -> None:
    staff = Staff.objects.create(enterprise=org.enterprise, name="Li", role=Role.STORE_STAFF, store=org.store_s1,
                                 region=org.south)
    editing.set_staff_password(scope=hq(org), staff_id=staff.pk, username="li.gz1", password="Guangzhou#2026",
                               actor=org.hq.user)
    user = User.objects.get(username="li.gz1")
    assert "Guangzhou#2026" not in user.password and user.check_password("Guangzhou#2026")
    assert authenticate(username="li.gz1", password="Guangzhou#2026") == user
    assert "Guangzhou#2026" not in str(AuditEntry.objects.get(action="staff.password").__dict__)
    # reset
    editing.set_staff_password(scope=hq(org), staff_id=staff.pk, username="li.gz1", password="Another#2027x")
    assert authenticate(username="li.gz1", password="Guangzhou#2026") is None
    with pytest.raises(ValidationFailed) as err:  # names are global: taken elsewhere reads only "taken"
        editing.set_staff_password(scope=hq(org), staff_id=staff.pk, username="N1_Staff", password="Another#2027x")
    assert (err.value.field, err.value.code) == ("username", "duplicate")
    with pytest.raises(PermissionDenied):
        editing.set_staff_password(scope=scope_for_staff(org.n1_manager), staff_id=org.n1_staff.pk,
                                   username="n1x", password="Another#2027x")


def test_weak_password_is_refused_by_the_validators(org: Org, settings: Any) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}}]
    with pytest.raises(ValidationFailed) as err:
        editing.set_staff_password(scope=hq(org), staff_id=org.n1_staff.pk, username="n1_staff", password="short")
    assert err.value.field == "password"


def test_search_lists(org: Org) -> None:
    scope = hq(org)
    assert [s.code for s in queries.search_stores(scope, "tianjin")] == ["tj1"]
    assert [r.code for r in queries.search_regions(scope, "sou")] == ["south"]
    assert {s.wecom_userid for s in queries.search_staff(scope, "n1")} == {"n1_mgr", "n1_staff"}
    assert {s.wecom_userid for s in queries.search_staff(scope_for_staff(org.n1_manager), "staff")} == {"n1_staff"}
