"""Merging from the customer profile: find the other record, see both side by side with what is kept and what
conflicts, then merge; two people need HQ's force with a reason."""

from __future__ import annotations

from django.test import Client

from siyu.customers import services
from siyu.customers.models import Customer, CustomerMerge
from siyu.customers.services import IdentityInput
from tests.conftest import Org
from tests.console.conftest import People


def _login(client: Client, staff: object) -> Client:
    user = getattr(staff, "user")  # noqa: B009 - Staff.user is optional in the type
    client.force_login(user)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    return client


def test_store_staff_get_no_merge(client: Client, org: Org, people: People) -> None:
    _login(client, org.n1_staff)
    assert 'id="merge"' not in client.get(f"/customers/{people.ada.pk}/").content.decode()
    assert client.get(f"/customers/{people.ada.pk}/merge/").status_code == 403
    response = client.post(f"/customers/{people.ada.pk}/merge/", {"other": people.bob.pk})
    assert response.status_code == 403
    assert Customer.objects.get(pk=people.bob.pk).merged_into_id is None


def test_a_manager_finds_previews_and_merges_a_duplicate(client: Client, org: Org, people: People) -> None:
    dup = services.create_customer(enterprise_id=org.enterprise.pk, name="Ada W.", region="Chaoyang",
                                   home_store_id=org.store_n1.pk)
    _login(client, org.n1_manager)
    assert 'id="merge"' in client.get(f"/customers/{people.ada.pk}/").content.decode()

    found = client.get(f"/customers/{people.ada.pk}/merge/", {"other": "Ada W."}).content.decode()
    assert f'data-candidate="{dup.pk}"' in found and f'data-candidate="{people.ada.pk}"' not in found

    preview = client.get(f"/customers/{people.ada.pk}/merge/", {"other": dup.pk})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert 'id="merge-preview"' in html and 'id="merge-conflicts"' not in html
    assert "Chaoyang" in html and "from the merged customer" in html  # the blank region is filled from the dup
    assert f"Merge #{dup.pk} into #{people.ada.pk}" in html
    assert not CustomerMerge.objects.exists()  # looking writes nothing

    merged = client.post(f"/customers/{people.ada.pk}/merge/", {"other": dup.pk})

    assert merged.status_code == 302 and merged["Location"] == f"/customers/{people.ada.pk}/"
    assert Customer.objects.get(pk=dup.pk).merged_into_id == people.ada.pk
    assert Customer.objects.get(pk=people.ada.pk).region == "Chaoyang"


def test_two_people_need_hq_force_with_a_reason(client: Client, org: Org, people: People) -> None:
    other = services.create_customer(
        enterprise_id=org.enterprise.pk, name="Ada Other", home_store_id=org.store_n1.pk,
        identities=[IdentityInput("wecom_external_userid", "wmOther", "wwtestcorp0001")],
    )
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[other.pk], tag_ids=[people.vip.pk])
    manager = _login(Client(), org.n1_manager)
    html = manager.get(f"/customers/{people.ada.pk}/merge/", {"other": other.pk}).content.decode()
    assert 'data-conflict="wecom_external_userid"' in html and "wmAda0001" in html and "wmOther" in html
    assert "Only HQ may merge customers whose identities conflict" in html and 'name="force"' not in html
    refused = manager.post(f"/customers/{people.ada.pk}/merge/", {"other": other.pk})
    assert refused.status_code == 409 and "two people" in refused.content.decode()
    forced_by_manager = manager.post(f"/customers/{people.ada.pk}/merge/",
                                     {"other": other.pk, "force": "on", "force_reason": "sure"})
    assert forced_by_manager.status_code == 403
    assert not CustomerMerge.objects.exists()

    hq = _login(client, org.hq)
    assert 'name="force"' in hq.get(f"/customers/{people.ada.pk}/merge/", {"other": other.pk}).content.decode()
    no_reason = hq.post(f"/customers/{people.ada.pk}/merge/", {"other": other.pk, "force": "on"})
    assert no_reason.status_code == 422 and not CustomerMerge.objects.exists()
    forced = hq.post(f"/customers/{people.ada.pk}/merge/",
                     {"other": other.pk, "force": "on", "force_reason": "one member, two WeCom contacts"})
    assert forced.status_code == 302
    assert CustomerMerge.objects.get().force_reason == "one member, two WeCom contacts"


def test_an_unknown_or_same_customer_is_a_message_not_a_crash(client: Client, org: Org, people: People) -> None:
    _login(client, org.hq)
    for other in (people.ada.pk, 999_999):
        response = client.get(f"/customers/{people.ada.pk}/merge/", {"other": other})
        assert response.status_code == 200 and 'id="merge-preview"' not in response.content.decode()
