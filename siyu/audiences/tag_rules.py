"""Rule tags: a tag whose holders are a segment's members, or the customers who did an event (within `expire_days`
of it, or for good). Both are a rule evaluated on the copy; the analytics loop compares it with who holds the tag
(touched customers each refresh, everyone every minute) and tags / untags through siyu.customers.services, so each
change is a tag_added / tag_removed event, and WeCom tags follow through the existing outbox (mark_tag)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.analytics.engine import CopyEngine
from siyu.analytics.engine.copy import ColumnarCopy, RefreshResult
from siyu.audiences import rules as r
from siyu.audiences import sql
from siyu.audiences.context import resolve
from siyu.audiences.models import Segment, TagRule, TagRuleKind
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.customers.models import TagKind
from siyu.org.scope import Scope

log = logging.getLogger(__name__)

FULL_EVERY_S = 60.0
_last_full: dict[int, float] = {}


def rule_of(tag_rule: TagRule) -> dict[str, Any]:
    if tag_rule.kind == TagRuleKind.SEGMENT:
        return {"version": 1, "root": {"type": "segment", "segment_id": tag_rule.segment_id}}
    node: dict[str, Any] = {"type": "event", "event": {"name": tag_rule.event_name, "where": tag_rule.event_where}}
    if tag_rule.expire_days:
        node["window"] = {"last_days": tag_rule.expire_days}
    return {"version": 1, "root": node}


@transaction.atomic
def create_tag_rule(*, scope: Scope, tag_id: int, kind: str, segment_id: int | None = None, event_name: str = "",
                    event_where: list[dict[str, Any]] | None = None, expire_days: int = 0,
                    actor: Actor = None) -> TagRule:
    if not scope.is_hq:
        raise PermissionDenied(_("rule tags are HQ's"))
    tag = customer_queries.tags(scope).filter(pk=tag_id).first()
    if tag is None:
        raise NotFound(_("tag %(tag_id)s not found") % {"tag_id": tag_id}, field="tag_id")
    if TagRule.objects.filter(tag=tag).exists():
        raise ValidationFailed(_("this tag already has a rule"), field="tag_id", code="duplicate")
    if kind not in TagRuleKind.values:
        raise ValidationFailed(_("unknown kind %(kind)s") % {"kind": repr(kind)}, field="kind", code="unknown_kind")
    if kind == TagRuleKind.SEGMENT and not Segment.objects.filter(pk=segment_id or 0,
                                                                  enterprise_id=scope.enterprise_id).exists():
        raise NotFound(_("segment %(segment_id)s not found") % {"segment_id": segment_id}, field="segment_id")
    if not 0 <= expire_days <= 3650:
        raise ValidationFailed(_("expire_days must be 0-3650"), field="expire_days", code="expire_days_range")
    rule = TagRule(enterprise_id=scope.enterprise_id, tag=tag, kind=kind,
                   segment_id=segment_id if kind == TagRuleKind.SEGMENT else None,
                   event_name=event_name if kind == TagRuleKind.EVENT else "",
                   event_where=event_where or [], expire_days=expire_days)
    parsed = r.parse_rule(rule_of(rule))  # the event name and filters are checked like a segment's
    resolve(parsed, enterprise_id=scope.enterprise_id, now=timezone.now())
    rule.save()
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="tag_rule.create", target_type="tag",
                 target_id=tag.pk, summary=tag.name, changes={"kind": kind, "rule": rule_of(rule)})
    return rule


@transaction.atomic
def delete_tag_rule(*, scope: Scope, tag_rule: TagRule, actor: Actor = None) -> None:
    if not scope.is_hq or tag_rule.enterprise_id != scope.enterprise_id:
        raise PermissionDenied(_("rule tags are HQ's"))
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="tag_rule.delete", target_type="tag",
                 target_id=tag_rule.tag_id)
    tag_rule.delete()


def tag_rules(scope: Scope) -> list[TagRule]:
    return list(TagRule.objects.filter(enterprise_id=scope.enterprise_id).select_related("tag", "segment")
                .order_by("id"))


def diff(copy: ColumnarCopy, tag_rule: TagRule, *, touched_only: bool) -> tuple[list[int], list[int]]:
    parsed = r.parse_rule(rule_of(tag_rule))
    ctx = resolve(parsed, enterprise_id=tag_rule.enterprise_id, now=timezone.now(), check=False)
    extra = "c.id IN (SELECT customer_id FROM _touched)" if touched_only else ""
    members = sql.members_sql(parsed, ctx, scopes=[Scope.hq(tag_rule.enterprise_id)], extra=extra)
    holders = "SELECT customer_id FROM customer_tags WHERE tag_id = ?"
    if touched_only:
        holders += " AND customer_id IN (SELECT customer_id FROM _touched)"
    engine = CopyEngine(copy)
    add = engine.query(f"SELECT id FROM ({members.text}) m WHERE id NOT IN ({holders})",  # noqa: S608
                       [*members.params, tag_rule.tag_id]).column()
    remove = engine.query(f"SELECT customer_id FROM ({holders}) h WHERE customer_id NOT IN ({members.text})",  # noqa: S608
                          [tag_rule.tag_id, *members.params]).column()
    return sorted(int(i) for i in add), sorted(int(i) for i in remove)


def apply(tag_rule: TagRule, add: list[int], remove: list[int]) -> None:
    ent = tag_rule.enterprise_id
    if add:
        customer_services.tag_customers(enterprise_id=ent, customer_ids=add, tag_ids=[tag_rule.tag_id],
                                        source=TagKind.RULE)
    if remove:
        customer_services.untag_customers(enterprise_id=ent, customer_ids=remove, tag_ids=[tag_rule.tag_id])
    if add or remove:
        _push_to_wecom(ent, [*add, *remove])
    TagRule.objects.filter(pk=tag_rule.pk).update(applied_at=timezone.now())


def _push_to_wecom(enterprise_id: int, customer_ids: list[int]) -> None:
    from siyu.channels.wecom import queries as wecom_queries
    from siyu.channels.wecom import tags

    scope = Scope.hq(enterprise_id, label="rule tags")
    for account in wecom_queries.accounts(scope):
        tags.push_customer_tags(scope=scope, account_id=account.pk, customer_ids=customer_ids)


def maintain(copy: ColumnarCopy, result: RefreshResult | None = None, *, force_full: bool = False) -> int:
    moved = 0
    touched = result is not None and len(result.touched) > 0
    for tag_rule in TagRule.objects.filter(is_active=True).order_by("id"):
        full = force_full or tag_rule.applied_at is None or time.monotonic() - _last_full.get(tag_rule.pk, 0) \
            > FULL_EVERY_S or (result is not None and result.full)
        if not full and not touched:
            continue
        try:
            add, remove = diff(copy, tag_rule, touched_only=not full)
            apply(tag_rule, add, remove)
        except Exception:
            log.exception("audiences: tag rule %s failed", tag_rule.pk)
            continue
        if full:
            _last_full[tag_rule.pk] = time.monotonic()
        moved += len(add) + len(remove)
    return moved


def after_refresh(copy: ColumnarCopy, result: RefreshResult) -> None:
    maintain(copy, result)
