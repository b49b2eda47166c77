"""Who is shopping on an H5 mall page: the brand from the URL (`/m/<code>/`), the signed-in customer from this
browser's session (a storefront token kept server-side in the Django session, one per brand), and the attribution a
shared link carried (sharer staff, campaign, channel code), kept in the session until the order is placed.

The mall's pages (siyu.storefront.views) and the pay page (siyu.finance.mall_views) both use `mall_page`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from siyu.core.errors import DomainError
from siyu.storefront import queries
from siyu.storefront.services import checkout, shopper_login
from siyu.storefront.services.shopper_login import Shopper

LINK_PARAMS = ("staff_id", "campaign", "channel_code", "state")
# The event-log channel of an H5 mall order: the mall is the Official Account's web front (its menu, its OAuth).
MALL_CHANNEL = "official_account"


@dataclass(frozen=True)
class Mall:
    enterprise_id: int
    code: str
    name: str
    shopper: Shopper | None

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"mall:{name}", args=[self.code, *args])


def _token_key(enterprise_id: int) -> str:
    return f"mall:{enterprise_id}:token"


def _attribution_key(enterprise_id: int) -> str:
    return f"mall:{enterprise_id}:link"


def sign_in(request: HttpRequest, enterprise_id: int, token: str) -> None:
    """Keep the new session's token (a fresh session id: no fixation)."""
    link = request.session.get(_attribution_key(enterprise_id))
    request.session.cycle_key()
    request.session[_token_key(enterprise_id)] = token
    if link:
        request.session[_attribution_key(enterprise_id)] = link


def sign_out(request: HttpRequest, mall: Mall) -> None:
    if mall.shopper is not None:
        shopper_login.storefront_logout(shopper=mall.shopper)
    request.session.pop(_token_key(mall.enterprise_id), None)


def token_of(request: HttpRequest, enterprise_id: int) -> str:
    value = request.session.get(_token_key(enterprise_id), "")
    return value if isinstance(value, str) else ""


def _shopper(request: HttpRequest, enterprise_id: int) -> Shopper | None:
    token = token_of(request, enterprise_id)
    shopper = shopper_login.authenticate_customer(token) if token else None
    return shopper if shopper is not None and shopper.enterprise_id == enterprise_id else None


def _remember_link(request: HttpRequest, enterprise_id: int) -> None:
    """A shared link's attribution (the latest link wins). Text is capped here and checked again at placement; a
    staff id must be a number (an unknown one is dropped when the order is placed)."""
    if not any(request.GET.get(name) for name in LINK_PARAMS):
        return
    staff = request.GET.get("staff_id", "")
    request.session[_attribution_key(enterprise_id)] = {
        "staff_id": int(staff) if staff.isdigit() and len(staff) < 12 else None,
        "campaign": request.GET.get("campaign", "")[:64],
        "channel_code": (request.GET.get("channel_code") or request.GET.get("state", ""))[:64],
    }


def attribution(request: HttpRequest, enterprise_id: int) -> checkout.Attribution:
    link = request.session.get(_attribution_key(enterprise_id)) or {}
    staff = link.get("staff_id")
    return checkout.Attribution(staff_id=staff if isinstance(staff, int) else None,
                                campaign=str(link.get("campaign", ""))[:64],
                                channel_state=str(link.get("channel_code", ""))[:64], channel=MALL_CHANNEL)


def error_page(request: HttpRequest, mall: Mall | None, exc: DomainError) -> HttpResponse:
    response = render(request, "storefront/mall/error.html", {"mall": mall, "error": exc}, status=exc.status)
    retry = getattr(exc, "retry_after_s", None)
    if retry:
        response["Retry-After"] = str(retry)
    return response


MallView = Callable[..., HttpResponse]


def mall_page(*, login: bool = False, link: bool = True) -> Callable[[MallView], MallView]:
    """A mall page: `view(request, mall, ...)`. With `login`, a visitor who is not signed in goes to the sign-in
    page and comes back. `link=False` for the OAuth return leg, whose `state` is the platform's, not a channel
    code's. A domain error renders the mall's error page with its status (404 for another
    customer's order, 422 for bad input), never a 500."""

    def decorate(view: MallView) -> MallView:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, enterprise: str, *args: Any, **kwargs: Any) -> HttpResponse:
            mall: Mall | None = None
            try:
                brand = queries.mall_enterprise(enterprise)
                if link:
                    _remember_link(request, brand.pk)
                mall = Mall(enterprise_id=brand.pk, code=brand.code, name=brand.name,
                            shopper=_shopper(request, brand.pk))
                if login and mall.shopper is None:
                    return redirect(f"{mall.url('login')}?{urlencode({'next': request.get_full_path()})}")
                return view(request, mall, *args, **kwargs)
            except DomainError as exc:
                return error_page(request, mall, exc)

        return wrapper

    return decorate


def shopper(mall: Mall) -> Shopper:
    assert mall.shopper is not None, "mall_page(login=True) guarantees a shopper"
    return mall.shopper


def safe_next(mall: Mall, value: str) -> str:
    """Only a path inside this brand's mall (no open redirect)."""
    home = mall.url("home")
    return value if value.startswith(home) and "//" not in value and "\\" not in value else home
