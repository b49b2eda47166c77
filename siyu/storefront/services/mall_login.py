"""The H5 mall's sign-in: Official Account web OAuth (snsapi_base / snsapi_userinfo) and phone + SMS code. Both end
in the one customer (the identity service resolves and merges: a shopper who came in through OAuth and then signs in
with a phone is one customer holding both identities) and a StorefrontSession, the same kind of session the
mini-program's login makes, so the cart, checkout and payment paths are shared.

The OAuth `state` is single-use (the Official Account's OAuthState row) and bound to the browser session that started
it (the caller keeps it in the session and passes it back as `expected_state`). SMS codes are stored as an HMAC,
expire after five minutes, allow five wrong guesses, and sending is rate-limited per phone and per address."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account import services as oa_services
from siyu.channels.sms import client as sms_client
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.customers.services import IdentityInput, resolve_customer
from siyu.orders.models import StorefrontSession
from siyu.orders.services.common import _now
from siyu.storefront.models import SmsCode
from siyu.storefront.services.shopper_login import SESSION_DAYS, TOKEN_PREFIX, _token_hash

PHONE = re.compile(r"1[3-9]\d{9}")
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)
PER_PHONE_PER_HOUR = 5
PER_IP_PER_HOUR = 20
H5_APP = "h5"  # the StorefrontSession.app_id of a phone sign-in without WeChat


class RateLimited(DomainError):
    """Too many codes or guesses: a 429 that says when to try again."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: Any, *, field: str, code: str, retry_after_s: int) -> None:
        super().__init__(message, field=field, code=code)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class MallLogin:
    token: str
    customer_id: int
    openid: str
    app_id: str


def _new_session(enterprise_id: int, customer_id: int, app_id: str, openid: str, moment: datetime) -> MallLogin:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    StorefrontSession.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, app_id=app_id,
                                     openid=openid, token_hash=_token_hash(token), created_at=moment,
                                     expires_at=moment + timedelta(days=SESSION_DAYS))
    return MallLogin(token=token, customer_id=customer_id, openid=openid, app_id=app_id)


# ---------------------------------------------------------------------------------------------------------------
# Official Account web OAuth


def oa_account(enterprise_id: int) -> ChannelAccount | None:
    """The brand's Official Account that signs mall customers in (the first active one)."""
    return ChannelAccount.objects.filter(enterprise_id=enterprise_id, kind=AccountKind.OFFICIAL_ACCOUNT,
                                         is_active=True).order_by("id").first()


@dataclass(frozen=True)
class OAuthStart:
    url: str
    state: str


def start_oa_login(*, enterprise_id: int, redirect_uri: str, next_url: str, scope: str = "snsapi_base") -> OAuthStart:
    account = oa_account(enterprise_id)
    if account is None:
        raise NotFound(_("this brand has no Official Account to sign in with"), field="account", code="no_account")
    url = oa_services.start_oauth(account_id=account.pk, scope=scope, redirect_uri=redirect_uri, next_url=next_url)
    state = parse_qs(urlsplit(url.split("#", 1)[0]).query).get("state", [""])[0]
    return OAuthStart(url=url, state=state)


def complete_oa_login(*, enterprise_id: int, code: str, state: str, expected_state: str,
                      now: datetime | None = None) -> tuple[MallLogin, str]:
    """Exchange the code (the platform call happens before any row is written) and open a mall session. Returns the
    login and the path to go on to."""
    if not state or not expected_state or not hmac.compare_digest(state, expected_state):
        raise ValidationFailed(_("this sign-in was not started in this browser; start again"), field="state",
                               code="state_mismatch")
    if not code or len(code) > 256:
        raise ValidationFailed(_("authorisation was declined"), field="code", code="no_code")
    account = oa_account(enterprise_id)
    if account is None:
        raise NotFound(_("this brand has no Official Account to sign in with"), field="account", code="no_account")
    outcome = oa_services.complete_oauth(account_id=account.pk, code=code, state=state)
    login = _new_session(enterprise_id, outcome.customer_id, account.app_id, outcome.openid, _now(now))
    return login, outcome.next_url


# ---------------------------------------------------------------------------------------------------------------
# Phone + SMS code


def _code_hash(phone: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"sms-login:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def clean_phone(phone: str) -> str:
    digits = re.sub(r"[\s\-]", "", phone or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not PHONE.fullmatch(digits):
        raise ValidationFailed(_("enter an 11-digit mainland mobile number"), field="phone", code="invalid_phone")
    return digits


def _check_send_rate(enterprise_id: int, phone: str, ip: str, moment: datetime) -> None:
    hour_ago = moment - timedelta(hours=1)
    recent = SmsCode.objects.filter(enterprise_id=enterprise_id, phone=phone, created_at__gt=hour_ago)
    last = recent.order_by("-created_at").values_list("created_at", flat=True).first()
    if last is not None and moment - last < RESEND_AFTER:
        wait = int((RESEND_AFTER - (moment - last)).total_seconds()) + 1
        raise RateLimited(_("a code was just sent; ask again in %(s)s seconds") % {"s": wait}, field="phone",
                          code="too_soon", retry_after_s=wait)
    if recent.count() >= PER_PHONE_PER_HOUR:
        raise RateLimited(_("too many codes for this number; try again in an hour"), field="phone",
                          code="too_many_codes", retry_after_s=3600)
    if ip and SmsCode.objects.filter(ip=ip, created_at__gt=hour_ago).count() >= PER_IP_PER_HOUR:
        raise RateLimited(_("too many codes from this network; try again later"), field="phone",
                          code="too_many_codes", retry_after_s=3600)


def request_sms_code(*, enterprise_id: int, phone: str, ip: str, brand: str = "",
                     now: datetime | None = None) -> SmsCode:
    """Record a new code (committed first: its id is the provider's idempotency key), then send it outside any
    transaction. A send that fails is kept on the row (`send_error`) and reported to the shopper."""
    moment = _now(now)
    number = clean_phone(phone)
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        _check_send_rate(enterprise_id, number, ip, moment)
        row = SmsCode.objects.create(enterprise_id=enterprise_id, phone=number, code_hash=_code_hash(number, code),
                                     ip=ip[:45], created_at=moment, expires_at=moment + CODE_TTL)
    text = _("Your sign-in code is %(code)s, valid for 5 minutes. Do not share it.") % {"code": code}
    try:
        sms_client.send_text(base_url=settings.SIYU_SMS_BASE_URL, phone=number, sign=brand[:20], text=str(text),
                             key=f"sms-login:{enterprise_id}:{row.pk}")
    except sms_client.SmsError as exc:
        SmsCode.objects.filter(pk=row.pk).update(send_error=str(exc)[:200])
        raise Conflict(_("the code could not be sent; try again shortly"), field="phone", code="sms_failed") from exc
    SmsCode.objects.filter(pk=row.pk).update(sent_at=_now(None))
    return row


def _spend_code(enterprise_id: int, phone: str, code: str, moment: datetime) -> None:
    row = (SmsCode.objects.filter(enterprise_id=enterprise_id, phone=phone, used_at__isnull=True,
                                  expires_at__gt=moment).order_by("-created_at").first())
    wrong = ValidationFailed(_("the code is wrong or has expired"), field="code", code="invalid_code")
    if row is None:
        raise wrong
    if row.attempts >= MAX_ATTEMPTS:
        raise RateLimited(_("too many wrong codes; ask for a new one"), field="code", code="too_many_attempts",
                          retry_after_s=60)
    if not re.fullmatch(r"\d{6}", code or "") or not hmac.compare_digest(row.code_hash, _code_hash(phone, code)):
        SmsCode.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        raise wrong
    # Spent once: a concurrent second sign-in with the same code finds it used.
    if not SmsCode.objects.filter(pk=row.pk, used_at__isnull=True, attempts__lt=MAX_ATTEMPTS).update(used_at=moment):
        raise wrong


def sms_login(*, enterprise_id: int, phone: str, code: str, current: StorefrontSession | None = None,
              now: datetime | None = None) -> MallLogin:
    """Sign in with the code; the customer behind the phone is merged with the one already signed in (an OAuth
    session in the same browser), whose openid the new session keeps so WeChat Pay can still charge it."""
    moment = _now(now)
    number = clean_phone(phone)
    _spend_code(enterprise_id, number, code, moment)
    identities = [IdentityInput(kind="phone", value=number)]
    app_id, openid = H5_APP, ""
    if current is not None and current.enterprise_id == enterprise_id and current.openid:
        kind = "mp_openid" if current.app_id != H5_APP and _is_miniprogram(current.app_id) else "oa_openid"
        identities.append(IdentityInput(kind=kind, value=current.openid, account=current.app_id))
        app_id, openid = current.app_id, current.openid
    with transaction.atomic():
        customer = resolve_customer(enterprise_id=enterprise_id, identities=identities,
                                    defaults={"phone": number, "created_source": "sms", "created_at": moment})
        return _new_session(enterprise_id, customer.pk, app_id, openid, moment)


def _is_miniprogram(app_id: str) -> bool:
    return ChannelAccount.objects.filter(kind=AccountKind.MINIPROGRAM, app_id=app_id).exists()


def session_of(token: str) -> StorefrontSession | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return StorefrontSession.objects.filter(token_hash=_token_hash(token), revoked_at__isnull=True).first()
