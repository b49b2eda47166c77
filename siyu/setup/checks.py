""""Check connection": call the platform with an account's stored credentials and say what works. Network only: no
database here, so nothing holds a transaction open while a platform takes its time (services.py reads the account
before and records the result after).

Each probe is one question with its own answer (ok, failing, or not known yet) and the platform's code, so a page can
say "token ok, customer contact ok, contacts API restricted (48009)" instead of one red light.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from siyu.channels.miniprogram import client as mp_client
from siyu.channels.official_account import client as oa_client
from siyu.channels.wechatpay.client import PayClient, PayError
from siyu.channels.wecom.client import WecomClient, WecomError

TIMEOUT = httpx.Timeout(8.0, connect=3.0)

# errcodes that mean "the credentials are fine but this permission is missing"
PERMISSION_CODES = {48001, 48002, 48009, 60011, 84074, 301002}


@dataclass(frozen=True)
class Probe:
    key: str  # token, customer_contact, contacts, templates, callback, signature, platform_key, apiv3_key
    ok: bool | None  # None: not known (skipped, or only the platform can tell later)
    code: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WecomTarget:
    base_url: str
    corp_id: str
    secret: str


@dataclass(frozen=True)
class OaTarget:
    base_url: str
    app_id: str
    secret: str
    subscription: bool


@dataclass(frozen=True)
class MiniProgramTarget:
    base_url: str
    app_id: str
    secret: str


def _wecom_failure(key: str, exc: WecomError) -> Probe:
    return Probe(key, False, str(exc.errcode), exc.errmsg[:200])


def check_wecom(target: WecomTarget) -> list[Probe]:
    with httpx.Client(timeout=TIMEOUT) as http:
        client = WecomClient(base_url=target.base_url, corp_id=target.corp_id, secret=target.secret, http=http)
        try:
            client.fetch_token()
        except WecomError as exc:
            skipped = [Probe(key, None, "", "needs a token") for key in ("customer_contact", "contacts")]
            return [_wecom_failure("token", exc), *skipped]
        probes = [Probe("token", True)]
        calls = (("customer_contact", "GET", "/cgi-bin/externalcontact/get_follow_user_list", None),
                 ("contacts", "POST", "/cgi-bin/user/list_id", {"limit": 1}))
        for key, method, path, body in calls:
            try:
                client.call(method, path, body=body)
            except WecomError as exc:
                probes.append(_wecom_failure(key, exc))
            else:
                probes.append(Probe(key, True))
        return probes


def check_official_account(target: OaTarget) -> list[Probe]:
    credentials = oa_client.Credentials(app_id=target.app_id, secret=target.secret, base_url=target.base_url)
    with httpx.Client(timeout=TIMEOUT) as http:
        client = oa_client.OaClient(credentials, oa_client.MemoryTokenStore(), http=http)
        try:
            client.access_token(force=True)
        except oa_client.OaApiError as exc:
            return [Probe("token", False, str(exc.errcode), exc.errmsg[:200]),
                    Probe("templates", None, "", "needs a token")]
        if target.subscription:
            return [Probe("token", True), Probe("templates", None, "", "subscription accounts have no template "
                                                                       "messages")]
        try:
            client.private_templates()
        except oa_client.OaApiError as exc:
            return [Probe("token", True), Probe("templates", False, str(exc.errcode), exc.errmsg[:200])]
        return [Probe("token", True), Probe("templates", True)]


def check_miniprogram(target: MiniProgramTarget) -> list[Probe]:
    """code2session with a code that cannot exist: the platform checks the appid and secret first, so 40029
    (invalid code) means both are right, 40013 / 40125 that one is wrong."""
    with httpx.Client(timeout=TIMEOUT) as http:
        try:
            mp_client.code2session(base_url=target.base_url, app_id=target.app_id, secret=target.secret,
                                   code="siyu-check-" + secrets.token_hex(8), client=http)
        except mp_client.MiniProgramError as exc:
            if exc.errcode in (40029, 40163):
                return [Probe("token", True, str(exc.errcode), "appid and secret accepted")]
            return [Probe("token", False, str(exc.errcode), exc.errmsg[:200])]
    return [Probe("token", True)]


_PAY_FAILURES = {
    "SIGN_ERROR": "signature", "MCH_NOT_EXISTS": "signature", "BAD_SIGNATURE": "platform_key",
}


def check_pay(client: PayClient) -> list[Probe]:
    """A signed query for an order that does not exist: ORDER_NOT_EXIST in an answer whose signature holds means the
    merchant key, its serial and the platform key all work. The APIv3 key only decrypts notifies and certificates:
    the first notify proves it."""
    later = Probe("apiv3_key", None, "", "checked when the first payment notify is decrypted")
    try:
        client.query("SIYUCHECK" + secrets.token_hex(8).upper())
    except PayError as exc:
        if exc.platform_code == "ORDER_NOT_EXIST":
            return [Probe("signature", True), Probe("platform_key", True), later]
        failing = _PAY_FAILURES.get(exc.platform_code, "signature")
        probes = [Probe(failing, False, exc.platform_code, exc.message[:200])]
        if failing == "platform_key":  # the platform answered, so it accepted our signature
            probes.insert(0, Probe("signature", True))
        else:
            probes.append(Probe("platform_key", None, "", "needs a signed answer"))
        return [*probes, later]
    return [Probe("signature", True), Probe("platform_key", True), later]
