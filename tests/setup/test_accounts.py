"""Channel accounts and WeChat Pay merchants in the API and the console: HQ only, audited, secrets sealed and never
given back (neither in JSON nor in HTML), blank secrets keep the stored ones, bad input is a 4xx naming the field."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.test import Client

from siyu.channels.models import ChannelAccount
from siyu.core.models import AuditEntry
from siyu.finance.models import PayMerchant
from siyu.setup import keys
from tests.conftest import Org
from tests.setup.conftest import (
    AES_KEY,
    CORP_SECRET,
    MP_SECRET,
    OA_SECRET,
    TOKEN,
    Api,
    Sim,
    merchant_body,
    mp_body,
    oa_body,
    wecom_body,
)

pytestmark = pytest.mark.django_db


def _secrets_of(body: dict[str, Any]) -> list[str]:
    return [body[k] for k in ("secret", "token", "encoding_aes_key", "apiv3_key") if body.get(k)]


def _pem_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM: any one of them in an answer would be a leak."""
    return [line for line in pem.strip().splitlines() if not line.startswith("-----")]


def _assert_absent(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret came back: {secret[:6]}…"


def test_generated_callback_credentials_have_the_platform_formats() -> None:
    for _ in range(50):
        token, key = keys.new_callback_token(), keys.new_encoding_aes_key()
        assert re.fullmatch(r"[A-Za-z0-9]{32}", token)
        assert len(key) == 43 and "=" not in key
        assert len(base64.b64decode(key + "=")) == 32
    assert len({keys.new_encoding_aes_key() for _ in range(20)}) == 20


def test_hq_connects_each_kind_and_no_answer_carries_a_secret(hq: Api, org: Org) -> None:
    bodies = [wecom_body(), oa_body(), mp_body()]
    for body in bodies:
        response = hq.post("/accounts", body)
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["secret_set"] is True and data["app_id"] == body["app_id"]
        _assert_absent(response.content.decode(), _secrets_of(body))
    listing = hq.get("/accounts")
    assert listing.status_code == 200 and len(listing.json()) == 3
    text = listing.content.decode()
    _assert_absent(text, [CORP_SECRET, OA_SECRET, MP_SECRET, TOKEN, AES_KEY])
    wecom = next(a for a in listing.json() if a["kind"] == "wecom")
    assert wecom["callback_url"] == f"http://testserver/channels/wecom/callback/{wecom['id']}/"
    assert wecom["callback_mode"] == "safe" and wecom["encoding_aes_key_set"] is True
    oa = next(a for a in listing.json() if a["kind"] == "official_account")
    assert oa["callback_url"] == f"http://testserver/oa/callback/{oa['id']}/" and oa["account_type"] == "service"
    mp = next(a for a in listing.json() if a["kind"] == "miniprogram")
    assert mp["callback_url"] == "" and mp["base_url"] == "https://api.weixin.qq.com"
    # sealed at rest, readable by the product
    row = ChannelAccount.objects.get(pk=wecom["id"])
    assert CORP_SECRET not in row.sealed_secret and row.secret == CORP_SECRET
    assert row.encoding_aes_key == AES_KEY and row.enterprise_id == org.enterprise.pk
    actions = list(AuditEntry.objects.filter(enterprise_id=org.enterprise.pk).values_list("action", flat=True))
    assert actions.count("channel_account.create") == 3
    _assert_absent(str(list(AuditEntry.objects.values_list("summary", "changes"))), [CORP_SECRET, TOKEN, AES_KEY])


def test_a_blank_secret_keeps_the_stored_one_and_a_new_one_replaces_it(hq: Api) -> None:
    created = hq.post("/accounts", oa_body()).json()
    kept = hq.patch(f"/accounts/{created['id']}", {"name": "改名服务号", "secret": "", "token": ""})
    assert kept.status_code == 200 and kept.json()["name"] == "改名服务号"
    row = ChannelAccount.objects.get(pk=created["id"])
    assert (row.secret, row.callback_token, row.encoding_aes_key) == (OA_SECRET, TOKEN, AES_KEY)
    new_key = keys.new_encoding_aes_key()
    replaced = hq.patch(f"/accounts/{created['id']}",
                        {"secret": "a-brand-new-secret-0001", "encoding_aes_key": new_key})
    assert replaced.status_code == 200
    _assert_absent(replaced.content.decode(), ["a-brand-new-secret-0001", new_key])
    row.refresh_from_db()
    assert (row.secret, row.encoding_aes_key) == ("a-brand-new-secret-0001", new_key)
    changes = AuditEntry.objects.filter(action="channel_account.update").order_by("-id").first()
    assert changes is not None and changes.changes == {"fields": ["secret", "encoding_aes_key"]}


def test_the_app_id_of_an_account_cannot_be_moved_and_is_refused_to_another_enterprise(hq: Api, other_hq: Api
                                                                                         ) -> None:
    assert hq.post("/accounts", wecom_body()).status_code == 201
    again = hq.post("/accounts", wecom_body())
    assert again.status_code == 409 and again.json()["field"] == "app_id"
    elsewhere = other_hq.post("/accounts", wecom_body())
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "account_elsewhere"
    assert "Test Brand" not in elsewhere.content.decode()  # the other enterprise is not named
    # a second app of the same corp is another account
    assert hq.post("/accounts", wecom_body(agent_id="1000005", name="客户联系")).status_code == 201
    assert ChannelAccount.objects.filter(app_id=wecom_body()["app_id"]).count() == 2


@pytest.mark.parametrize(("over", "field"), [
    ({"app_id": "not-a-corp-id!"}, "app_id"),
    ({"agent_id": "10000x"}, "agent_id"),
    ({"secret": "short"}, "secret"),
    ({"secret": ""}, "secret"),
    ({"token": "has space"}, "token"),
    ({"token": "x" * 33}, "token"),
    ({"encoding_aes_key": "tooshort"}, "encoding_aes_key"),
    ({"encoding_aes_key": "!" * 43}, "encoding_aes_key"),
    ({"encoding_aes_key": ""}, "encoding_aes_key"),
    ({"base_url": "ftp://example.com"}, "base_url"),
    ({"name": ""}, "name"),
    ({"kind": "weibo"}, "kind"),
    ({"account_type": "service"}, "account_type"),
    ({"unexpected": 1}, "unexpected"),
])
def test_bad_wecom_input_is_a_4xx_naming_the_field_and_writes_nothing(hq: Api, over: dict[str, Any], field: str
                                                                     ) -> None:
    response = hq.post("/accounts", wecom_body(**over))
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert ChannelAccount.objects.count() == 0


@pytest.mark.parametrize(("over", "field"), [
    ({"account_type": ""}, "account_type"),
    ({"account_type": "enterprise"}, "account_type"),
    ({"callback_mode": "loud"}, "callback_mode"),
    ({"callback_mode": "safe", "encoding_aes_key": ""}, "encoding_aes_key"),
    ({"app_id": "ww1234567890abcdef"}, "app_id"),
])
def test_bad_official_account_input_names_the_field(hq: Api, over: dict[str, Any], field: str) -> None:
    response = hq.post("/accounts", oa_body(**over))
    assert response.status_code == 422 and response.json()["field"] == field


def test_a_plain_mode_official_account_needs_no_aes_key(hq: Api) -> None:
    response = hq.post("/accounts", oa_body(callback_mode="plain", encoding_aes_key="", account_type="subscription"))
    assert response.status_code == 201 and response.json()["callback_mode"] == "plain"
    assert response.json()["encoding_aes_key_set"] is False


# ---------------------------------------------------------------------------------------------------------------
# WeChat Pay merchants


def _self_signed_cert(key: rsa.RSAPrivateKey, serial: int) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_hq_connects_a_merchant_and_its_keys_are_never_given_back(hq: Api, sim: Sim, org: Org) -> None:
    body = merchant_body(sim.pay)
    response = hq.post("/pay-merchants", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["private_key_set"] and data["apiv3_key_set"]
    assert data["notify_callback_url"] == f"http://testserver/finance/wechatpay/callback/{sim.pay.mch_id}/"
    for text in (response.content.decode(), hq.get("/pay-merchants").content.decode(),
                 hq.get(f"/pay-merchants/{data['id']}").content.decode()):
        _assert_absent(text, [sim.pay.apiv3_key, *_pem_lines(sim.pay.private_key_pem)])
    row = PayMerchant.objects.get(pk=data["id"])
    assert row.private_key.strip() == sim.pay.private_key_pem.strip() and row.apiv3_key == sim.pay.apiv3_key
    assert sim.pay.apiv3_key not in row.sealed_apiv3_key
    # an edit without keys keeps them
    assert hq.patch(f"/pay-merchants/{data['id']}", {"name": "直营二"}).status_code == 200
    row.refresh_from_db()
    assert row.name == "直营二" and row.apiv3_key == sim.pay.apiv3_key
    assert AuditEntry.objects.filter(action__startswith="pay_merchant.", enterprise_id=org.enterprise.pk).count() == 2


def test_a_platform_certificate_gives_its_serial_as_the_key_id(hq: Api, sim: Sim) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _self_signed_cert(key, 0x5A1B2C3D4E5F)
    response = hq.post("/pay-merchants", merchant_body(sim.pay, platform_public_key=cert, platform_key_id=""))
    assert response.status_code == 201, response.content
    assert response.json()["platform_key_id"] == "5A1B2C3D4E5F"


def _ec_private_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.mark.parametrize(("over", "field"), [
    ({"mch_id": "12ab"}, "mch_id"),
    ({"app_id": "ww123"}, "app_id"),
    ({"merchant_serial_no": "not hex"}, "merchant_serial_no"),
    ({"apiv3_key": "too-short"}, "apiv3_key"),
    ({"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"}, "private_key"),
    ({"private_key": "__EC__"}, "private_key"),
    ({"platform_public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "platform_public_key"),
    ({"platform_public_key": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
     "platform_public_key"),
    ({"platform_key_id": "PUB KEY"}, "platform_key_id"),
    ({"notify_url": "https://x.example/notify?a=1"}, "notify_url"),
    ({"private_key": ""}, "private_key"),
])
def test_bad_merchant_input_names_the_field_and_writes_nothing(hq: Api, sim: Sim, over: dict[str, Any], field: str
                                                              ) -> None:
    if over.get("private_key") == "__EC__":
        over = {"private_key": _ec_private_pem()}
    response = hq.post("/pay-merchants", merchant_body(sim.pay, **over))
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert PayMerchant.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------------
# Who may


def test_only_hq_of_the_enterprise_reaches_accounts(org: Org, hq: Api, other_hq: Api) -> None:
    account = hq.post("/accounts", wecom_body()).json()
    for staff in (org.north_manager, org.n1_manager, org.n1_staff):
        client = Client()
        assert staff.user is not None
        client.force_login(staff.user)
        api = Api(client)
        assert api.get("/accounts").status_code == 403
        assert api.post("/accounts", oa_body()).status_code == 403
        assert api.patch(f"/accounts/{account['id']}", {"name": "x"}).status_code == 403
        assert api.get("/callback-credentials").status_code == 403
    assert other_hq.get("/accounts").json() == []
    assert other_hq.get(f"/accounts/{account['id']}").status_code == 404
    assert other_hq.patch(f"/accounts/{account['id']}", {"secret": "stolen-secret-0001"}).status_code == 404
    assert other_hq.post(f"/accounts/{account['id']}/check").status_code == 404
    assert ChannelAccount.objects.get(pk=account["id"]).secret == CORP_SECRET
    assert Api(Client()).get("/accounts").status_code == 401


# ---------------------------------------------------------------------------------------------------------------
# Console


def test_console_pages_never_show_a_stored_secret(hq_console: Client, hq: Api, sim: Sim) -> None:
    wecom = hq.post("/accounts", wecom_body()).json()
    oa = hq.post("/accounts", oa_body()).json()
    merchant = hq.post("/pay-merchants", merchant_body(sim.pay)).json()
    secrets = [CORP_SECRET, OA_SECRET, TOKEN, AES_KEY, sim.pay.apiv3_key, *_pem_lines(sim.pay.private_key_pem)]
    for path in ("/setup/accounts/", f"/setup/accounts/{wecom['id']}/", f"/setup/accounts/{oa['id']}/",
                 f"/setup/pay/{merchant['id']}/"):
        response = hq_console.get(path)
        assert response.status_code == 200, path
        _assert_absent(response.content.decode(), secrets)
    page = hq_console.get("/setup/accounts/").content.decode()
    assert f"/channels/wecom/callback/{wecom['id']}/" in page and 'data-copy="http://testserver/oa/callback/' in page
    assert f"/finance/wechatpay/callback/{sim.pay.mch_id}/" in page


def test_console_form_saves_keeps_blank_secrets_and_shows_field_errors(hq_console: Client, hq: Api) -> None:
    new = hq_console.get("/setup/accounts/new/wecom/")
    assert new.status_code == 200
    prefilled = new.context["form"].initial
    assert re.fullmatch(r"[A-Za-z0-9]{32}", prefilled["token"]) and len(prefilled["encoding_aes_key"]) == 43
    bad = hq_console.post("/setup/accounts/new/wecom/", {
        "name": "企微", "app_id": "wwconsole00000001", "agent_id": "1000002", "secret": CORP_SECRET,
        "token": TOKEN, "encoding_aes_key": "nope", "is_active": "on"})
    assert bad.status_code == 422 and "encoding_aes_key" in bad.context["form"].errors
    assert ChannelAccount.objects.count() == 0
    saved = hq_console.post("/setup/accounts/new/wecom/", {
        "name": "企微", "app_id": "wwconsole00000001", "agent_id": "1000002", "secret": CORP_SECRET,
        "token": TOKEN, "encoding_aes_key": AES_KEY, "is_active": "on"})
    assert saved.status_code == 302
    account = ChannelAccount.objects.get()
    edit = hq_console.post(f"/setup/accounts/{account.pk}/", {
        "name": "企微总部", "app_id": "wwsomethingelse01", "secret": "", "token": "", "encoding_aes_key": "",
        "is_active": "on"})
    assert edit.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.app_id, account.secret, account.callback_token, account.encoding_aes_key) == (
        "企微总部", "wwconsole00000001", CORP_SECRET, TOKEN, AES_KEY)


def test_console_account_pages_are_hq_only(org: Org, hq: Api) -> None:
    account = hq.post("/accounts", oa_body()).json()
    client = Client()
    assert org.n1_manager.user is not None
    client.force_login(org.n1_manager.user)
    for path in ("/setup/accounts/", "/setup/accounts/new/wecom/", f"/setup/accounts/{account['id']}/"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/setup/accounts/{account['id']}/check/").status_code == 403


def test_the_pages_speak_chinese_by_default_and_english_on_request(hq_console: Client, hq: Api) -> None:
    hq.post("/accounts", oa_body(account_type="subscription"))
    chinese = hq_console.get("/setup/accounts/").content.decode()
    assert "渠道账号" in chinese and "检查连接" in chinese and "订阅号" in chinese
    hq_console.cookies["django_language"] = "en"
    english = hq_console.get("/setup/accounts/")
    assert "Check connection" in english.content.decode()
    wizard = Client().get("/setup/")  # closed here (an enterprise exists), in Chinese
    assert "私域已完成初始化" in wizard.content.decode()
