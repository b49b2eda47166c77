"""Read paths over channel accounts and the raw callback log. Both are enterprise data: HQ sees them all; other roles
see the accounts (to pick one) but not the callback log."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.core.errors import NotFound, PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.org.scope import Scope

ACCOUNT_KINDS = AccountKind.choices
CALLBACK_STATUSES = CallbackStatus.choices


def accounts(scope: Scope, *, kind: str = "") -> QuerySet[ChannelAccount]:
    qs = ChannelAccount.objects.filter(enterprise_id=scope.enterprise_id).order_by("kind", "id")
    return qs.filter(kind=kind) if kind else qs


def get_account(scope: Scope, account_id: int, *, kind: str = "") -> ChannelAccount:
    found = accounts(scope, kind=kind).filter(pk=account_id).first()
    if found is None:
        raise NotFound(f"channel account {account_id} not found", field="account_id")
    return found


def _log(scope: Scope) -> QuerySet[InboundCallback]:
    if not scope.is_hq:
        raise PermissionDenied("the callback log is for HQ")
    return InboundCallback.objects.filter(account__enterprise_id=scope.enterprise_id)


def callbacks(
    scope: Scope, *, kind: str = "", status: str = "", account_id: int | None = None, page: int = 1, page_size: int = 50
) -> Page[InboundCallback]:
    qs = _log(scope).select_related("account")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if account_id:
        qs = qs.filter(account_id=account_id)
    return paginate(qs.order_by("-received_at", "-id"), page=page, page_size=page_size)


def get_callback(scope: Scope, callback_id: int) -> InboundCallback:
    found = _log(scope).select_related("account").filter(pk=callback_id).first()
    if found is None:
        raise NotFound(f"callback {callback_id} not found", field="callback_id")
    return found


def callback_counts(scope: Scope, *, kind: str = "") -> dict[str, int]:
    qs = _log(scope)
    if kind:
        qs = qs.filter(kind=kind)
    return {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("id"))}


def find_account(*, kind: str, app_id: str) -> ChannelAccount | None:
    """A system lookup by app id (the simulator and commands, which act for no user)."""
    return ChannelAccount.objects.filter(kind=kind, app_id=app_id, is_active=True).first()
