"""The staff sidebar (聊天工具栏): what the phone-sized page beside a WeCom chat reads.

The page learns which external contact is open from the JS-SDK (getContext, getCurExternalContact); everything it
shows is about the staff member's *own* customers (those they follow, whatever their role: a chat in the toolbar is
always one of theirs), read through their scope (phones masked as everywhere for store staff). Sending happens in
the WeCom client (sendChatMessage); Siyu prepares the text (variables filled, never a hole) and the media_id of an
attached file.

Opened inside WeCom (the URL registered in the toolbar carries `?account=<id>`), the page signs the member in with
WeCom's in-app authorisation (views: sidebar_sign_in), never with a console password.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _

from siyu.channels.wecom import jssdk
from siyu.channels.wecom import queries as wecom_queries
from siyu.content import links, queries
from siyu.content.models import MaterialKind
from siyu.content.variables import Rendered, render
from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.money import Money
from siyu.customers import privacy
from siyu.customers import queries as customer_queries
from siyu.orders import queries as order_queries
from siyu.org.models import Role
from siyu.org.scope import Scope

MEDIA_KINDS = {MaterialKind.IMAGE: "image", MaterialKind.POSTER: "image", MaterialKind.VIDEO: "video",
               MaterialKind.FILE: "file"}


@dataclass(frozen=True)
class PageConfig:
    config: jssdk.AgentConfig
    script_url: str


def page_config(scope: Scope, url: str, *, account_id: int | None = None) -> PageConfig:
    """The agentConfig for this page URL, signed with the app ticket of the enterprise's WeCom app (the one the
    toolbar URL names, else the first)."""
    accounts = wecom_queries.accounts(scope)
    account = (accounts.filter(pk=account_id) if account_id is not None else accounts).first()
    if account is None:
        raise NotFound(_("no WeCom app is connected yet"), field="account")
    script = settings.SIYU_WECOM_JSSDK_URL or f"{account.base_url.rstrip('/')}/jssdk.js"
    return PageConfig(config=jssdk.agent_config(account, url), script_url=script)


def own(scope: Scope) -> Scope:
    """The scope that sees only the customers this staff member follows (store staff's rule, for every role)."""
    return replace(scope, role=Role.STORE_STAFF)


def require_own(scope: Scope, customer_id: int) -> Any:
    """The customer, when this staff member follows them; NotFound otherwise (someone else's, or none)."""
    return customer_queries.get_customer(own(scope), customer_id)


# What other apps show about the open customer, read through their own public queries (loyalty registers its points
# summary at start-up: content never imports loyalty, which sits above it). A reader gets the staff member's scope and
# the customer id, and answers an object the sidebar's template knows, or None.
PanelReader = Callable[[Scope, int], Any]
_PANELS: dict[str, PanelReader] = {}


def register_panel(name: str, reader: PanelReader) -> None:
    _PANELS[name] = reader


def panels(scope: Scope, customer_id: int) -> dict[str, Any]:
    found = {}
    for name, reader in _PANELS.items():
        value = reader(scope, customer_id)
        if value is not None:
            found[name] = value
    return found


@dataclass(frozen=True)
class Contact:
    customer: Any
    phone: str
    tags: list[Any]
    orders: list[Any]
    order_count: int
    totals: dict[str, int]
    spent: Money
    order_rows: list[tuple[Any, Money]]
    best_hour: int | None
    panels: dict[str, Any]
    tier: str  # the loyalty tier's name, "" while loyalty has none (a "tier" panel, or a `tier` on the points one)


def contact(scope: Scope, *, external_userid: str = "", customer_id: int | None = None) -> Contact:
    if customer_id is not None:
        customer = require_own(scope, customer_id)
    else:
        customer = customer_queries.find_visible(own(scope), kind="wecom_external_userid", value=external_userid)
    profile = customer_queries.profile(scope, customer.pk)
    orders, count = order_queries.customer_orders(scope, customer.pk, limit=5)
    totals = order_queries.customer_order_totals(scope, customer.pk)
    found = panels(scope, customer.pk)
    return Contact(customer=customer, phone=privacy.phone_for(scope, customer.phone), tags=profile.tags,
                   orders=orders, order_count=count, totals=totals, spent=Money(totals["spent_fen"]),
                   order_rows=[(o, Money(o.paid_fen, o.currency)) for o in orders],
                   best_hour=queries.best_sending_hours(scope, [customer.pk]).get(customer.pk),
                   panels=found, tier=_tier_name(found))


def _tier_name(found: dict[str, Any]) -> str:
    tier = found.get("tier") or getattr(found.get("points"), "tier", None)
    if not tier:
        return ""
    return str(getattr(tier, "name", None) or tier)


@dataclass(frozen=True)
class Reply:
    script: Any
    rendered: Rendered


def replies(scope: Scope, q: str, *, customer_id: int | None, extra: dict[str, str]) -> list[Reply]:
    """Quick replies for the search, each rendered for the customer (missing variables shown, to be typed in)."""
    if customer_id is not None:
        require_own(scope, customer_id)
    out = []
    for script in queries.quick_replies(scope, q, limit=10):
        values = queries.script_values(scope, script, customer_id=customer_id, extra=extra)
        out.append(Reply(script=script, rendered=render(script.body, values, script.fallbacks)))
    return out


def media_id(scope: Scope, material_id: int) -> tuple[str, str]:
    """(msgtype, media_id) of a file material for sendChatMessage, uploaded to WeCom's temporary media once."""
    material = queries.get_material(scope, material_id)
    kind = MEDIA_KINDS.get(MaterialKind(material.kind))
    if kind is None or not material.file:
        raise ValidationFailed(_("this material has no file to send"), field="material_id",
                               code="material_no_file")
    account = wecom_queries.accounts(scope).first()
    if account is None:
        raise NotFound(_("no WeCom app is connected yet"), field="account")
    with default_storage.open(material.file, "rb") as fh:
        content = fh.read()
    return kind, jssdk.temp_media(account, digest=material.sha256, kind=kind, filename=material.file_name or "file",
                                  content=content, content_type=material.content_type)


def link_card(scope: Scope, material_id: int, *, customer_id: int | None) -> dict[str, str]:
    """A link material as sendChatMessage's `news` card for one of the member's own customers: its link is the
    tracked redirect (siyu.content.links), so the customer's click and a later paid order count for the material."""
    material = queries.get_material(scope, material_id)
    if material.kind != MaterialKind.LINK or not material.url:
        raise ValidationFailed(_("this material is not a link"), field="material_id", code="material_not_link")
    if customer_id is None:
        raise ValidationFailed(_("open a chat with a customer first"), field="customer",
                               code="no_chat_customer")
    require_own(scope, customer_id)
    return {"link": links.path(enterprise_id=scope.enterprise_id, material_id=material.pk, customer_id=customer_id),
            "title": material.title[:64], "desc": material.text[:120]}
