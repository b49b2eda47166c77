"""WeChat Pay merchant accounts as HQ edits them (console and API, through siyu.setup). The APIv3 key and the merchant
API private key are sealed and write-only: left blank on an edit, the stored ones stay. Every key is parsed before it
is saved, so a wrong paste is a field error now rather than a failed payment later."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from django_stubs_ext import StrPromise

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.finance.models import PayMerchant

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
_MCH_ID = re.compile(r"^[0-9]{8,12}$")
_APP_ID = re.compile(r"^wx[0-9A-Za-z]{6,30}$")
_SERIAL = re.compile(r"^[0-9A-Fa-f]{8,64}$")
_PLATFORM_KEY_ID = re.compile(r"^(PUB_KEY_ID_[0-9A-Za-z_]{1,50}|[0-9A-Fa-f]{8,64})$")
_APIV3_KEY = re.compile(r"^[\x21-\x7e]{32}$")
PEM_LIMIT = 16_384


@dataclass(frozen=True)
class MerchantInput:
    name: str
    mch_id: str
    app_id: str
    merchant_serial_no: str
    platform_key_id: str = ""
    platform_public_key: str = ""
    private_key: str = ""
    apiv3_key: str = ""
    base_url: str = ""
    notify_url: str = ""
    is_active: bool = True


def _url(value: str, field: str, *, blank: bool = False) -> str:
    value = value.strip()
    if blank and not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 255 or parts.query:
        raise ValidationFailed(_("an http(s) URL of at most 255 characters, without a query string"), field=field,
                               code="url_format")
    return value


def _private_key(pem: str) -> None:
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(_("the merchant API private key is not an unencrypted PEM private key "
                               "(apiclient_key.pem)"), field="private_key",
                               code="private_key_format") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ValidationFailed(_("the merchant API private key is an RSA key of at least 2048 bits"),
                               field="private_key", code="private_key_type")


def platform_key_id_of(pem: str) -> str:
    """The platform key's id: the serial of a platform certificate (upper-case hex), else '' (a bare public key's
    id, PUB_KEY_ID_..., is shown beside it in the merchant platform and must be typed)."""
    text = pem.strip()
    if "CERTIFICATE" not in text:
        return ""
    return format(x509.load_pem_x509_certificate(text.encode()).serial_number, "X")


def _platform_key(pem: str) -> None:
    text = pem.strip().encode()
    try:
        if b"CERTIFICATE" in text:
            key: Any = x509.load_pem_x509_certificate(text).public_key()
        else:
            key = serialization.load_pem_public_key(text)
    except ValueError as exc:
        raise ValidationFailed(_("the platform public key is not a PEM public key or certificate"),
                               field="platform_public_key", code="platform_key_format") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValidationFailed(_("the platform public key is an RSA key"), field="platform_public_key",
                               code="platform_key_type")


_FORMATS: tuple[tuple[str, re.Pattern[str], StrPromise], ...] = (
    ("mch_id", _MCH_ID, _("the merchant id (商户号) is 8-12 digits")),
    ("app_id", _APP_ID, _("the paying appid is wx and 6-30 letters or digits")),
    ("merchant_serial_no", _SERIAL, _("the merchant API certificate serial is 8-64 hex digits")),
)


def _check(data: MerchantInput, *, creating: bool) -> str:
    """Field checks; returns the platform key id to store (typed, or read from a pasted certificate)."""
    if not data.name.strip() or len(data.name.strip()) > 64:
        raise ValidationFailed(_("the name is 1-64 characters"), field="name", code="name_length")
    for field, regex, message in _FORMATS:
        if not regex.match(getattr(data, field)):
            raise ValidationFailed(message, field=field, code=f"{field}_format")
    for field in ("private_key", "platform_public_key"):
        if len(getattr(data, field)) > PEM_LIMIT:
            raise ValidationFailed(_("a PEM key is at most 16 KB"), field=field, code="pem_too_large")
    if data.apiv3_key and not _APIV3_KEY.match(data.apiv3_key):
        raise ValidationFailed(_("the APIv3 key is 32 characters"), field="apiv3_key", code="apiv3_key_length")
    if data.private_key:
        _private_key(data.private_key)
    key_id = _key_id(data)
    if creating:
        _check_required(data, key_id)
    return key_id


def _check_required(data: MerchantInput, key_id: str) -> None:
    for field, value in (("private_key", data.private_key), ("apiv3_key", data.apiv3_key),
                         ("platform_public_key", data.platform_public_key), ("platform_key_id", key_id)):
        if not value:
            raise ValidationFailed(_("%(field)s is required for a new merchant") % {"field": field}, field=field,
                                   code="required_new_merchant")


def _key_id(data: MerchantInput) -> str:
    key_id = data.platform_key_id.strip()
    if data.platform_public_key:
        _platform_key(data.platform_public_key)
        key_id = key_id or platform_key_id_of(data.platform_public_key)
    if key_id and not _PLATFORM_KEY_ID.match(key_id):
        raise ValidationFailed(_("the platform key id is PUB_KEY_ID_... or a certificate serial (hex)"),
                               field="platform_key_id", code="platform_key_id_format")
    return key_id


def _apply(merchant: PayMerchant, data: MerchantInput, key_id: str) -> list[str]:
    changed = []
    plain: dict[str, Any] = {
        "name": data.name.strip(), "app_id": data.app_id, "merchant_serial_no": data.merchant_serial_no.upper(),
        "base_url": _url(data.base_url or DEFAULT_BASE_URL, "base_url").rstrip("/"),
        "notify_url": _url(data.notify_url, "notify_url", blank=True), "is_active": data.is_active,
    }
    if key_id:
        plain["platform_key_id"] = key_id
    if data.platform_public_key:
        plain["platform_public_key"] = data.platform_public_key.strip() + "\n"
    for field, value in plain.items():
        if getattr(merchant, field) != value:
            setattr(merchant, field, value)
            changed.append(field)
    if data.private_key:
        merchant.private_key = data.private_key.strip() + "\n"
        changed.append("private_key")
    if data.apiv3_key:
        merchant.apiv3_key = data.apiv3_key
        changed.append("apiv3_key")
    return changed


def save_merchant(*, enterprise_id: int, merchant_id: int | None, data: MerchantInput, actor: Actor = None
                  ) -> PayMerchant:
    """Create (merchant_id None) or edit a merchant. The mch id is fixed once saved (payments name it)."""
    key_id = _check(data, creating=merchant_id is None)
    try:
        with transaction.atomic():
            return _save(enterprise_id, merchant_id, data, key_id, actor)
    except IntegrityError as exc:
        raise Conflict(_("this merchant id is already connected"), field="mch_id", code="merchant_exists") from exc


def _save(enterprise_id: int, merchant_id: int | None, data: MerchantInput, key_id: str, actor: Actor
          ) -> PayMerchant:
    if merchant_id is None:
        existing = PayMerchant.objects.filter(mch_id=data.mch_id).first()
        if existing is not None:
            reason = (_("this merchant id is already connected: edit it instead") if existing.enterprise_id ==
                      enterprise_id else _("this merchant id is connected to another enterprise"))
            raise Conflict(reason, field="mch_id", code="merchant_exists")
        merchant = PayMerchant(enterprise_id=enterprise_id, mch_id=data.mch_id)
    else:
        found = PayMerchant.objects.select_for_update().filter(pk=merchant_id, enterprise_id=enterprise_id).first()
        if found is None:
            raise NotFound(_("merchant %(merchant_id)s not found") % {"merchant_id": merchant_id}, field="merchant_id")
        merchant = found
        if data.mch_id != merchant.mch_id:
            raise ValidationFailed(_("the merchant id cannot change: add a new merchant"), field="mch_id",
                                   code="merchant_id_fixed")
    changed = _apply(merchant, data, key_id)
    merchant.save()
    audit.record(enterprise_id=enterprise_id, actor=actor,
                 action="pay_merchant.create" if merchant_id is None else "pay_merchant.update",
                 target_type="pay_merchant", target_id=merchant.pk,
                 summary=audit.text(
                     N_("WeChat Pay merchant %(mch_id)s"), mch_id=merchant.mch_id),
                 changes={"fields": changed})
    return merchant


def disable_merchant(*, enterprise_id: int, merchant_id: int, actor: Actor = None) -> PayMerchant:
    """Stop taking payments through a merchant: checkout picks active merchants only, and the platform's notifications
    to a disabled one are refused. Its payments, refunds and keys stay, so an edit that sets it active again needs
    nothing typed anew (the same as the edit form's "active" box, as one audited action). Twice changes nothing."""
    with transaction.atomic():
        merchant = PayMerchant.objects.select_for_update().filter(pk=merchant_id, enterprise_id=enterprise_id).first()
        if merchant is None:
            raise NotFound(_("merchant %(merchant_id)s not found") % {"merchant_id": merchant_id}, field="merchant_id")
        if merchant.is_active:
            PayMerchant.objects.filter(pk=merchant.pk).update(is_active=False)
            merchant.is_active = False
            audit.record(enterprise_id=enterprise_id, actor=actor, action="pay_merchant.disable",
                         target_type="pay_merchant", target_id=merchant.pk,
                         summary=audit.text(N_("WeChat Pay %(mch_id)s: disabled"), mch_id=merchant.mch_id))
    return merchant
