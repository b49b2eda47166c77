"""Disabling and deleting a channel account: HQ of its enterprise only, audited. An account something refers to is
never deleted (409 account_in_use: deleting would delete its records); disabling keeps the records, wipes the sealed
secrets and the callback token, and an account comes back only with them typed anew."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.channels.models import ChannelAccount, InboundCallback
from siyu.core.models import AuditEntry
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org
from tests.setup.conftest import AES_KEY, CORP_SECRET, TOKEN, Api, merchant_body, wecom_body

pytestmark = pytest.mark.django_db


def test_an_unused_account_is_deleted_once_and_audited(hq: Api) -> None:
    account = hq.post("/accounts", wecom_body()).json()
    assert hq.delete(f"/accounts/{account['id']}").status_code == 204
    assert not ChannelAccount.objects.filter(pk=account["id"]).exists()
    again = hq.delete(f"/accounts/{account['id']}")
    assert again.status_code == 404 and again.json()["field"] == "account_id"
    assert AuditEntry.objects.filter(action="channel_account.delete", target_id=str(account["id"])).count() == 1


def test_an_account_with_records_is_refused_and_can_be_disabled_instead(hq: Api) -> None:
    account = hq.post("/accounts", wecom_body()).json()
    InboundCallback.objects.create(account_id=account["id"], kind="wecom", body="<xml/>")
    refused = hq.delete(f"/accounts/{account['id']}")
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == ("account_in_use", "account_id")
    assert "inbound callbacks" in refused.json()["message"]
    assert ChannelAccount.objects.filter(pk=account["id"]).exists()

    disabled = hq.post(f"/accounts/{account['id']}/disable")
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    row = ChannelAccount.objects.get(pk=account["id"])
    assert (row.sealed_secret, row.sealed_aes_key, row.callback_token) == ("", "", "")
    assert InboundCallback.objects.filter(account_id=account["id"]).count() == 1  # its records stay
    assert hq.post(f"/accounts/{account['id']}/disable").status_code == 200  # twice: nothing more happens
    assert AuditEntry.objects.filter(action="channel_account.disable", target_id=str(account["id"])).count() == 1

    check = hq.post(f"/accounts/{account['id']}/check")
    assert check.status_code == 409 and check.json()["code"] == "account_disabled"
    back = hq.patch(f"/accounts/{account['id']}", {"is_active": True})
    assert back.status_code == 422
    assert (back.json()["code"], back.json()["field"]) == ("secrets_wiped", "secret")
    assert ChannelAccount.objects.get(pk=account["id"]).is_active is False  # nothing half-saved
    back = hq.patch(f"/accounts/{account['id']}", {"is_active": True, "secret": CORP_SECRET, "token": TOKEN,
                                                   "encoding_aes_key": AES_KEY})
    assert back.status_code == 200 and back.json()["is_active"] is True


def test_only_hq_of_the_enterprise_disables_or_deletes(org: Org, hq: Api, other_hq: Api) -> None:
    account = hq.post("/accounts", wecom_body()).json()
    for staff in (org.north_manager, org.n1_manager, org.n1_staff):
        client = Client()
        assert staff.user is not None
        client.force_login(staff.user)
        api = Api(client)
        assert api.post(f"/accounts/{account['id']}/disable").status_code == 403
        assert api.delete(f"/accounts/{account['id']}").status_code == 403
    assert other_hq.post(f"/accounts/{account['id']}/disable").status_code == 404
    assert other_hq.delete(f"/accounts/{account['id']}").status_code == 404
    assert Api(Client()).delete(f"/accounts/{account['id']}").status_code == 401
    row = ChannelAccount.objects.get(pk=account["id"])
    assert row.is_active and row.secret == CORP_SECRET


# ---------------------------------------------------------------------------------------------------------------
# The console's buttons (HQ only, confirmed in the page, refusals in Chinese)


def _zh(client: Client) -> Client:
    client.cookies["django_language"] = "zh-hans"
    return client


def test_console_disable_and_delete_buttons(hq: Api, hq_console: Client, org: Org) -> None:
    used = hq.post("/accounts", wecom_body()).json()
    spare = hq.post("/accounts", wecom_body(app_id="wwsetuptest000002", agent_id="1000009")).json()
    InboundCallback.objects.create(account_id=used["id"], kind="wecom", body="<xml/>")
    page = _zh(hq_console).get("/setup/accounts/").content.decode()
    assert f'id="disable-account-{used["id"]}"' in page and f'id="delete-account-{used["id"]}"' in page
    assert 'data-confirm="停用这个账号？' in page  # asked before anything happens

    refused = hq_console.post(f"/setup/accounts/{used['id']}/delete/", follow=True).content.decode()
    assert "该账号已有业务记录" in refused and "account_in_use" in refused
    assert ChannelAccount.objects.filter(pk=used["id"]).exists()

    done = hq_console.post(f"/setup/accounts/{used['id']}/disable/", follow=True).content.decode()
    assert "账号已停用" in done
    row = ChannelAccount.objects.get(pk=used["id"])
    assert (row.is_active, row.sealed_secret, row.callback_token) == (False, "", "")
    page = hq_console.get("/setup/accounts/").content.decode()
    assert f'id="disable-account-{used["id"]}"' not in page  # nothing left to disable
    back = hq_console.post(f"/setup/accounts/{used['id']}/", {"name": "x", "is_active": "on"}).content.decode()
    assert "该账号已停用，密钥已清除" in back  # secrets_wiped, in Chinese, beside the field

    assert hq_console.post(f"/setup/accounts/{spare['id']}/delete/").status_code == 302
    assert not ChannelAccount.objects.filter(pk=spare["id"]).exists()
    assert AuditEntry.objects.filter(action="channel_account.delete", target_id=str(spare["id"])).count() == 1


def test_console_buttons_are_hq_only(hq: Api, org: Org) -> None:
    account = hq.post("/accounts", wecom_body()).json()
    for staff in (org.north_manager, org.n1_manager, org.n1_staff):
        client = Client()
        assert staff.user is not None
        client.force_login(staff.user)
        assert client.post(f"/setup/accounts/{account['id']}/disable/").status_code == 403
        assert client.post(f"/setup/accounts/{account['id']}/delete/").status_code == 403
    assert ChannelAccount.objects.get(pk=account["id"]).is_active


def test_merchant_disable_from_console_and_api(hq: Api, hq_console: Client, other_hq: Api, org: Org) -> None:
    merchant = hq.post("/pay-merchants", merchant_body(new_credentials("https://api.mch.weixin.qq.com")[1])).json()
    assert other_hq.post(f"/pay-merchants/{merchant['id']}/disable").status_code == 404
    client = Client()
    assert org.n1_manager.user is not None
    client.force_login(org.n1_manager.user)
    assert client.post(f"/setup/pay/{merchant['id']}/disable/").status_code == 403
    page = _zh(hq_console).get("/setup/accounts/").content.decode()
    assert f'id="disable-merchant-{merchant["id"]}"' in page and 'data-confirm="停用这个商户？' in page
    assert "商户已停用" in hq_console.post(f"/setup/pay/{merchant['id']}/disable/", follow=True).content.decode()
    again = hq.post(f"/pay-merchants/{merchant['id']}/disable")
    assert again.status_code == 200 and again.json()["is_active"] is False  # twice: nothing more happens
    assert AuditEntry.objects.filter(action="pay_merchant.disable", target_id=str(merchant["id"])).count() == 1
    assert hq.patch(f"/pay-merchants/{merchant['id']}", {"is_active": True}).json()["is_active"] is True
