"""Auto-pull (自动拉群): a channel code's welcome message carries a group's join link, the group chosen by the new
customer's tags or store (routes: first match wins, a route with neither tag nor store is the fallback).

The link is the group code's landing page (counts the scan) when SIYU_PUBLIC_URL is set, else the join way's QR from
WeCom itself. Routes are shared with keyword groups (keyword_groups.py): `choose` is the one rule for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom.models import ChannelCode, GroupCode, GroupCodeStatus, GroupRoute
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, ValidationFailed
from siyu.customers import queries as customer_queries
from siyu.customers.models import Customer
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

MAX_ROUTES = 50


@dataclass(frozen=True)
class RouteIn:
    group_code_id: int
    tag_id: int | None = None
    store_id: int | None = None


def clean_routes(scope: Scope, routes: Sequence[RouteIn], *, account_id: int | None = None) -> list[RouteIn]:
    """Each route's tag, store and group code must be the enterprise's (and the code of `account_id`'s corp)."""
    if len(routes) > MAX_ROUTES:
        raise ValidationFailed(_("at most %(MAX_ROUTES)s routes") % {"MAX_ROUTES": MAX_ROUTES}, field="routes",
                               code="too_many_routes")
    codes = {c.pk: c for c in GroupCode.objects.filter(
        enterprise_id=scope.enterprise_id, id__in=[r.group_code_id for r in routes])}
    tags = set(customer_queries.tags(scope).filter(id__in=[r.tag_id for r in routes if r.tag_id])
               .values_list("id", flat=True))
    stores = set(org_queries.stores(scope).filter(id__in=[r.store_id for r in routes if r.store_id])
                 .values_list("id", flat=True))
    for index, route in enumerate(routes):
        code = codes.get(route.group_code_id)
        if code is None:
            raise NotFound(
                _("group code %(group_code_id)s not found") % {"group_code_id": route.group_code_id},
                field="routes", index=index,
            )
        if code.status == GroupCodeStatus.DISABLED:
            raise ValidationFailed(
                _("group code %(name)s is disabled") % {"name": repr(code.name)},
                field="routes", index=index,
                code="group_code_disabled",
            )
        if account_id is not None and code.account_id != account_id:
            raise ValidationFailed(
                _("group code %(name)s belongs to another WeCom corp") % {"name": repr(code.name)},
                field="routes", index=index, code="group_of_other_corp",
            )
        if route.tag_id is not None and route.tag_id not in tags:
            raise NotFound(_("unknown tag %(tag_id)s") % {"tag_id": route.tag_id}, field="routes", index=index)
        if route.store_id is not None and route.store_id not in stores:
            raise NotFound(_("unknown store %(store_id)s") % {"store_id": route.store_id}, field="routes", index=index)
    return list(routes)


def choose(routes: Iterable[GroupRoute], *, tag_ids: Iterable[int], store_id: int | None) -> GroupCode | None:
    """The first route whose tag the customer has or whose store is the customer's; else the first fallback."""
    tags = set(tag_ids)
    fallback = None
    for route in routes:
        if route.group_code.status == GroupCodeStatus.DISABLED:
            continue
        if route.tag_id is None and route.store_id is None:
            fallback = fallback or route.group_code
            continue
        tag_ok = route.tag_id is None or route.tag_id in tags
        store_ok = route.store_id is None or route.store_id == store_id
        if tag_ok and store_ok:
            return route.group_code
    return fallback


def group_link(code: GroupCode) -> str:
    base = str(getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    if base and code.config_id:
        return base + reverse("channels:wecom_group_code_landing", args=[code.config_id])
    return code.qr_code


@transaction.atomic
def set_channel_code_routes(*, scope: Scope, code_id: int, routes: Sequence[RouteIn], actor: Actor = None) -> int:
    code = ChannelCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("channel code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    clean = clean_routes(scope, routes, account_id=code.account_id)
    GroupRoute.objects.filter(channel_code=code).delete()
    GroupRoute.objects.bulk_create([
        GroupRoute(channel_code=code, group_code_id=r.group_code_id, tag_id=r.tag_id, store_id=r.store_id, sort=i)
        for i, r in enumerate(clean)
    ])
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.code.group_routes",
                 target_type="channel_code", target_id=code.pk,
                 summary=audit.ntext(
                     N_("%(count)s route"),
                     N_("%(count)s routes"), len(clean)))
    return len(clean)


def customer_tag_ids(customer: Customer | None) -> set[int]:
    if customer is None:
        return set()
    return set(customer.customer_tags.values_list("tag_id", flat=True))


def welcome_attachment(code: ChannelCode | None, *, customer: Customer | None, store_id: int | None
                       ) -> dict[str, Any] | None:
    """The link attachment a channel code's welcome carries for this customer (None: no route matches)."""
    if code is None:
        return None
    routes = list(GroupRoute.objects.filter(channel_code=code).select_related("group_code").order_by("sort", "id"))
    if not routes:
        return None
    tag_ids = customer_tag_ids(customer) | set(code.tags.values_list("id", flat=True))
    group_code = choose(routes, tag_ids=tag_ids, store_id=store_id)
    if group_code is None:
        return None
    link = group_link(group_code)
    if not link:
        return None
    return {"msgtype": "link", "link": {"title": f"加入{group_code.name}"[:64], "url": link,
                                        "desc": "长按识别二维码入群"}}
