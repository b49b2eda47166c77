"""An operator deleting a WeCom-linked tag through the REST API: the customers lose it in Siyu, and the corp tag goes
from WeCom (the simulator) through the outbox, off the follow relationship that carried it too."""

from __future__ import annotations

import pytest
from django.test import Client

from simulator.wecom import ContactWayState
from siyu.channels.wecom import tags
from siyu.channels.wecom.models import ChannelCode, OutboundCall, TagLink
from siyu.core.models import AuditEntry
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, CustomerTag, Tag
from siyu.org.scope import Scope
from siyu.org.services import create_api_token
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _corp_names(w: Wecom) -> dict[str, set[str]]:
    corp = w.platform.corps[CORP_ID]
    out: dict[str, set[str]] = {g.name: set() for g in corp.tag_groups.values()}
    for tag in corp.tags.values():
        out[corp.tag_groups[tag.group_id].name].add(tag.name)
    return out


def test_deleting_a_linked_tag_through_the_api_deletes_the_corp_tag(wecom: Wecom) -> None:
    hq_scope = Scope.hq(wecom.org.enterprise.pk)
    interests = TagGroupFactory.create(enterprise=wecom.org.enterprise, name="兴趣")
    tea = TagFactory.create(group=interests, name="喝茶")
    TagFactory.create(group=interests, name="咖啡")
    tags.sync_tags(scope=hq_scope, account_id=wecom.account.pk)  # both pushed to WeCom and linked
    tea_id = TagLink.objects.get(account=wecom.account, tag=tea).wecom_tag_id
    assert _corp_names(wecom) == {"兴趣": {"喝茶", "咖啡"}}

    # a WeCom contact who carries 喝茶 in Siyu and, after the push, on WeCom
    ChannelCode.objects.create(enterprise=wecom.org.enterprise, account=wecom.account, name="x", state="s1")
    wecom.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "s1")
    follow = wecom.platform.scan(CORP_ID, "cfg1")
    wecom.deliver()
    customer = Customer.objects.get(identities__value=follow.external_userid)
    customer_services.tag_customers(enterprise_id=wecom.org.enterprise.pk, customer_ids=[customer.pk],
                                    tag_ids=[tea.pk])
    tags.push_customer_tags(scope=hq_scope, account_id=wecom.account.pk)
    assert wecom.platform.corps[CORP_ID].follows[("n1_staff", follow.external_userid)].tags == {tea_id}

    _token, secret = create_api_token(staff=wecom.org.hq, name="integration")
    response = Client().delete(f"/api/tags/{tea.pk}", headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 200
    assert response.json() == {"id": tea.pk, "customers_untagged": 1}
    assert not Tag.objects.filter(pk=tea.pk).exists()
    assert not CustomerTag.objects.filter(customer=customer).exists()
    assert _corp_names(wecom) == {"兴趣": {"咖啡"}}
    assert tea_id not in wecom.platform.corps[CORP_ID].tags
    assert wecom.platform.corps[CORP_ID].follows[("n1_staff", follow.external_userid)].tags == set()
    call = OutboundCall.objects.get(account=wecom.account, method="del_corp_tag")
    assert (call.status, call.payload) == ("done", {"tag_ids": [tea_id], "group_ids": []})
    assert list(AuditEntry.objects.filter(action="tag.delete").values_list("target_id", "summary", "actor_label")) == [
        (str(tea.pk), "喝茶 (1)", "hq")
    ]


def test_renaming_a_linked_tag_beyond_wecoms_limit_is_a_field_error(wecom: Wecom) -> None:
    interests = TagGroupFactory.create(enterprise=wecom.org.enterprise, name="兴趣")
    coffee = TagFactory.create(group=interests, name="咖啡")
    tags.sync_tags(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk)
    _token, secret = create_api_token(staff=wecom.org.hq, name="integration")

    response = Client().patch(
        f"/api/tags/{coffee.pk}", {"name": "咖" * 31}, content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == ("name", "wecom_name_too_long")
    assert Tag.objects.get(pk=coffee.pk).name == "咖啡"
    assert _corp_names(wecom) == {"兴趣": {"咖啡"}}
    assert not OutboundCall.objects.filter(method="edit_corp_tag").exists()
    assert not AuditEntry.objects.filter(action="tag.rename").exists()
