"""Read paths over channel accounts and the raw callback log. Both are enterprise data: HQ sees them all; other roles
see the accounts (to pick one) but not the callback log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, QuerySet, Sum, Value
from django.db.models.functions import Least
from django.utils.translation import gettext_lazy as _

from siyu.channels.intake import REFUSALS_STORED_PER_MINUTE
from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback, RefusalTally
from siyu.core.errors import NotFound, PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import now
from siyu.org.scope import Scope

ACCOUNT_KINDS = AccountKind.choices
CALLBACK_STATUSES = CallbackStatus.choices


def accounts(scope: Scope, *, kind: str = "") -> QuerySet[ChannelAccount]:
    qs = ChannelAccount.objects.filter(enterprise_id=scope.enterprise_id).order_by("kind", "id")
    return qs.filter(kind=kind) if kind else qs


def get_account(scope: Scope, account_id: int, *, kind: str = "") -> ChannelAccount:
    found = accounts(scope, kind=kind).filter(pk=account_id).first()
    if found is None:
        raise NotFound(_("channel account %(account_id)s not found") % {"account_id": account_id}, field="account_id")
    return found


def _log(scope: Scope) -> QuerySet[InboundCallback]:
    if not scope.is_hq:
        raise PermissionDenied(_("the callback log is for HQ"))
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
        raise NotFound(_("callback %(callback_id)s not found") % {"callback_id": callback_id}, field="callback_id")
    return found


def callback_counts(scope: Scope, *, kind: str = "") -> dict[str, int]:
    qs = _log(scope)
    if kind:
        qs = qs.filter(kind=kind)
    return {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("id"))}


@dataclass(frozen=True)
class Refusals:
    refused: int
    stored: int

    @property
    def counted_only(self) -> int:
        return self.refused - self.stored


def refusals(scope: Scope, *, hours: int = 24) -> Refusals:
    """Refused callback requests to the enterprise's accounts over the last `hours`: how many came, and how many of
    them were stored in full (the rest were only counted: at most REFUSALS_STORED_PER_MINUTE per account, source
    address and minute are kept)."""
    _log(scope)  # HQ only, as the log itself
    ids = ChannelAccount.objects.filter(enterprise_id=scope.enterprise_id).values("pk")
    totals = RefusalTally.objects.filter(account_key__in=ids, minute__gte=now() - timedelta(hours=hours)).aggregate(
        total=Sum("refused"), kept=Sum(Least("refused", Value(REFUSALS_STORED_PER_MINUTE)))
    )
    return Refusals(refused=totals["total"] or 0, stored=totals["kept"] or 0)


def find_account(*, kind: str, app_id: str) -> ChannelAccount | None:
    """A system lookup by app id (the simulator and commands, which act for no user)."""
    return ChannelAccount.objects.filter(kind=kind, app_id=app_id, is_active=True).first()


VERIFY_EVENTS = ("verify_url", "verify")  # the URL-check GET as WeCom and the Official Account log it


@dataclass(frozen=True)
class CallbackVerification:
    """Whether the platform has checked our callback URL: the last check that passed, and the last one refused
    (with why: a wrong Token or EncodingAESKey shows here as a signature or decryption failure)."""

    verified_at: datetime | None
    refused_at: datetime | None
    refused_error: str

    @property
    def ok(self) -> bool:
        return self.verified_at is not None and (self.refused_at is None or self.verified_at >= self.refused_at)


def callback_verifications(scope: Scope, account_ids: list[int]) -> dict[int, CallbackVerification]:
    """HQ only (it reads the callback log). A few accounts at a time: one grouped query plus one per refused one."""
    rows = (_log(scope).filter(account_id__in=account_ids, event__in=VERIFY_EVENTS)
            .values("account_id", "status").annotate(last=Max("received_at")))
    passed: dict[int, datetime] = {}
    refused: dict[int, datetime] = {}
    for row in rows:
        if row["status"] == CallbackStatus.PROCESSED:
            passed[row["account_id"]] = row["last"]
        elif row["status"] == CallbackStatus.REJECTED:
            refused[row["account_id"]] = row["last"]
    errors = {}
    for account_id in refused:
        errors[account_id] = (_log(scope).filter(account_id=account_id, event__in=VERIFY_EVENTS,
                                                  status=CallbackStatus.REJECTED)
                              .order_by("-received_at", "-id").values_list("error", flat=True).first() or "")
    return {pk: CallbackVerification(passed.get(pk), refused.get(pk), errors.get(pk, "")) for pk in account_ids}
