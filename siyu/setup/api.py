"""Channel accounts and WeChat Pay merchants over REST, mounted at /api/setup. HQ administrators only.

Secrets (app secrets, callback Token, EncodingAESKey, APIv3 key, merchant private key) are write-only: no answer ever
carries them, only whether one is stored (`secret_set`...). On PATCH a field left out or empty keeps what is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.channels.services import AccountInput
from siyu.finance.merchants import MerchantInput
from siyu.org.schemas import ErrorOut
from siyu.setup import keys, queries, services

router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}
CHECK_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 502: ErrorOut}
PEM = 16_384


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class ProbeOut(Schema):
    key: str
    ok: bool | None
    code: str
    detail: str


class CheckOut(Schema):
    id: int
    ok: bool
    checked_at: datetime
    results: list[ProbeOut]


class AccountOut(Schema):
    id: int
    kind: str
    name: str
    app_id: str
    agent_id: str
    account_type: str
    callback_mode: str
    base_url: str
    is_active: bool
    secret_set: bool
    token_set: bool
    encoding_aes_key_set: bool
    callback_url: str
    callback_verified_at: datetime | None
    callback_refused_at: datetime | None
    callback_refused_error: str
    last_check: CheckOut | None


class AccountIn(Input):
    kind: str = Field(max_length=20)
    name: str = Field(max_length=200)
    app_id: str = Field(max_length=64)
    agent_id: str = Field(default="", max_length=32)
    secret: str = Field(default="", max_length=200)
    token: str = Field(default="", max_length=64)
    encoding_aes_key: str = Field(default="", max_length=64)
    callback_mode: str = Field(default="", max_length=12)
    account_type: str = Field(default="", max_length=12)
    base_url: str = Field(default="", max_length=300)
    is_active: bool = True


class AccountPatch(Input):
    name: str | None = Field(default=None, max_length=200)
    secret: str = Field(default="", max_length=200)
    token: str = Field(default="", max_length=64)
    encoding_aes_key: str = Field(default="", max_length=64)
    callback_mode: str | None = Field(default=None, max_length=12)
    account_type: str | None = Field(default=None, max_length=12)
    base_url: str | None = Field(default=None, max_length=300)
    is_active: bool | None = None


class MerchantOut(Schema):
    id: int
    name: str
    mch_id: str
    app_id: str
    merchant_serial_no: str
    platform_key_id: str
    platform_public_key: str  # public: the platform's key, not ours
    base_url: str
    notify_url: str
    is_active: bool
    private_key_set: bool
    apiv3_key_set: bool
    notify_callback_url: str
    last_check: CheckOut | None


class MerchantIn(Input):
    name: str = Field(max_length=200)
    mch_id: str = Field(max_length=32)
    app_id: str = Field(max_length=64)
    merchant_serial_no: str = Field(max_length=64)
    platform_key_id: str = Field(default="", max_length=64)
    platform_public_key: str = Field(default="", max_length=PEM)
    private_key: str = Field(default="", max_length=PEM)
    apiv3_key: str = Field(default="", max_length=64)
    base_url: str = Field(default="", max_length=300)
    notify_url: str = Field(default="", max_length=300)
    is_active: bool = True


class MerchantPatch(Input):
    name: str | None = Field(default=None, max_length=200)
    app_id: str | None = Field(default=None, max_length=64)
    merchant_serial_no: str | None = Field(default=None, max_length=64)
    platform_key_id: str = Field(default="", max_length=64)
    platform_public_key: str = Field(default="", max_length=PEM)
    private_key: str = Field(default="", max_length=PEM)
    apiv3_key: str = Field(default="", max_length=64)
    base_url: str | None = Field(default=None, max_length=300)
    notify_url: str | None = Field(default=None, max_length=300)
    is_active: bool | None = None


class CallbackCredentialsOut(Schema):
    token: str
    encoding_aes_key: str


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _check(check: Any) -> dict[str, Any] | None:
    if check is None:
        return None
    return {"id": check.pk, "ok": check.ok, "checked_at": check.checked_at, "results": check.results}


def _account(row: queries.AccountRow, base: str) -> dict[str, Any]:
    a, seen = row.account, row.verification
    return {
        "id": a.pk, "kind": a.kind, "name": a.name, "app_id": a.app_id, "agent_id": a.agent_id,
        "account_type": a.account_type, "callback_mode": a.callback_mode, "base_url": a.base_url,
        "is_active": a.is_active, "secret_set": bool(a.sealed_secret), "token_set": bool(a.callback_token),
        "encoding_aes_key_set": bool(a.sealed_aes_key), "callback_url": queries.public_url(row.callback_path, base),
        "callback_verified_at": seen.verified_at if seen else None,
        "callback_refused_at": seen.refused_at if seen else None,
        "callback_refused_error": seen.refused_error if seen else "", "last_check": _check(row.last_check),
    }


def _merchant(row: queries.MerchantRow, base: str) -> dict[str, Any]:
    m = row.merchant
    return {
        "id": m.pk, "name": m.name, "mch_id": m.mch_id, "app_id": m.app_id, "merchant_serial_no": m.merchant_serial_no,
        "platform_key_id": m.platform_key_id, "platform_public_key": m.platform_public_key, "base_url": m.base_url,
        "notify_url": m.notify_url, "is_active": m.is_active, "private_key_set": bool(m.sealed_private_key),
        "apiv3_key_set": bool(m.sealed_apiv3_key), "notify_callback_url": queries.public_url(row.notify_path, base),
        "last_check": _check(row.last_check),
    }


@router.get("/accounts", response={200: list[AccountOut], **ERRORS}, summary="Channel accounts (HQ)")
def list_accounts(request: HttpRequest, kind: str = "") -> Any:
    base = _base(request)
    return [_account(row, base) for row in queries.channel_accounts(scope_of(request), kind=kind)]


@router.post("/accounts", response={201: AccountOut, **WRITE_ERRORS}, summary="Connect a channel account (HQ)")
def create_account(request: HttpRequest, payload: AccountIn) -> Any:
    scope = scope_of(request)
    account = services.save_channel_account(scope=scope, account_id=None, data=AccountInput(**payload.dict()),
                                            actor=actor_of(request))
    return Status(201, _account(queries.channel_account(scope, account.pk), _base(request)))


@router.get("/accounts/{account_id}", response={200: AccountOut, **ERRORS}, summary="A channel account (HQ)")
def get_account(request: HttpRequest, account_id: int) -> Any:
    return _account(queries.channel_account(scope_of(request), account_id), _base(request))


@router.patch("/accounts/{account_id}", response={200: AccountOut, **WRITE_ERRORS},
              summary="Edit a channel account; empty secrets keep the stored ones (HQ)")
def patch_account(request: HttpRequest, account_id: int, payload: AccountPatch) -> Any:
    scope = scope_of(request)
    current = queries.channel_account(scope, account_id).account
    given = payload.dict(exclude_none=True)
    data = AccountInput(
        kind=current.kind, app_id=current.app_id, agent_id=current.agent_id,
        name=given.get("name", current.name), secret=payload.secret, token=payload.token,
        encoding_aes_key=payload.encoding_aes_key, callback_mode=given.get("callback_mode", current.callback_mode),
        account_type=given.get("account_type", current.account_type), base_url=given.get("base_url", current.base_url),
        is_active=given.get("is_active", current.is_active))
    services.save_channel_account(scope=scope, account_id=account_id, data=data, actor=actor_of(request))
    return _account(queries.channel_account(scope, account_id), _base(request))


@router.post("/accounts/{account_id}/disable", response={200: AccountOut, **WRITE_ERRORS},
             summary="Disable a channel account and wipe its secrets; its data stays (HQ)")
def disable_account(request: HttpRequest, account_id: int) -> Any:
    scope = scope_of(request)
    services.disable_channel_account(scope=scope, account_id=account_id, actor=actor_of(request))
    return _account(queries.channel_account(scope, account_id), _base(request))


@router.delete("/accounts/{account_id}", response={204: None, **WRITE_ERRORS},
               summary="Delete a channel account nothing refers to yet; 409 account_in_use otherwise (HQ)")
def delete_account(request: HttpRequest, account_id: int) -> Status[None]:
    services.delete_channel_account(scope=scope_of(request), account_id=account_id, actor=actor_of(request))
    return Status(204, None)


@router.post("/accounts/{account_id}/check", response={200: CheckOut, **CHECK_ERRORS},
             summary="Check the connection: call the platform with the stored credentials (HQ)")
def check_account(request: HttpRequest, account_id: int) -> Any:
    scope = scope_of(request)
    outcome = services.check_channel_account(scope=scope, account_id=account_id, actor=actor_of(request))
    return _check(queries.last_check(scope, outcome.check_id))


@router.get("/pay-merchants", response={200: list[MerchantOut], **ERRORS}, summary="WeChat Pay merchants (HQ)")
def list_merchants(request: HttpRequest) -> Any:
    base = _base(request)
    return [_merchant(row, base) for row in queries.merchants(scope_of(request))]


@router.post("/pay-merchants", response={201: MerchantOut, **WRITE_ERRORS}, summary="Connect a merchant (HQ)")
def create_merchant(request: HttpRequest, payload: MerchantIn) -> Any:
    scope = scope_of(request)
    merchant = services.save_merchant(scope=scope, merchant_id=None, data=MerchantInput(**payload.dict()),
                                      actor=actor_of(request))
    return Status(201, _merchant(queries.merchant(scope, merchant.pk), _base(request)))


@router.get("/pay-merchants/{merchant_id}", response={200: MerchantOut, **ERRORS}, summary="A merchant (HQ)")
def get_merchant(request: HttpRequest, merchant_id: int) -> Any:
    return _merchant(queries.merchant(scope_of(request), merchant_id), _base(request))


@router.patch("/pay-merchants/{merchant_id}", response={200: MerchantOut, **WRITE_ERRORS},
              summary="Edit a merchant; empty keys keep the stored ones (HQ)")
def patch_merchant(request: HttpRequest, merchant_id: int, payload: MerchantPatch) -> Any:
    scope = scope_of(request)
    current = queries.merchant(scope, merchant_id).merchant
    given = payload.dict(exclude_none=True)
    data = MerchantInput(
        name=given.get("name", current.name), mch_id=current.mch_id, app_id=given.get("app_id", current.app_id),
        merchant_serial_no=given.get("merchant_serial_no", current.merchant_serial_no),
        platform_key_id=payload.platform_key_id, platform_public_key=payload.platform_public_key,
        private_key=payload.private_key, apiv3_key=payload.apiv3_key,
        base_url=given.get("base_url", current.base_url), notify_url=given.get("notify_url", current.notify_url),
        is_active=given.get("is_active", current.is_active))
    services.save_merchant(scope=scope, merchant_id=merchant_id, data=data, actor=actor_of(request))
    return _merchant(queries.merchant(scope, merchant_id), _base(request))


@router.post("/pay-merchants/{merchant_id}/disable", response={200: MerchantOut, **WRITE_ERRORS},
             summary="Disable a merchant: no new payments or refunds through it; its records and keys stay (HQ)")
def disable_merchant(request: HttpRequest, merchant_id: int) -> Any:
    scope = scope_of(request)
    services.disable_merchant(scope=scope, merchant_id=merchant_id, actor=actor_of(request))
    return _merchant(queries.merchant(scope, merchant_id), _base(request))


@router.post("/pay-merchants/{merchant_id}/check", response={200: CheckOut, **CHECK_ERRORS},
             summary="Check the merchant: a signed query to WeChat Pay (HQ)")
def check_merchant(request: HttpRequest, merchant_id: int) -> Any:
    scope = scope_of(request)
    outcome = services.check_merchant(scope=scope, merchant_id=merchant_id, actor=actor_of(request))
    return _check(queries.last_check(scope, outcome.check_id))


@router.get("/callback-credentials", response={200: CallbackCredentialsOut, **ERRORS},
            summary="A fresh callback Token and EncodingAESKey to paste into a platform (HQ; nothing is stored)")
def callback_credentials(request: HttpRequest) -> Any:
    queries.require_hq(scope_of(request))
    return {"token": keys.new_callback_token(), "encoding_aes_key": keys.new_encoding_aes_key()}
