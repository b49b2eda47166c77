"""Console pages of the set-up: the first-run wizard (open on a fresh install only, then closed for good) and the
channel accounts and WeChat Pay merchants (HQ administrators only)."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.api.auth import actor_of
from siyu.channels.services import AccountInput
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError
from siyu.core.http import client_ip
from siyu.finance.merchants import MerchantInput
from siyu.setup import keys, queries, services
from siyu.setup.forms import AccountForm, FirstRunForm, MerchantForm, put_error

KIND_TITLES = {"wecom": gettext_lazy("WeCom app"), "official_account": gettext_lazy("Official Account"),
               "miniprogram": gettext_lazy("Mini-program")}


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


# ---------------------------------------------------------------------------------------------------------------
# First run


def _closed(request: HttpRequest, status: int = 404) -> HttpResponse:
    return render(request, "setup/closed.html", {}, status=status)


def _from_this_machine(request: HttpRequest) -> bool:
    return ipaddress.ip_address(client_ip(request)).is_loopback


def wizard(request: HttpRequest) -> HttpResponse:
    """Open while the install has no enterprise; the FirstRun row makes the creation itself once-only."""
    if not queries.setup_open():
        return _closed(request)
    token = settings.SIYU_SETUP_TOKEN
    if not token and not _from_this_machine(request):
        # Without a set-up token, whoever reached a fresh install first could claim it: only a browser on the
        # server itself (or through an SSH tunnel) may; anyone else is told to set the token or run `siyu setup`.
        return render(request, "setup/closed.html", {"needs_token": True}, status=403)
    form = FirstRunForm(request.POST or None, token_required=bool(token))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if token and not hmac.compare_digest(str(data.get("setup_token", "")).encode(), token.encode()):
            form.add_error("setup_token", _("This is not the set-up token."))
        else:
            try:
                made = services.first_run(
                    enterprise_name=data["enterprise_name"], enterprise_code=data["enterprise_code"],
                    admin_username=data["admin_username"], admin_password=data["admin_password"],
                    admin_name=data["admin_name"], source="wizard")
            except DomainError as exc:
                if exc.code == "already_set_up":
                    return _closed(request, status=409)
                put_error(form, exc)
            else:
                user = authenticate(request, username=made.username, password=data["admin_password"])
                if user is not None:
                    login(request, user)
                messages.success(request, _("Siyu is set up. Connect your channel accounts next."))
                return redirect("setup:accounts")
    return render(request, "setup/wizard.html", {"form": form}, status=422 if form.errors else 200)


# ---------------------------------------------------------------------------------------------------------------
# Channel accounts


@console_view
def accounts(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    base = _base(request)
    rows = queries.channel_accounts(scope)
    corps: dict[str, list[Any]] = {}
    for row in rows:
        if row.account.kind == "wecom":
            corps.setdefault(row.account.app_id, []).append(row)
    context = {
        "corps": sorted(corps.items()),
        "oas": [r for r in rows if r.account.kind == "official_account"],
        "mps": [r for r in rows if r.account.kind == "miniprogram"],
        "merchants": queries.merchants(scope),
        "base": settings.SIYU_PUBLIC_URL.rstrip("/") or base,
    }
    return render(request, "setup/accounts.html", context)


def _account_input(kind: str, data: dict[str, Any], current: Any = None) -> AccountInput:
    def pick(name: str, default: str = "") -> Any:
        if current is not None and name in ("app_id", "agent_id"):
            return getattr(current, name)
        return data.get(name) if data.get(name) is not None else default

    return AccountInput(kind=kind, name=pick("name"), app_id=pick("app_id"), agent_id=pick("agent_id"),
                        secret=pick("secret"), token=pick("token"), encoding_aes_key=pick("encoding_aes_key"),
                        callback_mode=pick("callback_mode"), account_type=pick("account_type"),
                        base_url=pick("base_url"), is_active=bool(data.get("is_active")))


def _account_form(request: HttpRequest, *, kind: str, row: Any = None) -> HttpResponse:
    scope = scope_of(request)
    queries.require_hq(scope)
    current = row.account if row is not None else None
    initial: dict[str, Any] = {"is_active": True}
    if current is not None:
        initial = {name: getattr(current, name) for name in
                   ("name", "app_id", "agent_id", "account_type", "callback_mode", "base_url", "is_active")}
    elif kind != "miniprogram":
        initial.update(token=keys.new_callback_token(), encoding_aes_key=keys.new_encoding_aes_key())
    form = AccountForm(request.POST or None, kind=kind, editing=current is not None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.save_channel_account(
                scope=scope, account_id=current.pk if current is not None else None,
                data=_account_input(kind, form.cleaned_data, current), actor=actor_of(request))
        except GateError:
            raise
        except DomainError as exc:
            put_error(form, exc)
        else:
            messages.success(request, _("Saved. Paste the callback URL into the platform, then check the "
                                        "connection."))
            return redirect(f"{_accounts_url()}#account-{account.pk}")
    context = {"form": form, "kind": kind, "kind_title": KIND_TITLES[kind], "row": row,
               "callback_url": queries.public_url(row.callback_path, _base(request)) if row is not None else ""}
    return render(request, "setup/account_form.html", context, status=422 if form.errors else 200)


def _accounts_url() -> str:
    return reverse("setup:accounts")


@console_view
def account_new(request: HttpRequest, account_kind: str) -> HttpResponse:
    if account_kind not in KIND_TITLES:
        raise Http404
    return _account_form(request, kind=account_kind)


@console_view
def account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    row = queries.channel_account(scope_of(request), account_id)
    return _account_form(request, kind=row.account.kind, row=row)


@console_view
@require_POST
def account_check(request: HttpRequest, account_id: int) -> HttpResponse:
    outcome = services.check_channel_account(scope=scope_of(request), account_id=account_id,
                                             actor=actor_of(request))
    _flash_check(request, outcome.ok)
    return redirect(f"{_accounts_url()}#account-{account_id}")


@console_view
@require_POST
def account_disable(request: HttpRequest, account_id: int) -> HttpResponse:
    """HQ only (the service checks); the page asks to confirm first. Its data stays, its secrets are wiped."""
    try:
        services.disable_channel_account(scope=scope_of(request), account_id=account_id, actor=actor_of(request))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(request, _("Account disabled: its secrets were wiped and its callbacks are refused; its "
                                    "records stay. To enable it again, edit it and type the secrets anew."))
    return redirect(f"{_accounts_url()}#account-{account_id}")


@console_view
@require_POST
def account_delete(request: HttpRequest, account_id: int) -> HttpResponse:
    try:
        services.delete_channel_account(scope=scope_of(request), account_id=account_id, actor=actor_of(request))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, _refusal(exc))
        return redirect(f"{_accounts_url()}#account-{account_id}")
    messages.success(request, _("Account deleted."))
    return redirect(_accounts_url())


def _refusal(exc: DomainError) -> str:
    """A refusal as the operator reads it: what went wrong, in their language, with the code for support."""
    return f"{exc.message} ({exc.code})" if exc.code else str(exc.message)


def _flash_check(request: HttpRequest, ok: bool) -> None:
    if ok:
        messages.success(request, _("Connection checked: everything that could be checked works."))
    else:
        messages.error(request, _("Connection checked: something does not work yet, see the details below."))


# ---------------------------------------------------------------------------------------------------------------
# WeChat Pay merchants


def _merchant_input(data: dict[str, Any], current: Any = None) -> MerchantInput:
    text = {name: str(data.get(name) or "") for name in (
        "name", "mch_id", "app_id", "merchant_serial_no", "platform_key_id", "platform_public_key", "private_key",
        "apiv3_key", "base_url", "notify_url")}
    if current is not None:
        text["mch_id"] = current.mch_id
    return MerchantInput(**text, is_active=bool(data.get("is_active")))


def _merchant_form(request: HttpRequest, row: Any = None) -> HttpResponse:
    scope = scope_of(request)
    queries.require_hq(scope)
    current = row.merchant if row is not None else None
    initial: dict[str, Any] = {"is_active": True}
    if current is not None:
        initial = {name: getattr(current, name) for name in
                   ("name", "mch_id", "app_id", "merchant_serial_no", "platform_key_id", "base_url", "notify_url",
                    "is_active")}
    form = MerchantForm(request.POST or None, editing=current is not None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            merchant = services.save_merchant(scope=scope, merchant_id=current.pk if current is not None else None,
                                              data=_merchant_input(form.cleaned_data, current),
                                              actor=actor_of(request))
        except GateError:
            raise
        except DomainError as exc:
            put_error(form, exc)
        else:
            messages.success(request, _("Saved. Check the connection to see that the keys work."))
            return redirect(f"{_accounts_url()}#merchant-{merchant.pk}")
    context = {"form": form, "row": row,
               "notify_url": queries.public_url(row.notify_path, _base(request)) if row is not None else ""}
    return render(request, "setup/merchant_form.html", context, status=422 if form.errors else 200)


@console_view
def merchant_new(request: HttpRequest) -> HttpResponse:
    return _merchant_form(request)


@console_view
def merchant_edit(request: HttpRequest, merchant_id: int) -> HttpResponse:
    return _merchant_form(request, queries.merchant(scope_of(request), merchant_id))


@console_view
@require_POST
def merchant_disable(request: HttpRequest, merchant_id: int) -> HttpResponse:
    try:
        services.disable_merchant(scope=scope_of(request), merchant_id=merchant_id, actor=actor_of(request))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(request, _("Merchant disabled: no new payments go through it; its records and keys stay."))
    return redirect(f"{_accounts_url()}#merchant-{merchant_id}")


@console_view
@require_POST
def merchant_check(request: HttpRequest, merchant_id: int) -> HttpResponse:
    outcome = services.check_merchant(scope=scope_of(request), merchant_id=merchant_id, actor=actor_of(request))
    _flash_check(request, outcome.ok)
    return redirect(f"{_accounts_url()}#merchant-{merchant_id}")
