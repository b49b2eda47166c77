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
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from siyu.channels.miniprogram import client as mp_client
from siyu.channels.official_account import client as oa_client
from siyu.channels.wechatpay.client import Credentials, PayClient, PayError, PlatformCertificate
from siyu.channels.wecom.client import WecomClient, WecomError

TIMEOUT = httpx.Timeout(8.0, connect=3.0)

# errcodes that mean "the credentials are fine but this permission is missing"
PERMISSION_CODES = {48001, 48002, 48009, 60011, 84074, 301002}


@dataclass(frozen=True)
class Probe:
    key: str  # token, customer_contact, contacts, templates, callback, signature, platform_key, apiv3_key,
    # platform_certificate
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


def check_pay(client: PayClient) -> list[Probe]:
    """Download the platform certificates (`GET /v3/certificates`, a signed request) and judge each part:
    - signature: the platform accepted our request (merchant private key and its certificate serial);
    - platform_key: its answer names the key we have (Wechatpay-Serial) and its signature holds with it;
    - apiv3_key: every certificate in the answer opens with our APIv3 key (AEAD_AES_256_GCM);
    - platform_certificate (certificate mode only): the certificate we were given is among those the platform lists
      and carries the same public key. A PUB_KEY_ID (public-key mode) has no certificate to compare."""
    try:
        listed = client.certificates()
    except PayError as exc:
        return _pay_refused(exc)
    probes = [Probe("signature", True), Probe("platform_key", True)]
    if not listed:
        probes.append(Probe("apiv3_key", None, "", "the platform listed no certificate"))
    elif all(c.pem for c in listed):
        probes.append(Probe("apiv3_key", True))
    else:
        probes.append(Probe("apiv3_key", False, "APIV3_KEY_MISMATCH"))
    return [*probes, *_certificate_probe(client.c, listed)]


def _pay_refused(exc: PayError) -> list[Probe]:
    unknown = [Probe("apiv3_key", None, "", "needs a signed answer")]
    if exc.platform_code == "BAD_SIGNATURE":  # the platform answered, so it accepted our signature
        if exc.answer_serial:
            return [Probe("signature", True),
                    Probe("platform_key", False, "PLATFORM_SERIAL_MISMATCH", exc.answer_serial), *unknown]
        return [Probe("signature", True), Probe("platform_key", False, "BAD_SIGNATURE", str(exc.message)[:200]),
                *unknown]
    # SIGN_ERROR (a wrong private key or serial: the platform's message says which), MCH_NOT_EXISTS, UNREACHABLE
    return [Probe("signature", False, exc.platform_code or "UNREACHABLE", str(exc.message)[:200]),
            Probe("platform_key", None, "", "needs a signed answer"), *unknown]


def _certificate_probe(credentials: Credentials, listed: list[PlatformCertificate]) -> list[Probe]:
    key_id = credentials.platform_key_id.strip().upper()
    if key_id.startswith("PUB_KEY_ID") or "CERTIFICATE" not in credentials.platform_key_pem:
        return []
    mine = next((c for c in listed if c.serial_no == key_id), None)
    if mine is None:
        serials = ", ".join(c.serial_no for c in listed)[:200]
        return [Probe("platform_certificate", False, "CERT_NOT_LISTED", serials)]
    if not mine.pem:
        return [Probe("platform_certificate", None, "", "needs the APIv3 key")]
    try:
        theirs = x509.load_pem_x509_certificate(mine.pem.encode()).public_key()
        ours = x509.load_pem_x509_certificate(credentials.platform_key_pem.strip().encode()).public_key()
    except ValueError:
        return [Probe("platform_certificate", False, "CERT_KEY_MISMATCH")]
    same = theirs.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == \
        ours.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if not same:
        return [Probe("platform_certificate", False, "CERT_KEY_MISMATCH")]
    return [Probe("platform_certificate", True, "", mine.expire_time)]
