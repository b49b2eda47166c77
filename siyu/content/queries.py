"""Read paths over the content library. The library is enterprise-wide: every staff role reads all of its
enterprise's (live) materials and scripts; only HQ edits (services.require_editor)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Sum, Value, When, Window
from django.db.models.functions import ExtractHour, RowNumber
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.audiences import queries as audience_queries
from siyu.content.models import (
    ContentUse,
    Folder,
    Material,
    MaterialKind,
    MomentPlan,
    MomentPost,
    MomentReaction,
    PersonaType,
    ReactionKind,
    Scenario,
    Script,
    StaffPersona,
    Stage,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    UseKind,
)
from siyu.content.variables import VARIABLES
from siyu.core.errors import NotFound
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import SHANGHAI
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

# The choices forms and schemas validate against (they may not import models).
MaterialKinds = MaterialKind
Scenarios = Scenario
Stages = Stage
UseKinds = UseKind


def can_edit(scope: Scope) -> bool:
    return scope.is_hq


def folders(scope: Scope) -> QuerySet[Folder]:
    return Folder.objects.filter(enterprise_id=scope.enterprise_id).annotate(
        material_count=Count("materials", filter=Q(materials__archived=False)))


def materials(scope: Scope) -> QuerySet[Material]:
    return Material.objects.filter(enterprise_id=scope.enterprise_id, archived=False)


@dataclass(frozen=True)
class MaterialFilter:
    q: str = ""
    kind: str = ""
    folder_id: int | None = None
    stage: str = ""
    scenario: str = ""
    product_id: int | None = None


def _with_usage(qs: QuerySet[Material]) -> QuerySet[Material]:
    return qs.annotate(
        sent=Count("uses", filter=Q(uses__kind=UseKind.SENT)),
        clicked=Count("uses", filter=Q(uses__kind=UseKind.CLICKED)),
        converted=Count("uses", filter=Q(uses__kind=UseKind.CONVERTED)),
    )


def search_materials(scope: Scope, flt: MaterialFilter, *, page: int = 1, page_size: int = 20) -> Page[Material]:
    """Live materials, newest first, with `sent`, `clicked` and `converted` counts annotated."""
    qs = materials(scope)
    text = flt.q.strip()
    if text:
        qs = qs.filter(Q(title__icontains=text) | Q(text__icontains=text))
    if flt.kind:
        qs = qs.filter(kind=flt.kind)
    if flt.folder_id:
        qs = qs.filter(folder_id=flt.folder_id)
    if flt.stage:
        qs = qs.filter(stage=flt.stage)
    if flt.scenario:
        qs = qs.filter(scenario=flt.scenario)
    if flt.product_id:
        qs = qs.filter(product_id=flt.product_id)
    qs = _with_usage(qs.select_related("folder", "product")).order_by("-id")
    return paginate(qs, page=page, page_size=page_size)


def get_material(scope: Scope, material_id: int) -> Material:
    found = _with_usage(materials(scope).select_related("folder", "product")).filter(pk=material_id).first()
    if found is None:
        raise NotFound(_("material %(material_id)s not found") % {"material_id": material_id}, field="material_id")
    return found


def material_choices(scope: Scope) -> list[tuple[int, str]]:
    return [(m.pk, f"{m.get_kind_display()} · {m.title}") for m in materials(scope).order_by("-id")[:500]]


def folder_choices(scope: Scope) -> list[tuple[int, str]]:
    return list(Folder.objects.filter(enterprise_id=scope.enterprise_id).order_by("name").values_list("id", "name"))


# ---------------------------------------------------------------------------------------------------------------
# Scripts


def scripts(scope: Scope) -> QuerySet[Script]:
    return Script.objects.filter(enterprise_id=scope.enterprise_id, archived=False)


@dataclass(frozen=True)
class ScriptFilter:
    q: str = ""
    scenario: str = ""
    stage: str = ""


def _script_filter(qs: QuerySet[Script], flt: ScriptFilter) -> QuerySet[Script]:
    for word in flt.q.split()[:5]:
        qs = qs.filter(Q(title__icontains=word) | Q(body__icontains=word))
    if flt.scenario:
        qs = qs.filter(scenario=flt.scenario)
    if flt.stage:
        qs = qs.filter(stage=flt.stage)
    return qs


def search_scripts(scope: Scope, flt: ScriptFilter, *, page: int = 1, page_size: int = 20) -> Page[Script]:
    qs = _script_filter(scripts(scope), flt).select_related("material", "product").annotate(
        sent=Count("uses", filter=Q(uses__kind=UseKind.SENT)))
    return paginate(qs.order_by("scenario", "title", "id"), page=page, page_size=page_size)


def quick_replies(scope: Scope, q: str, *, limit: int = 20) -> list[Script]:
    """Scripts for the sidebar's quick-reply search: every word of `q` in the title or the text; titles that match
    first, then the most sent."""
    qs = _script_filter(scripts(scope), ScriptFilter(q=q)).select_related("material", "product")
    first_word = (q.split() or [""])[0]
    qs = qs.annotate(sent=Count("uses", filter=Q(uses__kind=UseKind.SENT)),
                     in_title=Count("id", filter=Q(title__icontains=first_word)))
    return list(qs.order_by("-in_title", "-sent", "title", "id")[:limit])


def get_script(scope: Scope, script_id: int) -> Script:
    found = scripts(scope).select_related("material", "product").filter(pk=script_id).first()
    if found is None:
        raise NotFound(_("script %(script_id)s not found") % {"script_id": script_id}, field="script_id")
    return found


def scripts_by_scenario(scope: Scope) -> list[tuple[str, list[Script]]]:
    grouped: dict[str, list[Script]] = {}
    for script in scripts(scope).select_related("material").order_by("scenario", "title", "id")[:500]:
        grouped.setdefault(script.get_scenario_display(), []).append(script)
    return list(grouped.items())


def use_count(scope: Scope, *, material_id: int | None = None, script_id: int | None = None,
              kind: str = UseKind.SENT) -> int:
    qs = ContentUse.objects.filter(enterprise_id=scope.enterprise_id, kind=kind)
    if material_id is not None:
        qs = qs.filter(material_id=material_id)
    if script_id is not None:
        qs = qs.filter(script_id=script_id)
    return qs.count()


def visible_customer(scope: Scope, customer_id: int) -> int:
    """The id, once the customer is known to be in the scope (NotFound otherwise)."""
    return int(customer_queries.get_customer(scope, customer_id).pk)


def script_values(scope: Scope, script: Script, *, customer_id: int | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, str | None]:
    """The variables' values for one staff member talking to one customer (who must be in their scope): the
    customer's name, the staff member's name and store (else the customer's home store), the script's product; the
    coupon (and anything else) only from `extra`, what the staff member typed."""
    values: dict[str, str | None] = dict.fromkeys(VARIABLES)
    if scope.staff_id is not None:
        me = org_queries.get_staff(scope, scope.staff_id)
        values["staff_name"] = me.name
        values["store"] = me.store.name if me.store_id and me.store else None
    if customer_id is not None:
        customer = customer_queries.get_customer(scope, customer_id)
        values["customer_name"] = customer.name
        if not values["store"] and customer.home_store is not None:
            values["store"] = customer.home_store.name
    if script.product is not None:
        values["product"] = script.product.name
    for name, value in (extra or {}).items():
        if name in values and value and value.strip():
            values[name] = value.strip()[:64]
    return values


# ---------------------------------------------------------------------------------------------------------------
# Best sending hour

# What a customer's history says about when they pay attention: a paid order weighs most, a reply (a message they
# sent) next, a click (a page or product view) least. Hours are Asia/Shanghai clock hours.
ENGAGEMENT_WEIGHTS = {"order_paid": 3, "message_received": 2, "page_viewed": 1, "product_viewed": 1}
BEST_HOUR_WINDOW_DAYS = 90


def _ranked_hours(scope: Scope, customer_ids: Iterable[int] | QuerySet[Any, int] | None,
                  at: datetime | None) -> QuerySet[Any]:
    since = (at or timezone.now()) - timedelta(days=BEST_HOUR_WINDOW_DAYS)
    visible = customer_queries.customers(scope).values("id")
    events = customer_queries.engagement_events(scope.enterprise_id, names=list(ENGAGEMENT_WEIGHTS), since=since)
    events = events.filter(customer_id__in=visible)
    if customer_ids is not None:
        events = events.filter(customer_id__in=customer_ids)
    weight = Case(*[When(name=name, then=Value(w)) for name, w in ENGAGEMENT_WEIGHTS.items()],
                  output_field=IntegerField())
    return (events.annotate(hour=ExtractHour("occurred_at", tzinfo=SHANGHAI))
            .values("customer_id", "hour").annotate(score=Sum(weight))
            .annotate(rank=Window(RowNumber(), partition_by=[F("customer_id")],
                                  order_by=[F("score").desc(), F("hour").asc()]))
            .filter(rank=1))


def best_sending_hours(scope: Scope, customer_ids: Iterable[int] | QuerySet[Any, int] | None = None,
                       *, at: datetime | None = None) -> dict[int, int]:
    """customer id -> the Shanghai hour (0-23) with the most weighted engagement in the last 90 days (ties: the
    earlier hour), for the customers in the scope (all of them, or those named). One grouped query with a window
    ranking; customers without history are absent (a campaign then uses its own default hour)."""
    ranked = _ranked_hours(scope, customer_ids, at)
    return {row["customer_id"]: row["hour"] for row in ranked.values("customer_id", "hour")}


@dataclass(frozen=True)
class HourSpread:
    """How a group of customers' best hours spread over the day: what a campaign (a mass send, a journey step)
    reads to pick its sending time."""

    customers: list[int]  # 24 counts, index = Shanghai hour
    without_history: int
    total: int

    @property
    def busiest_hour(self) -> int | None:
        top = max(self.customers)
        return self.customers.index(top) if top else None


def best_hour_spread(scope: Scope, customer_ids: QuerySet[Any, Any], *, at: datetime | None = None) -> HourSpread:
    """The 24-hour spread of best sending hours over a set of customers (a segment's members, a campaign's
    audience), counted in the database: the per-customer ranking is grouped by hour in one statement."""
    ranked = _ranked_hours(scope, customer_ids, at)
    sql, params = ranked.values("customer_id", "hour").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ranked.hour, COUNT(*) FROM ({sql}) ranked GROUP BY ranked.hour",  # noqa: S608
                       params)
        rows = cursor.fetchall()
    hours = [0] * 24
    for hour, count in rows:
        hours[int(hour)] = int(count)
    total = customer_queries.customers(scope).filter(pk__in=customer_ids).count()
    return HourSpread(customers=hours, without_history=max(0, total - sum(hours)), total=total)


def segment_best_hours(scope: Scope, segment_id: int, *, at: datetime | None = None) -> HourSpread:
    """best_hour_spread over a segment's current members that the viewer may see."""
    segment = audience_queries.get_segment(scope, segment_id)
    members = audience_queries.segment_customers(scope, segment).values("id")
    return best_hour_spread(scope, members, at=at)


# ---------------------------------------------------------------------------------------------------------------
# Moments calendar


def moment_plans(scope: Scope) -> QuerySet[MomentPlan]:
    """The plans this scope sees: all for HQ; HQ-wide ones and their stores' for everyone else."""
    qs = MomentPlan.objects.filter(enterprise_id=scope.enterprise_id).select_related("store", "moment_task")
    if not scope.is_hq:
        qs = qs.filter(Q(store__isnull=True) | Q(store_id__in=org_queries.stores(scope).values("id")))
    return qs


def get_moment_plan(scope: Scope, plan_id: int) -> MomentPlan:
    found = moment_plans(scope).filter(pk=plan_id).first()
    if found is None:
        raise NotFound(_("no planned moment %(plan_id)s") % {"plan_id": plan_id}, field="plan_id")
    return found


def moment_calendar(scope: Scope, *, start: date, days: int = 14) -> list[tuple[date, list[MomentPlan]]]:
    """Each Shanghai day from `start` with its planned moments (a store's plans are seen by that store's staff and
    managers, HQ-wide plans by everyone), with the moment task (its status) loaded."""
    first = datetime.combine(start, time.min, tzinfo=SHANGHAI)
    qs = MomentPlan.objects.filter(enterprise_id=scope.enterprise_id, planned_at__gte=first,
                                   planned_at__lt=first + timedelta(days=days)).select_related("store", "moment_task")
    if not scope.is_hq:
        stores = org_queries.stores(scope).values("id")
        qs = qs.filter(Q(store__isnull=True) | Q(store_id__in=stores))
    by_day: dict[date, list[MomentPlan]] = {start + timedelta(days=n): [] for n in range(days)}
    for plan in qs.order_by("planned_at", "id"):
        by_day.setdefault(plan.planned_at.astimezone(SHANGHAI).date(), []).append(plan)
    return list(by_day.items())


def moment_attachments(scope: Scope, plan: MomentPlan) -> list[Material]:
    """The plan's attached materials in their order (a material archived since is still shown, marked)."""
    found = {m.pk: m for m in Material.objects.filter(enterprise_id=scope.enterprise_id, pk__in=plan.attachments)}
    return [found[pk] for pk in plan.attachments if pk in found]


def moment_material_choices(scope: Scope, *, limit: int = 200) -> list[tuple[int, str]]:
    """Live materials a moment can carry (images, posters, videos, links), newest first."""
    kinds = [MaterialKind.IMAGE, MaterialKind.POSTER, MaterialKind.VIDEO, MaterialKind.LINK]
    rows = materials(scope).filter(kind__in=kinds).values_list("id", "kind", "title")[:limit]
    labels = dict(MaterialKind.choices)
    return [(pk, f"{labels[kind]} · {title}") for pk, kind, title in rows]


@dataclass(frozen=True)
class StaffEngagement:
    userid: str
    staff_name: str
    published: bool
    comments: int
    likes: int


@dataclass(frozen=True)
class PlanEngagement:
    rows: list[StaffEngagement]
    posted: int
    comments: int
    likes: int
    read_at: datetime | None


def moment_engagement(scope: Scope, plan_id: int) -> PlanEngagement:
    """Per member asked to post the plan's moment: posted or not, comments and likes on their copy, as WeCom last
    reported them (the periodic read). Counted in one GROUP BY; a manager sees their team's rows, staff their own."""
    plan = get_moment_plan(scope, plan_id)
    posts = MomentPost.objects.filter(plan_id=plan.pk).select_related("staff").order_by("-published", "userid")
    if not scope.is_hq:
        posts = posts.filter(staff_id__in=org_queries.visible_staff_ids(scope))
    counts: dict[str, tuple[int, int]] = {
        row["userid"]: (row["comments"], row["likes"])
        for row in MomentReaction.objects.filter(plan_id=plan.pk).values("userid").annotate(
            comments=Count("id", filter=Q(kind=ReactionKind.COMMENT)),
            likes=Count("id", filter=Q(kind=ReactionKind.LIKE)))
    }
    rows = [
        StaffEngagement(userid=post.userid, staff_name=post.staff.name if post.staff else post.userid,
                        published=post.published, comments=counts.get(post.userid, (0, 0))[0],
                        likes=counts.get(post.userid, (0, 0))[1])
        for post in posts
    ]
    return PlanEngagement(rows=rows, posted=sum(r.published for r in rows), comments=sum(r.comments for r in rows),
                          likes=sum(r.likes for r in rows), read_at=plan.engagement_at)


# ---------------------------------------------------------------------------------------------------------------
# UGC

SubmissionStatuses = SubmissionStatus


def submissions(scope: Scope, *, status: str = "", page: int = 1, page_size: int = 20) -> Page[Submission]:
    """Customers' submissions (for HQ's review), newest first; the submitter must be visible to the scope."""
    qs = Submission.objects.filter(enterprise_id=scope.enterprise_id,
                                   customer_id__in=customer_queries.customers(scope).values("id"))
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.select_related("customer", "product").order_by("-id"), page=page, page_size=page_size)


def my_submissions(*, enterprise_id: int, customer_id: int) -> list[Submission]:
    return list(Submission.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).order_by("-id")[:50])


def get_submission(scope: Scope, submission_id: int) -> Submission:
    found = Submission.objects.filter(enterprise_id=scope.enterprise_id, pk=submission_id,
                                      customer_id__in=customer_queries.customers(scope).values("id")).first()
    if found is None:
        raise NotFound(
            _("submission %(submission_id)s not found") % {"submission_id": submission_id},
            field="submission_id",
        )
    return found


# ---------------------------------------------------------------------------------------------------------------
# Staff personas

PersonaTypes = PersonaType
PERSONA_ITEMS = ("nickname", "avatar", "signature", "persona_type")
PERSONA_ITEM_LABELS = {"nickname": _("Nickname"), "avatar": _("Avatar"), "signature": _("Signature"),
                       "persona_type": _("Persona type")}


@dataclass(frozen=True)
class PersonaRow:
    staff: Any
    persona: StaffPersona | None

    @property
    def missing(self) -> list[str]:
        return [item for item in PERSONA_ITEMS if not getattr(self.persona, item, "")]

    @property
    def missing_labels(self) -> list[str]:
        """The missing items, by their translated names."""
        return [str(PERSONA_ITEM_LABELS[item]) for item in self.missing]

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class StoreChecklist:
    store: str
    staff: int
    complete: int
    # how many of the store's active staff lack each item: what HQ chases the store about
    no_nickname: int = 0
    no_avatar: int = 0
    no_signature: int = 0
    no_type: int = 0


def personas(scope: Scope) -> list[PersonaRow]:
    """Every active staff member in the scope with their persona (None: never set)."""
    team = list(org_queries.staff(scope).filter(is_active=True).order_by("store__code", "name", "id")[:1000])
    found = {p.staff_id: p for p in StaffPersona.objects.filter(enterprise_id=scope.enterprise_id,
                                                                 staff_id__in=[s.pk for s in team])}
    return [PersonaRow(staff=s, persona=found.get(s.pk)) for s in team]


def persona_checklist(scope: Scope) -> list[StoreChecklist]:
    """Per store (HQ and region staff under "—"): active staff and how many have a complete persona, counted in SQL."""
    mine = StaffPersona.objects.filter(staff_id=OuterRef("pk"))
    complete = mine.filter(nickname__gt="", avatar__gt="", signature__gt="", persona_type__gt="")
    has = {item: Exists(mine.filter(**{f"{item}__gt": ""})) for item in PERSONA_ITEMS}
    lacking = {f"no_{item}": Count("id", filter=Q(**{f"has_{item}": False})) for item in PERSONA_ITEMS}
    rows = (org_queries.staff(scope).filter(is_active=True)
            .annotate(ok=Exists(complete), **{f"has_{item}": test for item, test in has.items()})
            .values("store__name").annotate(n=Count("id"), done=Count("id", filter=Q(ok=True)), **lacking)
            .order_by("store__name"))
    found: list[dict[str, Any]] = [dict(r) for r in rows]
    return [StoreChecklist(store=r["store__name"] or "—", staff=r["n"], complete=r["done"],
                           no_nickname=r["no_nickname"], no_avatar=r["no_avatar"], no_signature=r["no_signature"],
                           no_type=r["no_persona_type"]) for r in found]


def persona_of(scope: Scope, staff_id: int) -> PersonaRow:
    staff = org_queries.get_staff(scope, staff_id)
    return PersonaRow(staff=staff, persona=StaffPersona.objects.filter(staff_id=staff.pk).first())


def mask_name(name: str) -> str:
    """A reviewer as other shoppers see them: the first character and two stars (张** ), never the full name."""
    name = (name or "").strip()
    return f"{name[0]}**" if name else "匿名用户"


def product_reviews(*, enterprise_id: int, product_id: int, limit: int = 10) -> dict[str, Any] | None:
    """The mall product page's reviews: approved review submissions about this product, newest first, with the
    reviewer's name masked (None when there are none)."""
    qs = Submission.objects.filter(enterprise_id=enterprise_id, product_id=product_id, kind=SubmissionKind.REVIEW,
                                   status=SubmissionStatus.APPROVED)
    rows = list(qs.select_related("customer").order_by("-reviewed_at", "-id")[:limit])
    if not rows:
        return None
    return {"review_count": qs.count(), "reviews": [
        {"who": mask_name(r.customer.name), "text": r.text, "at": r.reviewed_at}
        for r in rows]}
