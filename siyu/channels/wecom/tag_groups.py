"""Tag-built groups (标签建群): HQ or a manager picks customers by tags (having all of them, or any) or by a segment
(人群包), and each staff member who follows some of them gets a task to invite them into a group code's groups.

A segment belongs to the audiences app, which sits above WeCom: its members are reached through the hook that the
audiences app registers on the customers app at start-up (customers.queries.segment_member_ids, a subquery of the
customer ids the operator may see), so WeCom never imports audiences and the picking stays one SQL query.

WeCom lets only staff invite customers into a group and has no API that adds a customer to a group, so the invitation
is a mass send (add_msg_template, one per owning staff member, confirmed in the client) whose link is the group code's
join link (auto_pull.group_link). A customer followed by several staff is invited once (the mass send's rule).
Progress is the mass send's (which staff have sent, to how many); the result is how many invited customers then
joined one of the code's groups (queries.tag_group_results)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from siyu.channels.wecom import auto_pull, mass_sends
from siyu.channels.wecom.models import GroupCode, GroupCodeStatus, MassSend
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers import queries as customer_queries
from siyu.customers.models import CustomerTag, Relationship, RelationshipStatus
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

MAX_TAGS = 20
DEFAULT_TEXT = "邀请您加入「{group}」，点击下方链接即可入群"


def matching_customers(scope: Scope, tag_ids: Sequence[int], match: str, *, segment_id: int | None = None) -> Q:
    """The customers (visible to the scope) with all / any of the tags, or the segment's members, as a filter on
    customer ids: one subquery, never a loop over rows."""
    if segment_id is not None:
        return Q(customer_id__in=customer_queries.segment_member_ids(scope, segment_id))
    tagged = CustomerTag.objects.filter(tag_id__in=list(tag_ids)).values("customer_id")
    if match == "all":
        tagged = tagged.annotate(n=Count("tag_id", distinct=True)).filter(n=len(set(tag_ids)))
    visible = customer_queries.visible_customer_ids(scope)
    return Q(customer_id__in=tagged.values("customer_id")) & Q(customer_id__in=visible)


def owners(scope: Scope, account_id: int, tag_ids: Sequence[int], match: str = "all", *,
           segment_id: int | None = None) -> dict[int, int]:
    """Staff id -> how many of the matching customers they follow (active WeCom staff the scope may see)."""
    staff = org_queries.staff(scope).filter(is_active=True).exclude(wecom_userid="").values("id")
    rows = (Relationship.objects.filter(matching_customers(scope, tag_ids, match, segment_id=segment_id))
            .filter(status=RelationshipStatus.ACTIVE, staff_id__in=staff)
            .values("staff_id").annotate(n=Count("customer_id", distinct=True)).order_by("staff_id"))
    return {r["staff_id"]: r["n"] for r in rows}


def _group_code(scope: Scope, account_id: int, group_code_id: int) -> GroupCode:
    code = GroupCode.objects.filter(pk=group_code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("group code %(group_code_id)s not found")
            % {"group_code_id": group_code_id}, field="group_code_id")
    if code.account_id != account_id:
        raise ValidationFailed(_("group code %(name)s belongs to another WeCom corp")
            % {"name": repr(code.name)}, field="group_code_id",
                               code="group_of_other_corp")
    if code.status != GroupCodeStatus.ACTIVE:
        raise ValidationFailed(_("group code %(name)s is not active")
            % {"name": repr(code.name)}, field="group_code_id",
                               code="group_code_not_active")
    return code


def _tags(scope: Scope, tag_ids: Sequence[int], match: str) -> list[int]:
    if match not in ("all", "any"):
        raise ValidationFailed(_("match is all or any"), field="match", code="unknown_match")
    ids = list(dict.fromkeys(tag_ids))
    if not 1 <= len(ids) <= MAX_TAGS:
        raise ValidationFailed(_("pick 1 to %(MAX_TAGS)s tags") % {"MAX_TAGS": MAX_TAGS}, field="tag_ids",
                               code="tags_count")
    known = set(customer_queries.tags(scope).filter(id__in=ids).values_list("id", flat=True))
    for index, tag_id in enumerate(ids):
        if tag_id not in known:
            raise NotFound(_("unknown tag %(tag_id)s") % {"tag_id": tag_id}, field="tag_ids", index=index)
    return ids


def _segment(scope: Scope, segment_id: int, tag_ids: Sequence[int]) -> tuple[int, str]:
    """(id, name) of a segment the scope may see: NotFound (404, segment_id) for another enterprise's or another
    store's; a dynamic segment not built yet is a Conflict (409 segment_not_built) from the audiences app."""
    if tag_ids:
        raise ValidationFailed(_("pick customers by tags or by a segment, not both"), field="segment_id",
                               code="segment_or_tags")
    customer_queries.segment_member_ids(scope, segment_id)  # raises for a segment out of reach or not built yet
    return segment_id, customer_queries.segment_name(scope, segment_id)


def create_tag_group(
    *, scope: Scope, account_id: int, group_code_id: int, tag_ids: Sequence[int] = (), match: str = "all",
    segment_id: int | None = None, name: str = "", text: str = "", actor: Actor = None,
) -> MassSend:
    """Invite the customers with the tags (or the segment's members) into the group code's groups: one submitted
    mass send whose senders are the staff who follow them (all or nothing)."""
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ build groups from tags"))
    code = _group_code(scope, account_id, group_code_id)
    if segment_id is None and not tag_ids:
        raise ValidationFailed(_("pick customers by tags or by a segment"), field="tag_ids", code="segment_or_tags")
    segment = _segment(scope, segment_id, tag_ids) if segment_id is not None else None
    tags = _tags(scope, tag_ids, match) if segment is None else []
    link = auto_pull.group_link(code)
    if not link:
        raise ValidationFailed(_("group code %(name)s has no join link yet")
            % {"name": repr(code.name)}, field="group_code_id",
                               code="group_code_not_ready")
    senders = owners(scope, account_id, tags, match, segment_id=segment_id)
    if not senders:
        if segment is not None:
            raise ValidationFailed(_("no member of this segment is followed by a staff member you manage"),
                                   field="segment_id", code="no_customers")
        raise ValidationFailed(_("no customer with these tags is followed by a staff member you manage"),
                               field="tag_ids", code="no_customers")
    body = (text.strip() or DEFAULT_TEXT).replace("{group}", code.name)
    attachment = {"msgtype": "link", "link": {"title": f"加入{code.name}"[:64], "url": link,
                                              "desc": "点击链接加入群聊"}}
    with transaction.atomic():
        return mass_sends.create_mass_send(
            scope=scope, account_id=account_id, kind="single", sender_ids=sorted(senders),
            name=(name.strip() or f"标签建群·{code.name}")[:64], tag_ids=tags, tag_match=match, text=body,
            attachments=[attachment], group_code_id=code.pk, segment=segment, submit=True, actor=actor)
