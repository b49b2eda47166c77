"""Check connection against the simulator: what works shows green, what does not names the platform's code (a
contacts API restricted to trusted IPs answers 48009), and the callback URL counts as verified once the platform's
verification GET has passed. The platform calls happen with no database transaction open (the suite fails any HTTP
call made inside one)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from simulator import oa as oa_sim
from simulator import wecom as wecom_sim
from siyu.core.models import AuditEntry
from siyu.setup.models import ConnectionCheck
from tests.conftest import Org
from tests.setup.conftest import CORP_ID, OA_APP_ID, Api, Sim, merchant_body, mp_body, oa_body, wecom_body

pytestmark = pytest.mark.django_db


def _probes(response: Any) -> dict[str, tuple[bool | None, str]]:
    assert response.status_code == 200, response.content
    return {p["key"]: (p["ok"], p["code"]) for p in response.json()["results"]}


def _django_get(client: Client) -> Any:
    def get(url: str, params: dict[str, str]) -> tuple[int, str]:
        response = client.get(url.replace("http://testserver", ""), params)
        return response.status_code, response.content.decode()

    return get


def test_a_wecom_app_checks_green_once_the_platform_verified_its_callback(hq: Api, sim: Sim, org: Org) -> None:
    account = hq.post("/accounts", wecom_body(sim)).json()
    before = _probes(hq.post(f"/accounts/{account['id']}/check"))
    assert before == {"token": (True, ""), "customer_contact": (True, ""), "contacts": (True, ""),
                      "callback": (None, "")}
    outcome = wecom_sim.verify_url(sim.wecom, CORP_ID, account["callback_url"], get=_django_get(Client()))
    assert outcome == {"status": 200, "verified": True}
    after = hq.post(f"/accounts/{account['id']}/check")
    assert after.json()["ok"] is True
    assert _probes(after)["callback"] == (True, "")
    shown = hq.get(f"/accounts/{account['id']}").json()
    assert shown["callback_verified_at"] is not None and shown["last_check"]["ok"] is True
    assert sim.wecom.api_calls.count("/cgi-bin/gettoken") == 2  # one token per check, fetched afresh
    assert AuditEntry.objects.filter(action="channel_account.check", enterprise_id=org.enterprise.pk).count() == 2


def test_a_restricted_contacts_api_shows_48009_and_the_rest_stays_green(hq: Api, sim: Sim) -> None:
    account = hq.post("/accounts", wecom_body(sim)).json()
    with sim.wecom.lock:
        wecom_sim._control_restrict(sim.wecom, {"corp_id": CORP_ID, "api": "contacts", "errcode": 48009})
    check = hq.post(f"/accounts/{account['id']}/check")
    probes = _probes(check)
    assert probes["contacts"] == (False, "48009")
    assert probes["token"] == (True, "") and probes["customer_contact"] == (True, "")
    assert check.json()["ok"] is False
    audit = AuditEntry.objects.filter(action="channel_account.check").order_by("-id").first()
    assert audit is not None and "contacts 48009" in audit.summary


def test_a_wrong_secret_fails_the_token_and_skips_the_rest(hq: Api, sim: Sim) -> None:
    account = hq.post("/accounts", wecom_body(sim, secret="not-the-right-secret-000")).json()
    probes = _probes(hq.post(f"/accounts/{account['id']}/check"))
    assert probes["token"] == (False, "40001")
    assert probes["customer_contact"] == (None, "") and probes["contacts"] == (None, "")


def test_a_callback_verified_with_the_wrong_key_shows_as_refused(hq: Api, sim: Sim) -> None:
    account = hq.post("/accounts", wecom_body(sim)).json()
    sim.wecom.corp(CORP_ID).encoding_aes_key = "d3JvbmdrZXl3cm9uZ2tleXdyb25na2V5d3Jvbmcwwwo"[:43]
    outcome = wecom_sim.verify_url(sim.wecom, CORP_ID, account["callback_url"], get=_django_get(Client()))
    assert outcome["verified"] is False
    probes = _probes(hq.post(f"/accounts/{account['id']}/check"))
    assert probes["callback"][0] is False
    assert hq.get(f"/accounts/{account['id']}").json()["callback_refused_at"] is not None


def test_an_official_account_checks_green_after_the_platform_verified_it(hq: Api, sim: Sim) -> None:
    account = hq.post("/accounts", oa_body(sim)).json()
    sim_account = sim.state.oa.app(OA_APP_ID).account
    assert oa_sim.verify_url(sim_account, account["callback_url"], get=_django_get(Client()))["verified"] is True
    check = hq.post(f"/accounts/{account['id']}/check")
    assert _probes(check) == {"token": (True, ""), "templates": (True, ""), "callback": (True, "")}
    assert check.json()["ok"] is True


def test_a_subscription_account_is_not_asked_for_template_messages(hq: Api, sim: Sim) -> None:
    account = hq.post("/accounts", oa_body(sim, account_type="subscription")).json()
    probes = _probes(hq.post(f"/accounts/{account['id']}/check"))
    assert probes["token"] == (True, "") and probes["templates"] == (None, "")


def test_an_official_account_with_a_wrong_secret_is_red(hq: Api, sim: Sim, hq_console: Client) -> None:
    """...and the page says what the platform's refusal means, in Chinese, not the platform's English errmsg."""
    account = hq.post("/accounts", oa_body(sim, secret="wrong-oa-secret-00000000")).json()
    probes = _probes(hq.post(f"/accounts/{account['id']}/check"))
    assert probes["token"] == (False, "40001")
    page = hq_console.get("/setup/accounts/").content.decode()
    row = page[page.index(f'id="account-{account["id"]}"'):]
    assert "AppSecret 错误" in row[:row.index('class="actions"')]


def test_a_mini_program_check_tells_a_right_secret_from_a_wrong_one(hq: Api, sim: Sim) -> None:
    right = hq.post("/accounts", mp_body(sim)).json()
    assert _probes(hq.post(f"/accounts/{right['id']}/check")) == {"token": (True, "40029")}
    wrong = hq.patch(f"/accounts/{right['id']}", {"secret": "wrong-mp-secret-000000"}).json()
    assert _probes(hq.post(f"/accounts/{wrong['id']}/check")) == {"token": (False, "40125")}


def test_a_merchant_checks_green_by_downloading_the_platform_certificates(hq: Api, sim: Sim) -> None:
    merchant = hq.post("/pay-merchants", merchant_body(sim.pay)).json()
    check = hq.post(f"/pay-merchants/{merchant['id']}/check")
    # public-key mode (PUB_KEY_ID_...): no certificate of ours to compare; the APIv3 key opened the download
    assert _probes(check) == {"signature": (True, ""), "platform_key": (True, ""), "apiv3_key": (True, "")}
    assert check.json()["ok"] is True
    assert hq.get(f"/pay-merchants/{merchant['id']}").json()["last_check"]["id"] == check.json()["id"]


def test_a_merchant_with_a_wrong_serial_or_platform_key_says_which(hq: Api, sim: Sim) -> None:
    merchant = hq.post("/pay-merchants", merchant_body(sim.pay, merchant_serial_no="ABCDEF0123456789")).json()
    probes = _probes(hq.post(f"/pay-merchants/{merchant['id']}/check"))
    assert probes == {"signature": (False, "SIGN_ERROR"), "platform_key": (None, ""), "apiv3_key": (None, "")}
    from simulator import wechatpay as pay_sim

    other_key = pay_sim.public_pem(pay_sim.new_rsa_key())
    hq.patch(f"/pay-merchants/{merchant['id']}", {"merchant_serial_no": sim.pay.serial_no,
                                                  "platform_public_key": other_key})
    probes = _probes(hq.post(f"/pay-merchants/{merchant['id']}/check"))
    assert probes["signature"] == (True, "") and probes["platform_key"] == (False, "BAD_SIGNATURE")


def test_a_wrong_merchant_private_key_is_a_signature_error(hq: Api, sim: Sim) -> None:
    from simulator import wechatpay as pay_sim

    merchant = hq.post("/pay-merchants", merchant_body(
        sim.pay, private_key=pay_sim.private_pem(pay_sim.new_rsa_key()))).json()
    check = hq.post(f"/pay-merchants/{merchant['id']}/check")
    assert _probes(check)["signature"] == (False, "SIGN_ERROR")
    assert check.json()["ok"] is False


def test_a_wrong_apiv3_key_cannot_open_the_certificates(hq: Api, sim: Sim) -> None:
    merchant = hq.post("/pay-merchants", merchant_body(sim.pay, apiv3_key="0" * 32)).json()
    check = hq.post(f"/pay-merchants/{merchant['id']}/check")
    assert _probes(check) == {"signature": (True, ""), "platform_key": (True, ""),
                              "apiv3_key": (False, "APIV3_KEY_MISMATCH")}
    assert check.json()["ok"] is False


def test_certificate_mode_compares_the_configured_certificate_with_the_platforms(hq: Api, sim: Sim) -> None:
    from siyu.finance.merchants import platform_key_id_of

    cert = sim.state.wechatpay.use_certificate(sim.pay.mch_id)
    body = merchant_body(sim.pay, platform_public_key=cert, platform_key_id="")
    merchant = hq.post("/pay-merchants", body).json()
    probes = _probes(hq.post(f"/pay-merchants/{merchant['id']}/check"))
    assert probes == {"signature": (True, ""), "platform_key": (True, ""), "apiv3_key": (True, ""),
                      "platform_certificate": (True, "")}
    # the platform renews its certificate: its answers name a serial we do not have, and the check names it
    fresh = sim.state.wechatpay.rotate_certificate(sim.pay.mch_id)
    check = hq.post(f"/pay-merchants/{merchant['id']}/check")
    assert _probes(check)["platform_key"] == (False, "PLATFORM_SERIAL_MISMATCH")
    named = {p["key"]: p["detail"] for p in check.json()["results"]}["platform_key"]
    assert named == platform_key_id_of(fresh) != platform_key_id_of(cert)


def test_console_check_button_shows_the_probes(hq_console: Client, hq: Api, sim: Sim) -> None:
    account = hq.post("/accounts", wecom_body(sim)).json()
    with sim.wecom.lock:
        wecom_sim._control_restrict(sim.wecom, {"corp_id": CORP_ID, "api": "contacts"})
    response = hq_console.post(f"/setup/accounts/{account['id']}/check/")
    assert response.status_code == 302 and response["Location"].endswith(f"#account-{account['id']}")
    page = hq_console.get("/setup/accounts/").content.decode()
    assert "48009" in page and ConnectionCheck.objects.count() == 1


def test_a_certificate_not_listed_or_with_another_key_is_named() -> None:
    from simulator import wechatpay as pay_sim
    from siyu.channels.wechatpay.client import Credentials, PlatformCertificate
    from siyu.setup.checks import _certificate_probe

    mine, serial = pay_sim._self_signed(pay_sim.new_rsa_key())
    other, _other_serial = pay_sim._self_signed(pay_sim.new_rsa_key())
    credentials = Credentials(mch_id="1900000109", app_id="wx1", serial_no="AB", private_key_pem="", apiv3_key="",
                              platform_key_id=serial, platform_key_pem=mine, base_url="", notify_url="")
    listed = [PlatformCertificate("0A1B", "", "", other)]
    assert _certificate_probe(credentials, listed)[0].code == "CERT_NOT_LISTED"
    assert _certificate_probe(credentials, [PlatformCertificate(serial, "", "", other)])[0].code == "CERT_KEY_MISMATCH"
    assert _certificate_probe(credentials, [PlatformCertificate(serial, "", "2031", mine)])[0].ok is True
    public_key_mode = Credentials(**{**credentials.__dict__, "platform_key_id": "PUB_KEY_ID_0114232134912410000"})
    assert _certificate_probe(public_key_mode, listed) == []
