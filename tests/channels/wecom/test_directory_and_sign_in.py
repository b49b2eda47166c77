"""The WeCom address book brought into the organisation (department mapping kept across syncs, leavers marked and
offered for inheritance) and staff signing in with their WeCom identity, against the simulator over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulator.wecom import DAY
from siyu.channels.wecom import directory, inheritance
from siyu.channels.wecom import queries as wecom_queries
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers.models import Relationship, RelationshipStatus
from siyu.org import editing
from siyu.org.models import DepartmentLink, Role, Staff
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.factories import CustomerFactory, RelationshipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _sync(w: Wecom) -> directory.DirectoryResult:
    return directory.sync_directory(scope=scope_for_staff(w.org.hq), account_id=w.account.pk, actor=w.org.hq.user)


def _link(department_id: int) -> DepartmentLink:
    return DepartmentLink.objects.get(department_id=department_id)


def _tree(w: Wecom) -> None:
    w.platform.add_department(CORP_ID, 2, "华北大区", 1)
    w.platform.add_department(CORP_ID, 21, "北京一店", 2)
    w.platform.add_department(CORP_ID, 22, "天津一店", 2)


def test_first_sync_keeps_departments_and_brings_new_members_unplaced(wecom: Wecom) -> None:
    _tree(wecom)
    wecom.platform.add_member(CORP_ID, "new.guide", "新导购", department=[21], mobile="13900000001")
    result = _sync(wecom)
    assert (result.departments, result.created, result.unplaced, result.left) == (4, ["new.guide"], ["new.guide"],
                                                                                    [])
    assert sorted(DepartmentLink.objects.values_list("department_id", "parent_id", "name")) == [
        (1, 0, CORP_ID), (2, 1, "华北大区"), (21, 2, "北京一店"), (22, 2, "天津一店")]
    guide = Staff.objects.get(wecom_userid="new.guide")
    assert (guide.name, guide.mobile, guide.role, guide.store_id, guide.wecom_department_id) == (
        "新导购", "13900000001", Role.STORE_STAFF, None, 21)
    # existing staff are recognised, not duplicated, and keep their stores
    assert Staff.objects.get(pk=wecom.org.n1_staff.pk).store_id == wecom.org.store_n1.pk
    assert Staff.objects.filter(enterprise=wecom.org.enterprise).count() == 7


def test_the_mapping_is_kept_and_applied_on_later_syncs(wecom: Wecom) -> None:
    _tree(wecom)
    wecom.platform.add_member(CORP_ID, "early", "Early", department=[21])
    _sync(wecom)
    hq = scope_for_staff(wecom.org.hq)
    editing.map_department(scope=hq, link_id=_link(21).pk, store_id=wecom.org.store_n1.pk, actor=wecom.org.hq.user)
    editing.map_department(scope=hq, link_id=_link(2).pk, region_id=wecom.org.north.pk)
    wecom.platform.add_member(CORP_ID, "later", "Later", department=[21])
    wecom.platform.add_member(CORP_ID, "tj.guide", "TJ", department=[22])  # unmapped: its parent's region
    wecom.platform.move_member(CORP_ID, "s1_staff", [21])  # moved in WeCom: follows the mapping
    result = _sync(wecom)
    n1, north = wecom.org.store_n1, wecom.org.north
    places = {s.wecom_userid: (s.store_id, s.region_id) for s in Staff.objects.filter(
        wecom_userid__in=["early", "later", "tj.guide", "s1_staff", "n2_staff"])}
    assert places == {"early": (n1.pk, north.pk), "later": (n1.pk, north.pk), "tj.guide": (None, north.pk),
                      "s1_staff": (n1.pk, north.pk), "n2_staff": (wecom.org.store_n2.pk, north.pk)}
    assert result.moved == ["s1_staff"]
    # a third sync with nothing changed in WeCom keeps a hand-made move
    editing.update_staff(scope=hq, staff_id=Staff.objects.get(wecom_userid="later").pk, data=editing.StaffInput(
        name="Later", wecom_userid="later", store_id=wecom.org.store_n2.pk))
    _sync(wecom)
    assert Staff.objects.get(wecom_userid="later").store_id == wecom.org.store_n2.pk
    assert _link(21).store_id == n1.pk and _link(21).member_count == 3
    assert AuditEntry.objects.filter(action="org.department_map").count() == 2


def test_members_gone_from_wecom_are_marked_left_and_offered_for_inheritance(wecom: Wecom) -> None:
    _sync(wecom)
    s1 = wecom.org.s1_staff
    RelationshipFactory.create(customer=CustomerFactory.create(enterprise=wecom.org.enterprise), staff=s1)
    wecom.platform.resign_member(CORP_ID, "s1_staff")
    result = _sync(wecom)
    assert result.left == ["s1_staff"]
    gone = Staff.objects.get(pk=s1.pk)
    assert not gone.is_active and gone.left_at is not None
    assert AuditEntry.objects.get(action="staff.left").summary == "s1_staff: no longer in WeCom"
    hq = Scope.hq(wecom.org.enterprise.pk)
    offered = wecom_queries.leavers_to_inherit(hq)
    assert [(s.pk, s.open_customers) for s in offered] == [(s1.pk, 1)]
    # the resigned-staff inheritance accepts them now (it refuses staff still active)
    handover, _ = inheritance._check_people(hq, "resigned", s1.pk, wecom.org.n2_staff.pk)
    assert handover.pk == s1.pk
    with pytest.raises(ValidationFailed):
        inheritance._check_people(hq, "resigned", wecom.org.n1_staff.pk, wecom.org.n2_staff.pk)
    # the transfer page offers them with a link to start it
    wecom.client.force_login(wecom.org.hq.user)  # type: ignore[arg-type]
    page = wecom.client.get("/channels/wecom/transfers/").content.decode()
    assert f'data-staff-id="{s1.pk}"' in page


def test_staff_marked_left_by_hand_can_be_inherited_and_a_sync_does_not_bring_them_back(wecom: Wecom) -> None:
    _sync(wecom)
    ext = "wmEXT0001"
    customer = CustomerFactory.create(enterprise=wecom.org.enterprise)
    RelationshipFactory.create(customer=customer, staff=wecom.org.n1_staff)
    from siyu.customers.models import Identity, IdentityKind

    Identity.objects.create(customer=customer, enterprise=wecom.org.enterprise,
                            kind=IdentityKind.WECOM_EXTERNAL_USERID, value=ext)
    wecom.platform.import_follow(CORP_ID, userid="n1_staff", external_userid=ext, name="Customer")
    editing.mark_staff_left(scope=scope_for_staff(wecom.org.hq), staff_id=wecom.org.n1_staff.pk, reason="resigned")
    _sync(wecom)  # still in WeCom: stays left
    assert not Staff.objects.get(pk=wecom.org.n1_staff.pk).is_active
    wecom.platform.resign_member(CORP_ID, "n1_staff")  # WeCom's rule: resigned transfer needs a resigned member
    job = inheritance.start_transfer(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk,
                                     kind="resigned", handover_id=wecom.org.n1_staff.pk,
                                     takeover_id=wecom.org.n2_staff.pk)
    assert job.items.count() == 1
    wecom.platform.advance(DAY + 1)
    wecom.deliver()
    inheritance.poll_transfer(job_id=job.pk)
    assert Relationship.objects.get(customer=customer, staff=wecom.org.n2_staff).status == RelationshipStatus.ACTIVE


def test_an_empty_address_book_marks_nobody_left(wecom: Wecom) -> None:
    _sync(wecom)
    for userid in list(wecom.platform.corps[CORP_ID].members):
        wecom.platform.resign_member(CORP_ID, userid)
    with pytest.raises(ValidationFailed) as err:
        _sync(wecom)
    assert err.value.code == "empty_directory"
    assert Staff.objects.filter(is_active=False).count() == 0


def test_only_hq_syncs_and_maps(wecom: Wecom) -> None:
    with pytest.raises(PermissionDenied):
        directory.sync_directory(scope=scope_for_staff(wecom.org.n1_manager), account_id=wecom.account.pk)
    _sync(wecom)
    with pytest.raises(PermissionDenied):
        editing.map_department(scope=scope_for_staff(wecom.org.north_manager), link_id=_link(1).pk,
                               region_id=wecom.org.north.pk)


# ---------------------------------------------------------------------------------------------------------------
# Sign-in with WeCom


def _start(w: Wecom) -> tuple[str, dict[str, str]]:
    response = w.client.get("/channels/wecom/login/")
    assert response.status_code == 302
    url = response["Location"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return url, query


def _confirm(url: str, userid: str) -> str:
    """What WeCom does when the member confirms on their phone: back to our callback with a code."""
    answer = httpx.get(f"{url}&userid={userid}", follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    return location[location.index("/channels/"):]


def test_store_staff_sign_in_with_wecom_and_see_only_their_store(wecom: Wecom) -> None:
    url, query = _start(wecom)
    assert url.startswith(f"{wecom.server.base_url}/wecom/wwlogin/sso/login?")
    assert (query["appid"], query["agentid"], query["login_type"]) == (CORP_ID, "1000002", "CorpApp")
    assert query["redirect_uri"] == "http://testserver/channels/wecom/login/callback/"
    callback = _confirm(url, "n1_staff")
    response = wecom.client.get(callback)
    assert response.status_code == 302
    stores = wecom.client.get("/api/org/stores").json()
    assert [s["code"] for s in stores["items"]] == ["bj1"]
    page = wecom.client.get("/org/stores/").content.decode()
    assert 'data-code="bj1"' in page and 'data-code="tj1"' not in page
    # the code was used: replaying the callback in a new session is refused
    wecom.client.logout()
    assert wecom.client.get(callback).status_code == 403


def test_a_callback_with_another_state_is_refused(wecom: Wecom) -> None:
    url, _query = _start(wecom)
    callback = _confirm(url, "n1_staff")
    forged = callback.replace("state=", "state=x")
    response = wecom.client.get(forged)
    assert response.status_code == 403
    assert "_auth_user_id" not in wecom.client.session
    # a callback in a browser that never started a sign-in (login CSRF) is refused too
    other = type(wecom.client)()
    assert other.get(_confirm(_start(wecom)[0], "n1_staff")).status_code == 403


def test_unknown_or_departed_members_cannot_sign_in(wecom: Wecom) -> None:
    wecom.platform.add_member(CORP_ID, "stranger", "Stranger")
    url, _ = _start(wecom)
    assert wecom.client.get(_confirm(url, "stranger")).status_code == 403
    editing.mark_staff_left(scope=scope_for_staff(wecom.org.hq), staff_id=wecom.org.n2_staff.pk)
    url, _ = _start(wecom)
    assert wecom.client.get(_confirm(url, "n2_staff")).status_code == 403
    assert "_auth_user_id" not in wecom.client.session


def test_a_staff_member_without_a_console_user_gets_one_without_a_password(wecom: Wecom) -> None:
    staff = Staff.objects.create(enterprise=wecom.org.enterprise, name="Fresh", wecom_userid="fresh",
                                 role=Role.STORE_STAFF, store=wecom.org.store_s1, region=wecom.org.south)
    wecom.platform.add_member(CORP_ID, "fresh", "Fresh")
    url, _ = _start(wecom)
    assert wecom.client.get(_confirm(url, "fresh")).status_code == 302
    staff.refresh_from_db()
    assert staff.user is not None and not staff.user.has_usable_password()
    assert [s["code"] for s in wecom.client.get("/api/org/stores").json()["items"]] == ["gz1"]
