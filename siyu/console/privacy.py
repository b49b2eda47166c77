"""The customer's personal data page in the console (PIPL): consent per channel with its history and a form to record
a paper or phone consent, the data export (JSON and PDF), and erasure (HQ, typed confirmation, a reason)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, PermissionDenied
from siyu.customers import consent, personal_data, personal_pdf
from siyu.customers import queries as customer_queries


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=consent.CHANNEL_CHOICES)
    granted = forms.TypedChoiceField(
        label=gettext_lazy("Decision"), coerce=lambda v: v == "1",
        choices=[("1", gettext_lazy("Granted")), ("0", gettext_lazy("Withdrawn"))],
    )
    method = forms.ChoiceField(label=gettext_lazy("How it was given"), choices=consent.METHOD_CHOICES)
    text = forms.CharField(label=gettext_lazy("The text the customer agreed to"), required=False, max_length=500,
                           widget=forms.Textarea(attrs={"rows": 3}))
    text_version = forms.CharField(label=gettext_lazy("Text version"), required=False, max_length=32)


class EraseForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (e.g. the request's reference)"), max_length=255)
    confirm = forms.IntegerField(label=gettext_lazy("Type the customer's id to confirm"))


def _page(request: HttpRequest, customer_id: int, *, consent_form: ConsentForm | None = None,
          erase_form: EraseForm | None = None, status: int = 200) -> HttpResponse:
    scope = scope_of(request)
    customer = customer_queries.get_customer(scope, customer_id)
    states = [
        {"state": s, "label": consent.CHANNEL_LABELS.get(s.channel, s.channel),
         "method": consent.METHOD_LABELS.get(s.method, s.method)}
        for s in consent.states(customer.pk)
    ]
    history = [
        {"row": row, "channel": consent.CHANNEL_LABELS.get(row.channel, row.channel),
         "method": consent.METHOD_LABELS.get(row.method, row.method)}
        for row in consent.history(customer.pk)[:200]
    ]
    context = {
        "customer": customer, "scope": scope, "states": states, "history": history,
        "consent_form": consent_form or ConsentForm(), "erase_form": erase_form or EraseForm(),
    }
    return render(request, "console/customer_privacy.html", context, status=status)


def _refused(request: HttpRequest, customer_id: int, form: forms.Form, exc: DomainError,
             **forms_shown: Any) -> HttpResponse:
    """A service's refusal shown beside its field (or above the form), the page answered with its status; a
    permission refusal stays the 403 page."""
    if isinstance(exc, PermissionDenied):
        raise exc
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return _page(request, customer_id, status=exc.status, **forms_shown)


@console_view
def customer_privacy(request: HttpRequest, customer_id: int) -> HttpResponse:
    return _page(request, customer_id)


@console_view
@require_POST
def customer_consent(request: HttpRequest, customer_id: int) -> HttpResponse:
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _page(request, customer_id, consent_form=form, status=422)
    data = form.cleaned_data
    try:
        consent.record(scope=scope_of(request), customer_id=customer_id, channel=data["channel"],
                       granted=data["granted"], method=data["method"], text=data["text"],
                       text_version=data["text_version"], actor=request.user)
    except DomainError as exc:
        return _refused(request, customer_id, form, exc, consent_form=form)
    messages.success(request, _("The consent was recorded."))
    return redirect("console:customer_privacy", customer_id=customer_id)


@console_view
def customer_personal_data(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The export as a download: PDF (`?format=pdf`, the default) or JSON. Every download is audited."""
    if not scope_of(request).is_manager:
        raise PermissionDenied(_("Only HQ and managers may export a customer's personal data."))
    fmt = request.GET.get("format", "pdf")
    data = personal_data.export(scope=scope_of(request), customer_id=customer_id, actor=request.user)
    if fmt == "json":
        response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2),
                                content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="customer-{customer_id}-personal-data.json"'
    else:
        response = HttpResponse(personal_pdf.render(data), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="customer-{customer_id}-personal-data.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@console_view
@require_POST
def customer_erase(request: HttpRequest, customer_id: int) -> HttpResponse:
    if not scope_of(request).is_hq:
        raise PermissionDenied(_("Only HQ may erase a customer's personal data."))
    form = EraseForm(request.POST)
    if not form.is_valid():
        return _page(request, customer_id, erase_form=form, status=422)
    try:
        personal_data.erase(scope=scope_of(request), customer_id=customer_id, reason=form.cleaned_data["reason"],
                            confirm=form.cleaned_data["confirm"], actor=request.user)
    except DomainError as exc:
        return _refused(request, customer_id, form, exc, erase_form=form)
    messages.success(request, _("The customer's personal data was erased."))
    return redirect("console:customer_privacy", customer_id=customer_id)
