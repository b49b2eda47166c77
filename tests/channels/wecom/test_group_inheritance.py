"""A resigned owner's groups go to another staff member through groupchat/transfer; the platform's refusals (a
full group that needs confirming in the client: 90503; an owner who has not resigned: 90500) are kept per group with
a readable reason and shown by the API and the console."""

from __future__ import annotations

import pytest

from siyu.channels.wecom.models import CustomerGroup, GroupTransfer
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_resigned_owners_groups_transfer_and_refusals_are_shown(wecom: Wecom) -> None:
    p = wecom.platform
    ok1, ok2, stuck = (p.create_chat(CORP_ID, "n2_staff", name=n) for n in ("老客一群", "老客二群", "满员群"))
    wecom.deliver()
    p.corps[CORP_ID].chats[stuck.chat_id].needs_confirm = True
    p.resign_member(CORP_ID, "n2_staff")
    api = Api(wecom.org.hq)
    body = {"account_id": wecom.account.pk, "handover_id": wecom.org.n2_staff.pk, "takeover_id": wecom.org.n1_staff.pk}
    created = api.post("/api/channels/wecom/group-transfers", body)
    assert created.status_code == 201, created.content
    job = created.json()
    assert job["status"] == "done"
    outcome = {i["chat_id"]: (i["status"], i["errcode"]) for i in job["items"]}
    assert outcome == {ok1.chat_id: ("done", None), ok2.chat_id: ("done", None), stuck.chat_id: ("refused", 90503)}
    refused = next(i for i in job["items"] if i["status"] == "refused")
    assert "confirm" in refused["reason"]
    assert {c.owner for c in p.corps[CORP_ID].chats.values()} == {"n1_staff", "n2_staff"}
    assert p.corps[CORP_ID].chats[ok1.chat_id].owner == "n1_staff"
    assert p.corps[CORP_ID].chats[stuck.chat_id].owner == "n2_staff"
    owners = dict(CustomerGroup.objects.values_list("chat_id", "owner_id"))
    assert owners == {ok1.chat_id: wecom.org.n1_staff.pk, ok2.chat_id: wecom.org.n1_staff.pk,
                      stuck.chat_id: wecom.org.n2_staff.pk}

    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    html = wecom.client.get(f"/channels/wecom/group-transfers/{job['id']}/").content.decode()
    assert "90503" in html and "满员群" in html


def test_an_owner_still_employed_is_refused_by_the_platform_per_group(wecom: Wecom) -> None:
    chat = wecom.platform.create_chat(CORP_ID, "n2_staff", name="在职群")
    wecom.deliver()
    api = Api(wecom.org.hq)
    body = {"account_id": wecom.account.pk, "handover_id": wecom.org.n2_staff.pk, "takeover_id": wecom.org.n1_staff.pk}
    job = api.post("/api/channels/wecom/group-transfers", body).json()
    assert [(i["chat_id"], i["status"], i["errcode"]) for i in job["items"]] == [(chat.chat_id, "refused", 90500)]
    assert CustomerGroup.objects.get(chat_id=chat.chat_id).owner_id == wecom.org.n2_staff.pk

    same = api.post("/api/channels/wecom/group-transfers", {**body, "takeover_id": wecom.org.n2_staff.pk})
    assert same.status_code == 422 and same.json()["code"] == "same_staff"
    none = api.post("/api/channels/wecom/group-transfers", {**body, "handover_id": wecom.org.s1_staff.pk})
    assert none.status_code == 422 and none.json()["code"] == "no_groups"
    assert Api(wecom.org.n1_staff).post("/api/channels/wecom/group-transfers", body).status_code == 403
    assert GroupTransfer.objects.count() == 1


def test_the_console_form_hands_over_and_lists_the_refusals(wecom: Wecom) -> None:
    wecom.platform.create_chat(CORP_ID, "n2_staff", name="在职群")
    wecom.deliver()
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    response = wecom.client.post("/channels/wecom/group-transfers/", {
        "form_key": "gt-1", "account": wecom.account.pk, "handover": wecom.org.n2_staff.pk,
        "takeover": wecom.org.n1_staff.pk})
    job = GroupTransfer.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/channels/wecom/group-transfers/{job.pk}/"
    listing = wecom.client.get("/channels/wecom/group-transfers/").content.decode()
    assert f"/channels/wecom/group-transfers/{job.pk}/" in listing
    detail = wecom.client.get(response["Location"]).content.decode()
    assert 'data-status="refused"' in detail and "90500" in detail
