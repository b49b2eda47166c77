"""Read paths over customers. Every function takes a Scope: what a role may see is decided here and only here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from siyu.core.errors import NotFound
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


def search(scope: Scope, flt: CustomerFilter, *, page: int = 1, page_size: int = 20) -> Page[Customer]:
    return paginate(filtered_customers(scope, flt), page=page, page_size=page_size)


def filtered_customers(scope: Scope, flt: CustomerFilter) -> QuerySet[Customer]:
    """The visible customers matching a filter, newest first, with home store and tags loaded (list and export)."""
    qs = customers(scope)
    text = flt.q.strip()
    if text:
        matches_identity = Identity.objects.filter(customer_id=OuterRef("pk"), value=text)
        qs = qs.filter(
            Q(name__icontains=text)
            | Q(phone__startswith=text)
            | Exists(matches_identity)
            | Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag__name=text))
        )
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
    if flt.channel:
        qs = qs.filter(created_source=flt.channel)
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
            raise NotFound(f"customer {customer_id} was merged into {merged}", field="customer_id", code="merged")
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    return found


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
        raise NotFound(f"tag group {group_id} not found", field="group_id")
    return found


def tags(scope: Scope) -> QuerySet[Tag]:
    return Tag.objects.filter(group__enterprise_id=scope.enterprise_id).select_related("group").order_by(
        "group__sort", "group_id", "sort", "id"
    )
