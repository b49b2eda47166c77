"""Read paths of the set-up pages: the accounts with what HQ needs to finish connecting them (the callback URL to
paste into the platform, whether the platform has verified it, the last connection check). HQ only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from siyu.channels import queries as channel_queries
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.queries import CallbackVerification
from siyu.core.errors import PermissionDenied
from siyu.finance import queries as finance_queries
from siyu.finance.models import PayMerchant
from siyu.org import firstrun
from siyu.org.scope import Scope
from siyu.setup.models import CheckTarget, ConnectionCheck, FirstRun


def setup_open() -> bool:
    """The wizard is open on a fresh install only: no enterprise and no first run recorded."""
    return not FirstRun.objects.exists() and not firstrun.any_enterprise()


def require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("channel accounts are managed by HQ administrators"))


@dataclass(frozen=True)
class AccountRow:
    account: ChannelAccount
    callback_path: str
    verification: CallbackVerification | None
    last_check: ConnectionCheck | None


@dataclass(frozen=True)
class MerchantRow:
    merchant: PayMerchant
    notify_path: str
    last_check: ConnectionCheck | None


def callback_path(account: ChannelAccount) -> str:
    if account.kind == AccountKind.WECOM:
        return reverse("channels:wecom_callback", args=[account.pk])
    if account.kind == AccountKind.OFFICIAL_ACCOUNT:
        return reverse("official_account:callback", args=[account.pk])
    return ""  # a mini-program's message push is not used


def notify_path(merchant: PayMerchant) -> str:
    return reverse("finance:wechatpay_notify", args=[merchant.mch_id])


def public_url(path: str, request_base: str) -> str:
    """The absolute URL a platform calls: SIYU_PUBLIC_URL when set (behind a proxy), else the request's own."""
    if not path:
        return ""
    base = (getattr(settings, "SIYU_PUBLIC_URL", "") or request_base).rstrip("/")
    return base + path


def _last_checks(scope: Scope, target: str, ids: list[int]) -> dict[int, ConnectionCheck]:
    latest: dict[int, ConnectionCheck] = {}
    rows = ConnectionCheck.objects.filter(enterprise_id=scope.enterprise_id, target=target, target_id__in=ids)
    for row in rows.order_by("target_id", "-checked_at", "-id") if ids else []:
        latest.setdefault(row.target_id, row)
    return latest


def channel_accounts(scope: Scope, *, kind: str = "", account_id: int | None = None) -> list[AccountRow]:
    require_hq(scope)
    qs = channel_queries.accounts(scope, kind=kind)
    if account_id is not None:
        qs = qs.filter(pk=account_id)
    accounts = list(qs)
    ids = [a.pk for a in accounts]
    seen = channel_queries.callback_verifications(scope, ids) if ids else {}
    checks = _last_checks(scope, CheckTarget.CHANNEL_ACCOUNT, ids)
    return [AccountRow(a, callback_path(a), seen.get(a.pk) if a.kind != AccountKind.MINIPROGRAM else None,
                       checks.get(a.pk)) for a in accounts]


def channel_account(scope: Scope, account_id: int) -> AccountRow:
    channel_queries.get_account(scope, account_id)  # 404 outside the enterprise
    return channel_accounts(scope, account_id=account_id)[0]


def merchants(scope: Scope) -> list[MerchantRow]:
    require_hq(scope)
    found = finance_queries.merchants(scope)
    checks = _last_checks(scope, CheckTarget.PAY_MERCHANT, [m.pk for m in found])
    return [MerchantRow(m, notify_path(m), checks.get(m.pk)) for m in found]


def merchant(scope: Scope, merchant_id: int) -> MerchantRow:
    require_hq(scope)
    found = finance_queries.get_merchant(scope, merchant_id)
    return MerchantRow(found, notify_path(found), _last_checks(scope, CheckTarget.PAY_MERCHANT, [found.pk])
                       .get(found.pk))


def last_check(scope: Scope, check_id: int) -> ConnectionCheck | None:
    require_hq(scope)
    return ConnectionCheck.objects.filter(enterprise_id=scope.enterprise_id, pk=check_id).first()


def check_results(check: ConnectionCheck | None) -> list[dict[str, Any]]:
    return list(check.results) if check is not None else []
