from __future__ import annotations

import hashlib

import pytest

from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.org import queries
from siyu.org.models import ApiToken, Role
from siyu.org.scope import Scope, scope_for_staff, scope_for_user
from siyu.org.services import authenticate_token, create_api_token, revoke_api_token
from tests.conftest import Org
from tests.factories import StaffFactory, UserFactory


def test_token_stores_only_the_hash_and_authenticates_as_its_staff(org: Org) -> None:
    token, secret = create_api_token(staff=org.n1_manager, name="  POS  ", actor=org.hq.user)
    assert token.name == "POS"
    assert ApiToken.objects.get(pk=token.pk).token_hash == hashlib.sha256(secret.encode()).hexdigest()
    scope = authenticate_token(secret)
    assert (scope.role, scope.staff_id, scope.store_ids) == (Role.STORE_MANAGER, org.n1_manager.pk, {org.store_n1.pk})
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    assert AuditEntry.objects.get(action="api_token.create").actor == org.hq.user


def test_revoked_or_unknown_tokens_fail(org: Org) -> None:
    token, secret = create_api_token(staff=org.hq, name="t")
    revoke_api_token(token_id=token.pk)
    with pytest.raises(PermissionDenied):
        authenticate_token(secret)
    with pytest.raises(PermissionDenied):
        authenticate_token("siyu_made-up")


def test_token_for_staff_who_left_is_refused(org: Org) -> None:
    _token, secret = create_api_token(staff=org.n2_staff, name="t")
    org.n2_staff.is_active = False
    org.n2_staff.save()
    with pytest.raises(PermissionDenied):
        authenticate_token(secret)
    with pytest.raises(ValidationFailed) as err:
        create_api_token(staff=org.n2_staff, name="again")
    assert err.value.field == "staff_id"


def test_token_name_is_required(org: Org) -> None:
    with pytest.raises(ValidationFailed) as err:
        create_api_token(staff=org.hq, name=" ")
    assert err.value.field == "name"
    assert not ApiToken.objects.exists()


def test_roles_need_their_place_in_the_org(org: Org) -> None:
    with pytest.raises(PermissionDenied):
        scope_for_staff(StaffFactory.create(enterprise=org.enterprise, role=Role.REGION_MANAGER, region=None))
    with pytest.raises(PermissionDenied):
        scope_for_staff(StaffFactory.create(enterprise=org.enterprise, role=Role.STORE_STAFF, store=None))


def test_console_users_get_their_staff_scope_or_hq_as_superuser(org: Org) -> None:
    assert scope_for_user(org.s1_staff.user).staff_id == org.s1_staff.pk  # type: ignore[arg-type]
    root = UserFactory.create(username="root", is_superuser=True)
    assert scope_for_user(root).is_hq
    with pytest.raises(PermissionDenied):
        scope_for_user(UserFactory.create(username="nobody"))


def test_manager_flag(org: Org) -> None:
    assert [scope_for_staff(s).is_manager for s in (org.hq, org.north_manager, org.n1_manager, org.n1_staff)] == [
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("who", "stores", "staff"),
    [
        ("hq", {"bj1", "tj1", "gz1", "sz1"}, {"hq", "north_mgr", "n1_mgr", "n1_staff", "n2_staff", "s1_staff"}),
        ("north_manager", {"bj1", "tj1"}, {"north_mgr", "n1_mgr", "n1_staff", "n2_staff"}),
        ("n1_manager", {"bj1"}, {"n1_mgr", "n1_staff"}),
        ("n1_staff", {"bj1"}, {"n1_staff"}),
        ("s1_staff", {"gz1"}, {"s1_staff"}),
    ],
)
def test_org_queries_follow_the_scope(org: Org, who: str, stores: set[str], staff: set[str]) -> None:
    scope = scope_for_staff(getattr(org, who))
    assert set(queries.stores(scope).values_list("code", flat=True)) == stores
    assert set(queries.staff(scope).values_list("name", flat=True)) == staff
    regions = {"bj1": "north", "tj1": "north", "gz1": "south", "sz1": "south"}
    assert set(queries.regions(scope).values_list("code", flat=True)) == {regions[s] for s in stores}


def test_acting_user_is_the_staff_members_login(org: Org) -> None:
    assert queries.acting_user(scope_for_staff(org.n1_staff)) == org.n1_staff.user
    assert queries.acting_user(Scope.hq(org.enterprise.pk)) is None
