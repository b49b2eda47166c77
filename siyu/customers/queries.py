"""Read paths over customers. Every function takes a Scope: what a role may see is decided here and only here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import SHANGHAI, week_start
from siyu.customers.models import (
    Channel,
    Customer,
    CustomerMerge,
    CustomerTag,
    Event,
    Gender,
    Identity,
    IdentityKind,
    Relationship,
    RelationshipStatus,
    Tag,
    TagGroup,
    TagKind,
)
from siyu.org.models import Role
from siyu.org.scope import Scope

# The choices API schemas and console forms validate against (they may not import models).
Channels = Channel
Genders = Gender
IdentityKinds = IdentityKind
RelationshipStatuses = RelationshipStatus
TagKinds = TagKind


def customers(scope: Scope) -> QuerySet[Customer]:
    """The live (not merged-away) customers this scope may see."""
    qs = Customer.objects.filter(enterprise_id=scope.enterprise_id, merged_into__isnull=True)
    if scope.is_hq:
        return qs
    followed = Relationship.objects.filter(customer_id=OuterRef("pk")).exclude(status=RelationshipStatus.TRANSFERRED)
    if scope.role == Role.REGION_MANAGER:
        in_region = followed.filter(
            Q(staff__store__region_id__in=scope.region_ids) | Q(staff__region_id__in=scope.region_ids)
        )
        return qs.filter(Q(home_store__region_id__in=scope.region_ids) | Exists(in_region))
    if scope.role == Role.STORE_MANAGER:
        in_store = followed.filter(staff__store_id__in=scope.store_ids)
        return qs.filter(Q(home_store_id__in=scope.store_ids) | Exists(in_store))
    return qs.filter(Exists(followed.filter(staff_id=scope.staff_id or 0)))


@dataclass(frozen=True)
class CustomerFilter:
    q: str = ""
    store_id: int | None = None
    staff_id: int | None = None
    tag_id: int | None = None
    channel: str = ""
    relationship_status: str = ""
    tag_ids: tuple[int, ...] = ()  # several tags at once: every one of them ("all") or at least one ("any")
    tag_match: str = "all"
    segment_id: int | None = None  # members of a segment the viewer may see (through the audiences app's hook)


# The audiences app answers "which customers are in segment N, as this viewer sees them" (a subquery of customer ids;
# NotFound for a segment outside the viewer's scope) and "which segments may this viewer filter by": customers sits
# below audiences (and the console below it) and cannot import it.
SegmentMembers = Callable[[Scope, int], QuerySet[Any]]
SegmentChoices = Callable[[Scope], list[tuple[int, str]]]
SegmentName = Callable[[Scope, int], str]
_SEGMENT_MEMBERS: dict[str, SegmentMembers] = {}
_SEGMENT_CHOICES: dict[str, SegmentChoices] = {}
_SEGMENT_NAMES: dict[str, SegmentName] = {}


def register_segment_members(members: SegmentMembers, choices: SegmentChoices,
                             name: SegmentName | None = None) -> None:
    _SEGMENT_MEMBERS["segments"] = members
    _SEGMENT_CHOICES["segments"] = choices
    if name is not None:
        _SEGMENT_NAMES["segments"] = name


def segment_member_ids(scope: Scope, segment_id: int) -> QuerySet[Any]:
    """The ids of segment N's members this viewer may see, as a subquery, for the apps below audiences (WeCom's
    tag-built groups); NotFound (field segment_id) for a segment outside the viewer's scope or enterprise."""
    return _segment_members(scope, segment_id)


def segment_name(scope: Scope, segment_id: int) -> str:
    """Segment N's name as this viewer may see it ("" when the audiences app gives no names)."""
    name = _SEGMENT_NAMES.get("segments")
    return name(scope, segment_id) if name is not None else ""


def segment_choices(scope: Scope) -> list[tuple[int, str]]:
    """The segments this viewer may filter the customer list by (none when the audiences app is not installed)."""
    choices = _SEGMENT_CHOICES.get("segments")
    return choices(scope) if choices is not None else []


def _segment_members(scope: Scope, segment_id: int) -> QuerySet[Any]:
    members = _SEGMENT_MEMBERS.get("segments")
    if members is None:
        raise ValidationFailed(_("segments are not available"), field="segment", code="segments_unavailable")
    return members(scope, segment_id)


_PHONE_PUNCTUATION = re.compile(r"[\s\-()]")


def _phone_digits(text: str) -> str:
    """A searched number without spaces, dashes and a +86/0086 prefix ("" if it is not a number)."""
    digits = _PHONE_PUNCTUATION.sub("", text)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits if digits.isdigit() else ""


def _text_filter(text: str) -> Q:
    """Name, phone (its start, the whole number in any spelling, or its last 4 digits: 尾号), an identity or a tag."""
    matches_identity = Identity.objects.filter(customer_id=OuterRef("pk"), value=text)
    found = (Q(name__icontains=text) | Q(phone__startswith=text) | Exists(matches_identity)
             | Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag__name=text)))
    digits = _phone_digits(text)
    if digits and digits != text:
        found |= Q(phone__startswith=digits)
    if len(digits) == 4:
        found |= Q(phone__endswith=digits)
    return found


def _tags_filter(qs: QuerySet[Customer], tag_ids: tuple[int, ...], match: str) -> QuerySet[Customer]:
    if match == "any":
        return qs.filter(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id__in=tag_ids)))
    for tag_id in tag_ids:
        qs = qs.filter(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id=tag_id)))
    return qs


def search(scope: Scope, flt: CustomerFilter, *, page: int = 1, page_size: int = 20) -> Page[Customer]:
    return paginate(filtered_customers(scope, flt), page=page, page_size=page_size)


def filtered_customers(scope: Scope, flt: CustomerFilter) -> QuerySet[Customer]:
    """The visible customers matching a filter, newest first, with home store and tags loaded (list and export)."""
    qs = customers(scope)
    text = flt.q.strip()
    if text:
        qs = qs.filter(_text_filter(text))
    if flt.store_id:
        qs = qs.filter(
            Q(home_store_id=flt.store_id)
            | Exists(Relationship.objects.filter(customer_id=OuterRef("pk"), staff__store_id=flt.store_id))
        )
    if flt.staff_id or flt.relationship_status:
        rels = Relationship.objects.filter(customer_id=OuterRef("pk"))
        if flt.staff_id:
            rels = rels.filter(staff_id=flt.staff_id)
        if flt.relationship_status:
            rels = rels.filter(status=flt.relationship_status)
        qs = qs.filter(Exists(rels))
    if flt.tag_id:
        qs = qs.filter(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id=flt.tag_id)))
    if flt.tag_ids:
        qs = _tags_filter(qs, tuple(flt.tag_ids), flt.tag_match)
    if flt.channel:
        qs = qs.filter(created_source=flt.channel)
    if flt.segment_id:
        qs = qs.filter(pk__in=_segment_members(scope, flt.segment_id))
    qs = qs.select_related("home_store").prefetch_related(
        Prefetch("customer_tags", queryset=CustomerTag.objects.select_related("tag"))
    )
    return qs.order_by("-created_at", "-id")


def get_customer(scope: Scope, customer_id: int) -> Customer:
    found = customers(scope).select_related("home_store").filter(pk=customer_id).first()
    if found is None:
        merged = Customer.objects.filter(
            pk=customer_id, enterprise_id=scope.enterprise_id, merged_into__isnull=False
        ).values_list("merged_into_id", flat=True).first()
        if merged:
            raise NotFound(
                _("customer %(customer_id)s was merged into %(merged)s")
                % {"customer_id": customer_id, "merged": merged},
                field="customer_id", code="merged",
            )
        raise NotFound(_("customer %(customer_id)s not found") % {"customer_id": customer_id}, field="customer_id")
    return found


def find_visible(scope: Scope, *, kind: str, value: str) -> Customer:
    """The customer in this scope who carries an identity (a WeCom external_userid, say); NotFound otherwise, the
    same answer whether the customer is someone else's or does not exist."""
    found = customers(scope).select_related("home_store").filter(
        Exists(Identity.objects.filter(customer_id=OuterRef("pk"), kind=kind, value=value))).first()
    if found is None:
        raise NotFound(_("no customer of yours has that identity"), field="external_userid")
    return found


def engagement_events(enterprise_id: int, *, names: list[str], since: datetime) -> QuerySet[Event]:
    """The log's events of these names since a moment (for reads that aggregate a customer's history)."""
    return Event.objects.filter(enterprise_id=enterprise_id, name__in=names, occurred_at__gte=since)


def visible_customer_ids(scope: Scope) -> QuerySet[Customer, int]:
    return customers(scope).values_list("id", flat=True)


@dataclass(frozen=True)
class Profile:
    customer: Customer
    identities: list[Identity]
    relationships: list[Relationship]
    tags: list[Tag]
    merges: list[CustomerMerge]


def profile(scope: Scope, customer_id: int) -> Profile:
    customer = get_customer(scope, customer_id)
    return Profile(
        customer=customer,
        identities=list(customer.identities.order_by("kind", "id")),
        relationships=list(customer.relationships.select_related("staff", "staff__store").order_by("added_at")),
        tags=[ct.tag for ct in customer.customer_tags.select_related("tag", "tag__group").order_by("tag__group__sort")],
        merges=list(CustomerMerge.objects.filter(survivor=customer).order_by("-created_at")),
    )


# ---------------------------------------------------------------------------------------------------------------
# Merge: what a merge of two customers would keep, and what makes it refuse

# Identities one person has exactly one of (per corp or app, where the kind is per corp or app): two customers with
# different values of one of these are two people, and a merge of them is refused unless forced.
STRONG_IDENTITY_KINDS = (
    IdentityKind.UNIONID,
    IdentityKind.WECOM_EXTERNAL_USERID,
    IdentityKind.OA_OPENID,
    IdentityKind.MINIPROGRAM_OPENID,
)
# unionid is one per person across the brand's WeChat apps whatever the app; the others are one per corp or appid.
_PER_ACCOUNT_KINDS = frozenset(STRONG_IDENTITY_KINDS) - {IdentityKind.UNIONID}
EXCLUSIVE_TAG_RULE = (
    "In a mutually exclusive tag group the survivor's tag wins; the absorbed customer's tag of that group is dropped. "
    "When the survivor has no tag of the group, the absorbed customer's tag is kept."
)
PROFILE_RULE = (
    "The survivor's profile fields are kept; a blank one (unknown gender included) is filled from the absorbed "
    "customer; the earlier creation time is kept."
)


@dataclass(frozen=True)
class MergeConflict:
    kind: str
    account: str
    survivor_values: tuple[str, ...]
    absorbed_values: tuple[str, ...]

    @property
    def kind_label(self) -> str:
        return str(dict(IdentityKind.choices).get(self.kind, self.kind))


def merge_conflicts(survivor_id: int, absorbed_id: int) -> list[MergeConflict]:
    """The strong identity kinds (per corp or app) on which the two customers carry different values."""
    rows = Identity.objects.filter(
        customer_id__in=[survivor_id, absorbed_id], kind__in=STRONG_IDENTITY_KINDS
    ).values_list("customer_id", "kind", "account", "value")
    sides: dict[tuple[str, str], dict[int, set[str]]] = {}
    for customer_id, kind, account, value in rows:
        key = (kind, account if kind in _PER_ACCOUNT_KINDS else "")
        sides.setdefault(key, {}).setdefault(customer_id, set()).add(value)
    conflicts = []
    for (kind, account), values in sorted(sides.items()):
        mine, theirs = values.get(survivor_id, set()), values.get(absorbed_id, set())
        if mine and theirs and mine != theirs:
            conflicts.append(MergeConflict(kind, account, tuple(sorted(mine)), tuple(sorted(theirs))))
    return conflicts


@dataclass(frozen=True)
class KeptField:
    field: str
    value: Any
    source: str  # survivor | absorbed


_FILLED_WHEN_BLANK = ("name", "phone", "birthday", "region", "home_store_id")


def merged_profile(survivor: Customer, absorbed: Customer) -> list[KeptField]:
    """The survivor's profile after a merge, field by field, with where each value comes from (PROFILE_RULE)."""
    kept = []
    for name in _FILLED_WHEN_BLANK:
        mine, theirs = getattr(survivor, name), getattr(absorbed, name)
        kept.append(KeptField(name, theirs, "absorbed") if not mine and theirs else KeptField(name, mine, "survivor"))
    if survivor.gender == Gender.UNKNOWN and absorbed.gender != Gender.UNKNOWN:
        kept.append(KeptField("gender", absorbed.gender, "absorbed"))
    else:
        kept.append(KeptField("gender", survivor.gender, "survivor"))
    if absorbed.created_at < survivor.created_at:
        kept.append(KeptField("created_at", absorbed.created_at, "absorbed"))
    else:
        kept.append(KeptField("created_at", survivor.created_at, "survivor"))
    return kept


def losing_exclusive_tags(survivor_id: int, absorbed_id: int) -> QuerySet[CustomerTag]:
    """The absorbed customer's tags that a merge drops (EXCLUSIVE_TAG_RULE): of an exclusive group in which the
    survivor carries another tag."""
    held = CustomerTag.objects.filter(customer_id=survivor_id, tag__group__exclusive=True)
    return CustomerTag.objects.filter(
        customer_id=absorbed_id, tag__group_id__in=held.values("tag__group_id")
    ).exclude(tag_id__in=held.values("tag_id"))


MergeCount = Callable[[int], int]
_MERGE_COUNTS: dict[str, MergeCount] = {}


def register_merge_count(name: str, count: MergeCount) -> None:
    """Apps whose rows follow a merged customer (orders, coupons) say how many each side has, for the preview."""
    _MERGE_COUNTS[name] = count


@dataclass(frozen=True)
class MergeSide:
    customer: Customer
    identities: list[Identity]
    tags: list[Tag]
    relationships: list[Relationship]
    counts: dict[str, int]


@dataclass(frozen=True)
class MergePreview:
    survivor: MergeSide
    absorbed: MergeSide
    conflicts: list[MergeConflict]
    profile: list[KeptField]
    tags_kept: list[Tag]
    tags_dropped: list[Tag]
    exclusive_tag_rule: str = EXCLUSIVE_TAG_RULE
    profile_rule: str = PROFILE_RULE

    @property
    def mergeable(self) -> bool:
        """Without force: no conflicting strong identity."""
        return not self.conflicts


def _merge_side(customer: Customer) -> MergeSide:
    counts = {"events": Event.objects.filter(customer=customer).count()}
    counts.update({name: count(customer.pk) for name, count in sorted(_MERGE_COUNTS.items())})
    return MergeSide(
        customer=customer,
        identities=list(customer.identities.order_by("kind", "id")),
        tags=[ct.tag for ct in customer.customer_tags.select_related("tag", "tag__group").order_by(
            "tag__group__sort", "tag__group_id", "tag__sort", "tag_id")],
        relationships=list(customer.relationships.select_related("staff", "staff__store").order_by("added_at")),
        counts=counts,
    )


def merge_preview(scope: Scope, survivor_id: int, absorbed_id: int) -> MergePreview:
    """What merging `absorbed_id` into `survivor_id` would do, side by side; writes nothing. Both customers must be
    in the scope, and only managers and HQ merge."""
    if not scope.is_manager:
        raise PermissionDenied(_("only HQ and managers may merge customers"))
    survivor = get_customer(scope, survivor_id)
    try:
        absorbed = get_customer(scope, absorbed_id)
    except NotFound as exc:
        exc.field = "other"
        raise
    if survivor.pk == absorbed.pk:
        raise ValidationFailed(_("cannot merge a customer into itself"), field="other",
                               code="merge_customer_into_itself")
    mine, theirs = _merge_side(survivor), _merge_side(absorbed)
    dropped_ids = set(losing_exclusive_tags(survivor.pk, absorbed.pk).values_list("tag_id", flat=True))
    kept = {t.pk: t for t in mine.tags}
    kept.update({t.pk: t for t in theirs.tags if t.pk not in dropped_ids and t.pk not in kept})
    return MergePreview(
        survivor=mine,
        absorbed=theirs,
        conflicts=merge_conflicts(survivor.pk, absorbed.pk),
        profile=merged_profile(survivor, absorbed),
        tags_kept=list(kept.values()),
        tags_dropped=[t for t in theirs.tags if t.pk in dropped_ids],
    )


def timeline(scope: Scope, customer_id: int, *, page: int = 1, page_size: int = 50, name: str = "") -> Page[Event]:
    customer = get_customer(scope, customer_id)
    qs = Event.objects.filter(customer=customer).select_related("staff", "store")
    if name:
        qs = qs.filter(name=name)
    return paginate(qs.order_by("-occurred_at", "-id"), page=page, page_size=page_size)


@dataclass(frozen=True)
class Dashboard:
    total: int
    new_this_week: int
    active_relationships: int
    lost_this_week: int
    by_channel: list[tuple[str, int]]
    by_store: list[tuple[str, int]]
    new_by_day: list[tuple[str, int]]


def dashboard(scope: Scope, *, at: datetime | None = None) -> Dashboard:
    moment = at or timezone.now()
    since = week_start(moment)
    qs = customers(scope)
    rels = Relationship.objects.filter(customer__in=qs)
    per_day = (
        qs.filter(created_at__gte=moment - timedelta(days=30))
        .annotate(day=TruncDate("created_at", tzinfo=SHANGHAI))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    return Dashboard(
        total=qs.count(),
        new_this_week=qs.filter(created_at__gte=since).count(),
        active_relationships=rels.filter(status=RelationshipStatus.ACTIVE).count(),
        lost_this_week=rels.filter(
            status=RelationshipStatus.DELETED_BY_CUSTOMER, status_changed_at__gte=since
        ).count(),
        by_channel=[
            (row["created_source"], row["n"])
            for row in qs.values("created_source").annotate(n=Count("id")).order_by("-n")
        ],
        by_store=[
            (row["home_store__name"] or "—", row["n"])
            for row in qs.values("home_store__name").annotate(n=Count("id")).order_by("-n")[:20]
        ],
        new_by_day=[(row["day"].isoformat(), row["n"]) for row in per_day],
    )


def tag_library(scope: Scope) -> list[TagGroup]:
    """Tag groups with their tags, each tag annotated with how many visible customers carry it."""
    visible = customers(scope)
    counted = Tag.objects.annotate(
        customer_count=Count("customer_tags", filter=Q(customer_tags__customer__in=visible))
    ).order_by("sort", "id")
    return list(
        TagGroup.objects.filter(enterprise_id=scope.enterprise_id)
        .prefetch_related(Prefetch("tags", queryset=counted))
        .order_by("sort", "id")
    )


def get_tag_group(scope: Scope, group_id: int) -> TagGroup:
    found = TagGroup.objects.filter(enterprise_id=scope.enterprise_id, pk=group_id).first()
    if found is None:
        raise NotFound(_("tag group %(group_id)s not found") % {"group_id": group_id}, field="group_id")
    return found


def tags(scope: Scope) -> QuerySet[Tag]:
    return Tag.objects.filter(group__enterprise_id=scope.enterprise_id).select_related("group").order_by(
        "group__sort", "group_id", "sort", "id"
    )
