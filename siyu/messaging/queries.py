"""Campaign reads, always scoped: HQ sees every campaign of the enterprise, a region or store role the campaigns of
the stores it sees (HQ's own campaigns are HQ's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext_lazy as _

from siyu.core import significance
from siyu.core.errors import NotFound
from siyu.core.pagination import Page, paginate
from siyu.messaging.models import Campaign, ContactPolicy, Delivery, DeliveryStatus, DoNotDisturb
from siyu.orders.models import Order
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

SENT = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.CONFIRMED]


def campaigns(scope: Scope) -> QuerySet[Campaign]:
    qs = Campaign.objects.filter(enterprise_id=scope.enterprise_id, journey_version_id__isnull=True)
    if scope.is_hq:
        return qs
    mine = Q(owner_staff_id=scope.staff_id) if scope.staff_id else Q(pk__in=[])
    return qs.filter(Q(owner_store_id__in=org_queries.stores(scope).values("pk")) | mine)


def get_campaign(scope: Scope, campaign_id: int) -> Campaign:
    found = campaigns(scope).filter(pk=campaign_id).first()
    if found is None:
        raise NotFound(_("campaign not found"), field="id")
    return found


def campaign_page(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[Campaign]:
    return paginate(campaigns(scope).order_by("-created_at", "-id"), page=page, page_size=page_size)


def progress(scope: Scope, campaign_id: int) -> dict[str, int]:
    """Deliveries by status now (the live progress)."""
    campaign = get_campaign(scope, campaign_id)
    rows = Delivery.objects.filter(campaign=campaign).values("status").annotate(n=Count("id"))
    out = dict.fromkeys(DeliveryStatus.values, 0)
    for row in rows:
        out[row["status"]] = row["n"]
    return out


@dataclass(frozen=True)
class VariantResult:
    variant: str  # "" is the holdout group
    recipients: int
    conversions: int
    revenue_fen: int
    revenue_sq: float = 0.0  # the sum over recipients of (revenue in fen) squared: Welch's t-test needs it


def variant_results(scope: Scope, campaign_id: int) -> list[VariantResult]:
    """Per variant (and the holdout): recipients, recipients who paid an order within the attribution window after
    their send (after the planned time, for the holdout, who were not sent anything), and that revenue. Set-based:
    one GROUP BY over the deliveries with two correlated subqueries over the buyer's orders."""
    campaign = get_campaign(scope, campaign_id)
    start = Coalesce(OuterRef("sent_at"), OuterRef("due_at"), output_field=DateTimeField())
    window = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__isnull=False, paid_at__gte=start,
                                  paid_at__lte=ExpressionWrapper(start + timedelta(days=campaign.attribution_days),
                                                                 output_field=DateTimeField()))
    paid = window.order_by().values("customer_id")
    rows = (Delivery.objects.filter(campaign=campaign).filter(
        Q(status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.CONFIRMED])
        | Q(status=DeliveryStatus.HOLDOUT))
        .annotate(
            orders=Coalesce(Subquery(paid.annotate(n=Count("id")).values("n")[:1]), 0, output_field=IntegerField()),
            revenue=Coalesce(Subquery(paid.annotate(s=Sum("amount_fen")).values("s")[:1]), 0,
                             output_field=IntegerField()))
        .values("variant")
        .annotate(recipients=Count("id"), converted=Count("id", filter=Q(orders__gt=0)), revenue_fen=Sum("revenue"),
                  revenue_sq=Sum(Cast("revenue", FloatField()) * Cast("revenue", FloatField())))
        .order_by("variant"))
    return [VariantResult(variant=r["variant"], recipients=r["recipients"], conversions=r["converted"],
                          revenue_fen=int(r["revenue_fen"] or 0), revenue_sq=float(r["revenue_sq"] or 0))
            for r in rows]


def ab_test_inputs(scope: Scope, campaign_id: int) -> dict[str, Any]:
    """What a significance test needs (the integrator wires siyu.core.significance over it): per group the
    recipients, conversions and revenue, and the pre-declared primary metric."""
    campaign = get_campaign(scope, campaign_id)
    groups = variant_results(scope, campaign_id)
    return {"primary_metric": campaign.primary_metric,
            "groups": [{"variant": g.variant or "holdout", "recipients": g.recipients,
                        "conversions": g.conversions, "revenue_fen": g.revenue_fen} for g in groups]}


@dataclass(frozen=True)
class SignificanceRow:
    variant: str
    against: str  # the control: the holdout when there is one, else the first variant
    recipients: int
    control_rate: float
    variant_rate: float
    lift: float  # absolute, variant rate - control rate
    z: float
    p_value: float  # two-sided, pooled two-proportion z-test
    significant: bool  # at alpha / k (Bonferroni over the k comparisons)


def significance_of(groups: list[VariantResult], *, alpha: float = significance.ALPHA) -> list[SignificanceRow]:
    """Conversion of each group against the control (the holdout, else the first variant): pooled two-proportion
    z-tests judged at alpha / k, from siyu.core.significance. Groups without recipients are left out."""
    live = [g for g in groups if g.recipients > 0]
    control = next((g for g in live if not g.variant), live[0] if live else None)
    if control is None:
        return []
    others = [g for g in live if g is not control]
    tests = significance.compare_variants(
        significance.Arm(control.conversions, control.recipients),
        [significance.Arm(g.conversions, g.recipients) for g in others], alpha=alpha)
    return [SignificanceRow(variant=g.variant or "holdout", against=control.variant or "holdout",
                            recipients=g.recipients, control_rate=t.control_rate, variant_rate=t.variant_rate,
                            lift=t.lift, z=t.z, p_value=t.p_value, significant=t.significant)
            for g, t in zip(others, tests, strict=True)]


def campaign_significance(scope: Scope, campaign_id: int) -> list[SignificanceRow]:
    return significance_of(variant_results(scope, campaign_id))


@dataclass(frozen=True)
class RevenueRow:
    variant: str
    against: str  # the holdout when there is one, else the first variant
    recipients: int
    control_mean_fen: float  # revenue per recipient
    variant_mean_fen: float
    difference_fen: float
    t: float
    df: float
    p_value: float  # two-sided Welch's t-test
    significant: bool  # at alpha / k


def revenue_significance_of(groups: list[VariantResult], *, alpha: float = significance.ALPHA) -> list[RevenueRow]:
    """Revenue per recipient of each group against the control, Welch's t-test from each arm's COUNT, SUM and SUM of
    squares (computed in SQL by variant_results); arms of fewer than two recipients are left out."""
    live = [g for g in groups if g.recipients >= 2]
    control = next((g for g in live if not g.variant), live[0] if live else None)
    if control is None:
        return []
    others = [g for g in live if g is not control]
    base = significance.RevenueArm(control.recipients, control.revenue_fen, control.revenue_sq)
    out = []
    for g in others:
        test = significance.welch_t(base, significance.RevenueArm(g.recipients, g.revenue_fen, g.revenue_sq),
                                    alpha=alpha / max(1, len(others)))
        out.append(RevenueRow(variant=g.variant or "holdout", against=control.variant or "holdout",
                              recipients=g.recipients, control_mean_fen=test.control_mean,
                              variant_mean_fen=test.variant_mean, difference_fen=test.difference, t=test.t,
                              df=test.df, p_value=test.p_value, significant=test.significant))
    return out


def campaign_revenue_significance(scope: Scope, campaign_id: int) -> list[RevenueRow]:
    return revenue_significance_of(variant_results(scope, campaign_id))


def attributed(scope: Scope, campaign_id: int) -> dict[str, dict[str, int]]:
    """Orders credited to the campaign, first-touch and last-touch: count and revenue."""
    from siyu.messaging.models import Conversion  # noqa: PLC0415

    campaign = get_campaign(scope, campaign_id)
    out = {"first": {"orders": 0, "revenue_fen": 0}, "last": {"orders": 0, "revenue_fen": 0}}
    for row in Conversion.objects.filter(campaign=campaign).values("touch").annotate(
            orders=Count("id"), revenue=Sum("revenue_fen")):
        out[row["touch"]] = {"orders": row["orders"], "revenue_fen": int(row["revenue"] or 0)}
    return out




@dataclass(frozen=True)
class ClickRow:
    variant: str
    channel: str
    recipients: int  # deliveries sent
    clicked: int  # of them, those who opened one of their links at least once
    clicks: int  # counted opens (at most one per link per links.CLICK_GAP_S)


def click_results(scope: Scope, campaign_id: int) -> list[ClickRow]:
    """Clicks on the campaign's tracked links per variant and channel: two GROUP BYs, whatever the audience."""
    from siyu.messaging.models import CampaignLink  # noqa: PLC0415

    campaign = get_campaign(scope, campaign_id)
    opened = CampaignLink.objects.filter(delivery_id=OuterRef("pk"), first_clicked_at__isnull=False)
    sent = (Delivery.objects.filter(campaign=campaign, status__in=SENT)
            .annotate(opened=Exists(opened)).values("variant", "channel")
            .annotate(recipients=Count("id"), clicked=Count("id", filter=Q(opened=True)))
            .order_by("variant", "channel"))
    counted = {(r["delivery__variant"], r["delivery__channel"]): int(r["n"] or 0) for r in
               CampaignLink.objects.filter(campaign=campaign).values("delivery__variant", "delivery__channel")
               .annotate(n=Sum("clicks"))}
    return [ClickRow(variant=r["variant"], channel=r["channel"], recipients=r["recipients"], clicked=r["clicked"],
                     clicks=counted.get((r["variant"], r["channel"]), 0)) for r in sent]


def send_rates(scope: Scope) -> dict[str, dict[str, int]]:
    """The enterprise's send rates a minute per channel: in force (its own or the platform's) and its own. HQ's."""
    from siyu.core.errors import PermissionDenied  # noqa: PLC0415
    from siyu.messaging.models import ContactPolicy, SendChannel  # noqa: PLC0415

    if not scope.is_hq:
        raise PermissionDenied(_("only HQ sets the send rates"), field="scope")
    policy = ContactPolicy.objects.filter(enterprise_id=scope.enterprise_id).first() or ContactPolicy()
    return {"rates": {c: policy.send_rate(c) for c in SendChannel.values},
            "custom": {str(k): int(v) for k, v in (policy.send_rates or {}).items()}}


def list_customer_ids(scope: Scope, lines: str, *, limit: int = 100_000) -> list[int]:
    """A pasted or uploaded list (phones or customer numbers, one a line) as the visible customers' ids, in order:
    two queries, whatever its length."""
    from siyu.customers import queries as customer_queries  # noqa: PLC0415

    words = [w.strip() for w in lines.replace(",", "\n").splitlines() if w.strip()][:limit]
    phones = [w for w in words if len(w) == 11 and w.isdigit()]
    numbers = [int(w) for w in words if w.isdigit() and len(w) < 11]
    visible = customer_queries.customers(scope)
    by_phone = dict(visible.filter(phone__in=phones).values_list("phone", "pk")) if phones else {}
    known = set(visible.filter(pk__in=numbers).values_list("pk", flat=True)) if numbers else set()
    out = [by_phone[w] if w in by_phone else int(w) for w in words
           if w in by_phone or (w.isdigit() and int(w) in known)]
    return list(dict.fromkeys(out))


def waterfall(campaign: Campaign) -> list[dict[str, Any]]:
    """The plan as waterfall steps: the audience, minus each exclusion reason, minus the holdout, then what goes by
    each channel (the chart and the table under it read the same rows)."""
    from siyu.messaging.models import ExclusionReason, SendChannel  # noqa: PLC0415

    plan = campaign.plan or {}
    steps: list[dict[str, Any]] = [{"key": "audience", "label": str(_("Audience")), "n": plan.get("audience", 0),
                                    "kind": "total"}]
    labels = dict(ExclusionReason.choices)
    for reason, n in sorted((plan.get("excluded") or {}).items(), key=lambda kv: -kv[1]):
        steps.append({"key": reason, "label": str(labels.get(reason, reason)), "n": n, "kind": "minus"})
    if plan.get("holdout"):
        steps.append({"key": "holdout", "label": str(_("Holdout")), "n": plan["holdout"], "kind": "minus"})
    channel_labels = dict(SendChannel.choices)
    for channel, n in (plan.get("channels") or {}).items():
        steps.append({"key": channel, "label": str(channel_labels.get(channel, channel)), "n": n, "kind": "send"})
    return steps


def contact_policy(scope: Scope) -> ContactPolicy:
    """The enterprise's contact budget (the defaults when none was saved)."""
    found = ContactPolicy.objects.filter(enterprise_id=scope.enterprise_id).first()
    return found or ContactPolicy(enterprise_id=scope.enterprise_id)


def do_not_disturb_page(scope: Scope, *, search: str = "", page: int = 1, page_size: int = 20) -> Page[DoNotDisturb]:
    """The do-not-disturb list, newest first, of the customers the viewer sees; `search` matches a name, a phone
    or a customer number."""
    from siyu.customers import queries as customer_queries  # noqa: PLC0415

    visible = customer_queries.customers(scope).values("pk")
    qs = DoNotDisturb.objects.filter(enterprise_id=scope.enterprise_id, customer_id__in=visible)
    word = search.strip()[:64]
    if word:
        match = Q(customer__name__icontains=word) | Q(customer__phone__startswith=word)
        if word.isdigit() and len(word) < 19:
            match |= Q(customer_id=int(word))
        qs = qs.filter(match)
    return paginate(qs.select_related("customer").order_by("-created_at", "-id"), page=page, page_size=page_size)


@dataclass(frozen=True)
class SampleSize:
    """Before launch: the recipients each arm of the A/B test needs to detect the declared lift over the declared
    baseline (two-sided, alpha 5 %, power 80 %), against the arms the plan made; `short` names the arms below it."""

    baseline: float
    mde: float
    per_arm: int
    arms: dict[str, int]
    short: list[str]


def sample_size(scope: Scope, campaign: Campaign) -> SampleSize | None:
    """None when the campaign tests nothing (one variant and no holdout)."""
    if len(campaign.variants or []) < 2 and not campaign.holdout_pct:
        return None
    get_campaign(scope, campaign.pk)
    baseline, mde = campaign.baseline_bp / 10_000, campaign.mde_bp / 10_000
    per_arm = significance.sample_size_per_arm(baseline, mde)
    arms = {str(v["name"]): 0 for v in campaign.variants} or {"A": 0}
    if campaign.holdout_pct:
        arms["holdout"] = 0
    rows = (Delivery.objects.filter(campaign=campaign)
            .exclude(status__in=[DeliveryStatus.EXCLUDED, DeliveryStatus.CANCELLED])
            .values("variant", "holdout").annotate(n=Count("id")))
    for row in rows:
        name = "holdout" if row["holdout"] else row["variant"]
        if name in arms:
            arms[name] = row["n"]
    short = [name for name, n in arms.items() if n < per_arm] if campaign.plan else []
    return SampleSize(baseline=baseline, mde=mde, per_arm=per_arm, arms=arms, short=short)
