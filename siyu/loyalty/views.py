"""Console: the customer profile's points section (balance, lots, history) and its redeem / adjust forms.

The forms post here; the service checks scope (and HQ for adjustments), writes the audit row, and a domain error
becomes a message on the profile, never a 500. Each form carries a fresh key, so a double submit redeems once.
"""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.loyalty import queries, services
from siyu.org.scope import Scope

HISTORY_ROWS = 20


def profile_points(request: HttpRequest, scope: Scope, customer_id: int) -> SafeString | str:
    summary = queries.points_summary(scope, customer_id, limit=HISTORY_ROWS)
    context = {"points": summary, "tier": queries.tier_status(scope, customer_id, limit=5),
               "customer_id": customer_id, "can_adjust": scope.is_hq,
               "form_key": secrets.token_hex(12)}
    return render_to_string("loyalty/_profile_points.html", context, request=request)


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _points_action(request: HttpRequest, customer_id: int, *, adjusting: bool) -> HttpResponse:
    scope = scope_of(request)
    queries.require_customer(scope, customer_id)  # the gates first: a customer out of scope is a 404
    if adjusting and not scope.is_hq:
        raise PermissionDenied(_("only HQ may adjust points"))
    points = _int(request.POST.get("points", ""))
    reason = request.POST.get("reason", "")[:200]
    key = f"console:{request.user.pk}:{request.POST.get('key', '')[:40]}"
    try:
        if points is None:
            messages.error(request, _("Enter a whole number of points."))
        elif adjusting:
            services.adjust(scope=scope, customer_id=customer_id, points=points, reason=reason, key=key,
                            actor=request.user)
            messages.success(request, _("Points adjusted."))
        else:
            services.redeem(scope=scope, customer_id=customer_id, points=points, reason=reason, key=key,
                            actor=request.user)
            messages.success(request, _("Points redeemed."))
    except DomainError as exc:
        if isinstance(exc, GateError):
            raise
        messages.error(request, exc.message)
    return redirect(reverse("console:customer", args=[customer_id]) + "#points")


@console_view
@require_POST
def redeem(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Anyone who can see the customer redeems their points (a gift handed over at the counter, say)."""
    return _points_action(request, customer_id, adjusting=False)


@console_view
@require_POST
def adjust(request: HttpRequest, customer_id: int) -> HttpResponse:
    """HQ adds or removes points with a reason (audited)."""
    return _points_action(request, customer_id, adjusting=True)
