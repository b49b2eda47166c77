"""Long result lists in the console: an inheritance's customers and a mass send's recipients come with summary counts
per result and server-side pages, and refusals show what their errcode means (in the viewer's language)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from simulator.wecom import DAY, ContactWayState
from siyu.channels.wecom import errcodes, inheritance
from siyu.channels.wecom.models import ChannelCode, MassSend, MassSendRecipient, MassSendSender, RecipientStatus
from siyu.org.models import Staff
from siyu.org.scope import Scope
from siyu.org.services import create_api_token
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def _customers(w: Wecom, n: int) -> list[str]:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name="x", state="origin")
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "origin")
    externals = [w.platform.scan(CORP_ID, "cfg1").external_userid for _ in range(n)]
    w.deliver()
    return externals


def _get(w: Wecom, url: str, language: str = "zh-hans") -> str:
    w.client.cookies["django_language"] = language
    response = w.client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _counts(html: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in re.findall(r'data-count="(\w+)">([\d,]+)<', html)}


def _rows(html: str, table_id: str) -> list[str]:
    table = html[html.index(f'id="{table_id}"'):]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr data-status="(\w+)"', table) or re.findall(r'data-status="(\w+)"', table)


def test_inheritance_results_are_counted_paged_and_explained(wecom: Wecom) -> None:
    externals = _customers(wecom, 57)
    corp = wecom.platform.corps[CORP_ID]
    for ext in externals[:3]:
        corp.contacts[ext].refuses_transfer = True
    for ext in externals[3:5]:  # the staff member deleted them on the platform: WeCom answers 84061 at once
        corp.follows[("n1_staff", ext)].active = False
    job = inheritance.start_transfer(
        scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk, kind="in_service",
        handover_id=wecom.org.n1_staff.pk, takeover_id=wecom.org.n2_staff.pk,
    )
    wecom.platform.advance(DAY + 1)
    wecom.deliver()
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    url = f"/channels/wecom/transfers/{job.pk}/"

    first = _get(wecom, url)
    assert _counts(first) == {"all": 57, "rejected": 2, "succeeded": 52, "refused": 3}  # results with none are left out
    assert len(_rows(first, "transfer-items")) == 50
    second = _get(wecom, url + "?page=2")
    assert len(_rows(second, "transfer-items")) == 7
    rejected = _get(wecom, url + "?status=rejected", "en")
    assert _rows(rejected, "transfer-items") == ["rejected", "rejected"]
    assert "The staff member has no contact with this customer (errcode 84061)" in rejected
    junk = wecom.client.get(url + "?status=nonsense&page=abc")
    assert junk.status_code == 200 and len(_rows(junk.content.decode(), "transfer-items")) == 50

    chinese = _get(wecom, url + "?status=rejected", "zh-hans")
    assert "该员工与此客户已无联系（错误码 84061）" in chinese


def test_mass_send_recipients_are_counted_and_paged(wecom: Wecom) -> None:
    send = MassSend.objects.create(enterprise=wecom.org.enterprise, account=wecom.account, name="周末", text="hi",
                                   status="sent")
    sender = MassSendSender.objects.create(mass_send=send, staff=wecom.org.n1_staff)
    statuses = [RecipientStatus.SENT] * 60 + [RecipientStatus.FAILED] * 4 + [RecipientStatus.OVER_LIMIT] * 2
    MassSendRecipient.objects.bulk_create([
        MassSendRecipient(mass_send=send, sender=sender, target=f"wm{i:03d}", status=s,
                          reason={"failed": "not_a_friend", "over_limit": "over_limit"}.get(s, ""))
        for i, s in enumerate(statuses)
    ])
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    url = f"/channels/wecom/mass-sends/{send.pk}/"
    page = _get(wecom, url)
    assert _counts(page) == {"all": 66, "sent": 60, "failed": 4, "over_limit": 2}
    assert len(_rows(page, "recipients")) == 50
    assert len(_rows(_get(wecom, url + "?page=2"), "recipients")) == 16
    failed = _get(wecom, url + "?status=failed", "en")
    assert _rows(failed, "recipients") == ["failed"] * 4
    assert "The customer is no longer the sender&#x27;s contact" in failed
    chinese = _get(wecom, url + "?status=failed", "zh-hans")
    assert "客户已不是发送人的联系人" in chinese and "已发送" not in _rows(chinese, "recipients")
    # the filter changes the rows, not the summary
    assert _counts(failed)["sent"] == 60


def test_every_known_errcode_has_a_chinese_meaning() -> None:
    with translation.override("en"):
        english = {code: str(text) for code, text in errcodes.MEANINGS.items()}
    with translation.override("zh-hans"):
        untranslated = [code for code, text in errcodes.MEANINGS.items() if str(text) == english[code]]
        assert errcodes.describe(40096) == "企业微信不认识这位客户（外部联系人）（错误码 40096）"
    assert untranslated == []
    assert errcodes.describe(99999) == "99999" and errcodes.describe(None) == "" and errcodes.describe(0) == ""
    with translation.override("en"):
        assert errcodes.describe_text("externalcontact/add_msg_template: 41048 no sendable customer") == \
            "No customer this sender can reach (errcode 41048)"
        assert errcodes.describe_text("connection reset") == "connection reset"


def _api_get(staff: Staff, path: str, **params: Any) -> Any:
    _token, secret = create_api_token(staff=staff, name=f"t-{staff.pk}-{path[-12:]}")
    return Client().get(path, params, headers={"Authorization": f"Bearer {secret}", "Accept-Language": "zh-hans"})


def test_the_api_pages_recipients_with_counts_and_reasons_within_scope(wecom: Wecom) -> None:
    send = MassSend.objects.create(enterprise=wecom.org.enterprise, account=wecom.account, name="周末", text="hi",
                                   status="sent")
    mine = MassSendSender.objects.create(mass_send=send, staff=wecom.org.n1_staff)
    south = MassSendSender.objects.create(mass_send=send, staff=wecom.org.s1_staff)
    MassSendRecipient.objects.bulk_create(
        [MassSendRecipient(mass_send=send, sender=mine, target=f"wm{i:03d}", status="sent") for i in range(25)]
        + [MassSendRecipient(mass_send=send, sender=mine, target="wmx", status="failed", reason="errcode 41048")]
        + [MassSendRecipient(mass_send=send, sender=south, target=f"ws{i}", status="sent") for i in range(4)]
    )
    url = f"/api/channels/wecom/mass-sends/{send.pk}/recipients"
    hq = _api_get(wecom.org.hq, url, page=2, page_size=20).json()
    assert (hq["total"], hq["pages"], len(hq["items"])) == (30, 2, 10)
    assert hq["counts"] == {"all": 30, "sent": 29, "failed": 1}
    failed = _api_get(wecom.org.hq, url, status="failed").json()["items"]
    assert [(r["target"], r["reason_text"]) for r in failed] == [("wmx", "该发送人没有可发送的客户（错误码 41048）")]
    # A store's staff member sees their own recipients only, and counts only them.
    own = _api_get(wecom.org.n1_staff, url, page_size=100).json()
    assert own["counts"] == {"all": 26, "sent": 25, "failed": 1}
    assert {r["target"] for r in own["items"]} == {f"wm{i:03d}" for i in range(25)} | {"wmx"}
    assert _api_get(wecom.org.hq, url, page_size=500).status_code == 422


def test_the_api_pages_inheritance_items_with_meanings(wecom: Wecom) -> None:
    externals = _customers(wecom, 12)
    corp = wecom.platform.corps[CORP_ID]
    corp.follows[("n1_staff", externals[0])].active = False
    job = inheritance.start_transfer(
        scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk, kind="in_service",
        handover_id=wecom.org.n1_staff.pk, takeover_id=wecom.org.n2_staff.pk,
    )
    url = f"/api/channels/wecom/transfers/{job.pk}/items"
    body = _api_get(wecom.org.hq, url, page_size=5).json()
    assert (body["total"], body["pages"], len(body["items"])) == (12, 3, 5)
    assert body["counts"] == {"all": 12, "waiting": 11, "rejected": 1}
    [rejected] = _api_get(wecom.org.hq, url, status="rejected").json()["items"]
    assert rejected["errcode"] == 84061
    assert rejected["reason"] == "该员工与此客户已无联系（错误码 84061）"  # the API speaks the console's Chinese
    assert _api_get(wecom.org.s1_staff, url).status_code == 404  # another store's staff does not see the job
