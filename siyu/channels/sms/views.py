"""The provider-facing callback endpoint and the console page of SMS messages (/channels/sms/)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from siyu.channels.sms import queries, services
from siyu.core.pagination import page_param, paginate
from siyu.org.scope import scope_for_user


@csrf_exempt
@require_POST
def callback(request: HttpRequest) -> HttpResponse:
    """Delivery receipts and replies from the SMS provider. A body over the limit is 413 before it is read."""
    try:
        declared = int(str(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        declared = 0
    if declared > services.MAX_BODY_BYTES:
        return JsonResponse({"code": "too_large", "reason": "body over the limit"}, status=413)
    result = services.receive_callback(headers=services.headers_from(request.META), body=request.body)
    return JsonResponse(result.body, status=result.status)


@login_required
@require_GET
def messages(request: HttpRequest) -> HttpResponse:
    scope = scope_for_user(request.user)
    status = request.GET.get("status", "")
    page = paginate(queries.messages(scope, status=status), page=page_param(request.GET.get("page")))
    rows = queries.rows(scope, page.items)
    context = {"page": page, "rows": rows, "counts": queries.status_counts(scope),
               "status_choices": queries.STATUS_CHOICES, "status_filter": status,
               "replies": list(queries.replies(scope)[:20])}
    return render(request, "sms/messages.html", context)
