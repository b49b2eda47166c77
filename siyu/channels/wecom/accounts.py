"""A WeCom channel account by id (within an enterprise when one is given), and how a failed WeCom call reads to the
caller."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom.client import WecomError
from siyu.core.errors import NotFound, UpstreamError


def wecom_account(account_id: int, *, enterprise_id: int | None = None) -> ChannelAccount:
    """A disabled account (its secrets wiped) is not found: nothing may call WeCom with it any more."""
    qs = ChannelAccount.objects.filter(pk=account_id, kind=AccountKind.WECOM, is_active=True)
    if enterprise_id is not None:
        qs = qs.filter(enterprise_id=enterprise_id)
    account = qs.first()
    if account is None:
        raise NotFound(_("WeCom account %(account_id)s not found") % {"account_id": account_id}, field="account_id")
    return account


def upstream_error(exc: WecomError) -> UpstreamError:
    code = "upstream_unavailable" if exc.retryable else "upstream_error"
    return UpstreamError(_("WeCom did not answer as expected (%(exc)s); try again later") % {"exc": exc}, code=code)
