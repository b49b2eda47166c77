"""The demo data step for WeCom: the demo app's ChannelAccount pointed at the simulator, a channel tag group and a
few channel codes (their contact ways are created on the simulator by the worker through the outbox)."""

from __future__ import annotations

from typing import Any

from siyu.org import queries as org_queries
from siyu.org.scope import Scope

DEMO_TAGS = ("门店扫码", "新客")
TAG_GROUP = "渠道来源"


def seed_wecom(enterprise_id: int, rng: Any, progress: Any) -> None:
    from siyu.channels.wecom import services
    from siyu.core.errors import DomainError
    from siyu.customers import queries as customer_queries
    from siyu.customers import services as customer_services

    note = getattr(progress, "note", None)
    try:
        account = services.ensure_demo_account(enterprise_id)
    except DomainError as exc:  # the demo app already belongs to another enterprise in this database
        if callable(note):
            note(f"WeCom demo account skipped: {exc}")
        return
    scope = Scope.hq(enterprise_id)
    group = next((g for g in customer_queries.tag_library(scope) if g.name == TAG_GROUP), None)
    if group is None:
        group = customer_services.create_tag_group(enterprise_id=enterprise_id, name=TAG_GROUP)
    existing = {t.name: t.pk for t in customer_queries.tags(scope).filter(group_id=group.pk)}
    tag_ids = [
        existing.get(name) or customer_services.create_tag(group=group, name=name).pk for name in DEMO_TAGS
    ]
    stores = [
        (store.pk, store.name)
        for store in org_queries.stores(scope).order_by("id")[:12]
        if org_queries.staff(scope).filter(store_id=store.pk, is_active=True).exclude(wecom_userid="").exists()
    ][:4]
    made = services.demo_codes(enterprise_id=enterprise_id, account_id=account.pk, stores=stores, tag_ids=tag_ids)
    if callable(note):
        note(f"WeCom demo account #{account.pk}, {made} channel codes")


def install() -> None:
    try:
        from siyu.core.seed.hooks import register_seed_step
    except ImportError:  # the seed hooks are not there: ensure_demo_account is the way in
        return
    register_seed_step("channels.wecom", seed_wecom)
