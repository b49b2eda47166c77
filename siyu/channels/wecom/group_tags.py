"""Group tags: operators label customer groups (快闪群, 门店群, 兴趣群...) to find them in the group list and to pick
a group code's groups. A tag set of its own, not customer tags: those are mirrored to WeCom corp tags and feed
segments, and WeCom has no tags for groups. Managers and HQ create tags and tag the groups they may see; HQ deletes a
tag. Every change is in the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from siyu.channels.wecom.models import CustomerGroup, GroupSop, GroupTag, GroupTagging
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

MAX_TAGS_PER_GROUP = 20


def _require_manager(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ tag groups"))


def create_group_tag(*, scope: Scope, name: str, actor: Actor = None) -> GroupTag:
    _require_manager(scope)
    clean = " ".join((name or "").split())
    if not 1 <= len(clean) <= 32:
        raise ValidationFailed(_("a group tag is 1-32 characters"), field="name", code="name_length")
    try:
        with transaction.atomic():
            tag = GroupTag.objects.create(enterprise_id=scope.enterprise_id, name=clean)
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_tag.create",
                         target_type="group_tag", target_id=tag.pk, summary=clean)
    except IntegrityError as exc:
        raise Conflict(_("the group tag %(name)s exists") % {"name": clean}, field="name", code="duplicate") from exc
    return tag


@transaction.atomic
def delete_group_tag(*, scope: Scope, tag_id: int, actor: Actor = None) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("HQ deletes group tags (other stores' groups may carry them)"))
    tag = GroupTag.objects.filter(pk=tag_id, enterprise_id=scope.enterprise_id).first()
    if tag is None:
        raise NotFound(_("group tag %(id)s not found") % {"id": tag_id}, field="tag_id")
    sops = list(GroupSop.objects.filter(group_tag=tag).values_list("name", flat=True)[:3])
    if sops:  # a SOP's group set: deleting the tag would leave the SOP sending to nothing
        raise Conflict(_("group SOPs use this tag (%(names)s): change or delete them first")
                       % {"names": ", ".join(sops)}, field="tag_id", code="in_use")
    count = tag.taggings.count()
    tag.delete()
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_tag.delete",
                 target_type="group_tag", target_id=tag_id, summary=tag.name, changes={"groups": count})


@transaction.atomic
def set_group_tags(*, scope: Scope, group_id: int, tag_ids: Sequence[int], actor: Actor = None) -> list[int]:
    """The group's tags become exactly `tag_ids` (of this enterprise); the ids it carries afterwards."""
    _require_manager(scope)
    groups = CustomerGroup.objects.select_for_update().filter(pk=group_id, account__enterprise_id=scope.enterprise_id)
    if not scope.is_hq:
        groups = groups.filter(owner_id__in=org_queries.visible_staff_ids(scope))
    group = groups.first()
    if group is None:
        raise NotFound(_("group %(group_id)s not found") % {"group_id": group_id}, field="group_id")
    wanted = list(dict.fromkeys(tag_ids))
    if len(wanted) > MAX_TAGS_PER_GROUP:
        raise ValidationFailed(_("at most %(n)s tags per group") % {"n": MAX_TAGS_PER_GROUP}, field="tag_ids",
                               code="too_many_tags")
    known = set(GroupTag.objects.filter(enterprise_id=scope.enterprise_id, pk__in=wanted).values_list("id", flat=True))
    for index, tag_id in enumerate(wanted):
        if tag_id not in known:
            raise NotFound(_("group tag %(id)s not found") % {"id": tag_id}, field="tag_ids", index=index)
    before = set(GroupTagging.objects.filter(group=group).values_list("tag_id", flat=True))
    GroupTagging.objects.filter(group=group).exclude(tag_id__in=wanted).delete()
    GroupTagging.objects.bulk_create([GroupTagging(group=group, tag_id=t) for t in wanted if t not in before],
                                     ignore_conflicts=True)
    if before != set(wanted):
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_tags.set",
                     target_type="customer_group", target_id=group.pk,
                     changes={"added": sorted(set(wanted) - before), "removed": sorted(before - set(wanted))})
    return sorted(wanted)
