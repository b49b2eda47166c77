"""Console forms. Choices come from scoped queries, so a form can only name what its user may see."""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from siyu.console.labels import RELATIONSHIP_LABELS
from siyu.console.pickers import PickerField
from siyu.core.http import client_ip
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries
from siyu.org import services as org_services
from siyu.org.scope import Scope

Choices = list[tuple[Any, Any]]


class RateLimitedSignIn(AuthenticationForm):
    """Sign-in that counts failures per username and per client address (in the database, so every process sees
    them) and refuses, even the right password, while either is over the limit; `retry_at` then says until when."""

    retry_at: datetime | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request) if self.request is not None else "0.0.0.0"  # noqa: S104
        self.retry_at = org_queries.login_retry_at(username=username, ip=ip)
        if self.retry_at is not None:
            raise forms.ValidationError(self.retry_message(), code="rate_limited")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            org_services.record_login_failure(username=username, ip=ip)
            raise
        org_services.clear_login_failures(username=username)
        return cleaned

    def retry_after_s(self) -> int:
        return max(1, math.ceil((self.retry_at - timezone.now()).total_seconds())) if self.retry_at else 0

    def retry_message(self) -> str:
        minutes = math.ceil(self.retry_after_s() / 60)
        return ngettext(
            "Too many failed sign-ins. Try again in %(minutes)d minute.",
            "Too many failed sign-ins. Try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}


class RateLimitedAdminSignIn(RateLimitedSignIn, AdminAuthenticationForm):
    """Django admin's sign-in under the same limit (one counter for both doors)."""


def tag_choices(scope: Scope, exclude: Collection[int] = ()) -> Choices:
    """Tags grouped by their tag group (rendered as <optgroup>s), leaving out `exclude`."""
    grouped: dict[str, list[tuple[int, str]]] = {}
    for tag in customer_queries.tags(scope).exclude(pk__in=list(exclude)):
        grouped.setdefault(tag.group.name, []).append((tag.pk, tag.name))
    return [(group, options) for group, options in grouped.items()]


def channel_choices() -> Choices:
    return list(customer_queries.Channels.choices)


class CustomerFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name, phone, tag or WeChat id")}),
    )
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    staff = forms.TypedChoiceField(label=_("Staff"), required=False, coerce=int, empty_value=None)
    tag = forms.TypedChoiceField(label=_("Tag"), required=False, coerce=int, empty_value=None)
    segment = forms.TypedChoiceField(label=_("Segment"), required=False, coerce=int, empty_value=None)
    channel = forms.ChoiceField(label=_("Source channel"), required=False)
    status = forms.ChoiceField(label=_("Relationship"), required=False)
    match = forms.ChoiceField(label=_("Customers with"), required=False, choices=(
        ("all", _("All of these tags")), ("any", _("Any of these tags"))))

    def __init__(self, scope: Scope, data: Any = None) -> None:
        super().__init__(data)
        self.fields["tags"] = PickerField(scope=scope, kind="tags", label=_("Tags"), required=False)
        stores: Choices = [(s.pk, s.name) for s in org_queries.stores(scope).order_by("code")]
        staff: Choices = [(s.pk, s.name) for s in org_queries.staff(scope).filter(is_active=True).order_by("name")]
        # A store member has one store and only themselves: those filters would offer nothing, so hide them.
        self.show_store = len(stores) > 1
        self.show_staff = len(staff) > 1
        self._set_choices("store", _("All stores"), stores)
        self._set_choices("staff", _("All staff"), staff)
        self._set_choices("tag", _("All tags"), tag_choices(scope))
        segments: Choices = list(customer_queries.segment_choices(scope))
        self.show_segment = bool(segments)
        self._set_choices("segment", _("All customers"), segments)
        self._set_choices("channel", _("All channels"), channel_choices())
        self._set_choices("status", _("Any"), [(code, label) for code, (label, _tone) in RELATIONSHIP_LABELS.items()])

    def _set_choices(self, name: str, blank: Any, choices: Choices) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", blank), *choices]

    def to_filter(self) -> customer_queries.CustomerFilter:
        """The filter from the valid fields; a field that does not validate (e.g. a store out of scope) is ignored."""
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        return customer_queries.CustomerFilter(
            q=data.get("q") or "",
            store_id=data.get("store"),
            staff_id=data.get("staff"),
            tag_id=data.get("tag"),
            channel=data.get("channel") or "",
            relationship_status=data.get("status") or "",
            tag_ids=tuple(data.get("tags") or ()),
            tag_match="any" if data.get("match") == "any" else "all",
            segment_id=data.get("segment"),
        )

    def active_count(self) -> int:
        """How many filters are set (shown on the mobile filter toggle)."""
        if not self.is_bound:
            return 0
        self.is_valid()
        return sum(1 for name, value in self.cleaned_data.items() if value not in ("", None, []) and name != "match")


class CustomerTagForm(forms.Form):
    ACTIONS = (("add", _("Add")), ("remove", _("Remove")))

    tag = forms.TypedChoiceField(label=_("Tag"), coerce=int)
    action = forms.ChoiceField(choices=ACTIONS, initial="add", widget=forms.HiddenInput)

    def __init__(self, scope: Scope, data: Any = None, *, exclude: Collection[int] = ()) -> None:
        super().__init__(data)
        field = self.fields["tag"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Choose a tag")), *tag_choices(scope, exclude)]


class TagGroupForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=64)
    exclusive = forms.BooleanField(
        label=_("Mutually exclusive"),
        required=False,
        help_text=_("A customer carries at most one tag of this group (e.g. a lifecycle stage)."),
    )


class TagForm(forms.Form):
    group = forms.TypedChoiceField(label=_("Tag group"), coerce=int)
    name = forms.CharField(label=_("Tag name"), max_length=64)

    def __init__(self, groups: Choices, data: Any = None, *, initial: dict[str, Any] | None = None) -> None:
        super().__init__(data, initial=initial)
        field = self.fields["group"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Choose a group")), *groups]


class AuditFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Who, target id or summary")}),
    )
    action = forms.ChoiceField(label=_("Action"), required=False)
    target_type = forms.ChoiceField(label=_("Object type"), required=False)
    target_id = forms.CharField(
        label=_("Object id"), required=False, max_length=64,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. an order id"), "inputmode": "numeric"}),
    )

    def __init__(self, data: Any = None, *, actions: Choices | None = None,
                 target_types: Choices | None = None) -> None:
        super().__init__(data)
        for name, choices, everything in (("action", actions or [], _("Every action")),
                                          ("target_type", target_types or [], _("Every object type"))):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", everything), *choices]


class ApiTokenForm(forms.Form):
    """A new API token for one of the enterprise's active staff members (it acts with that member's scope). The member
    defaults to the caller; each choice names the member's role and where they work, since the role is what the
    token may do."""

    staff = forms.TypedChoiceField(
        label=_("Acts as (staff member)"), coerce=int,
        help_text=_("The token sees and changes what this staff member may: their role decides its scope."),
    )
    name = forms.CharField(
        label=_("Token name"), max_length=120,
        help_text=_("What uses the token, so you know which one to revoke later, e.g. \"ERP order sync\""),
        widget=forms.TextInput(attrs={"placeholder": _("e.g. ERP order sync")}),
    )

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = (
            org_queries.staff(scope).filter(is_active=True).select_related("store", "region").order_by("name", "id")
        )
        field = self.fields["staff"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(member.pk, staff_choice_label(member)) for member in staff]
        if scope.staff_id is not None and not self.is_bound:
            self.initial.setdefault("staff", scope.staff_id)


def staff_choice_label(member: Any) -> str:
    """"王芳 · Store staff · 北京海淀店": the member, their role, and their store or region (nothing for HQ)."""
    parts = [member.name, str(member.get_role_display())]
    where = member.store.name if member.store_id else (member.region.name if member.region_id else "")
    if where:
        parts.append(where)
    return " · ".join(parts)


class TagLibraryItemForm(forms.Form):
    """One tag or tag group of the library, named by its id, as its delete button posts it."""

    id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class TagLibraryRenameForm(TagLibraryItemForm):
    name = forms.CharField(label=_("New name"), max_length=64)


class MergeForm(forms.Form):
    """Merge `other` into the customer of the page. `force` is HQ's, for customers carrying conflicting identities."""

    other = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    force = forms.BooleanField(
        label=_("Merge anyway: I have checked they are one person"), required=False
    )
    force_reason = forms.CharField(
        label=_("Why they are one person"), required=False, max_length=255,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. the same member re-registered with a new phone")}),
    )


class BulkTagForm(forms.Form):
    """Tag or untag the selected customers (`ids`) or every customer the list's filter (`query`) matches."""

    TARGETS = (("selected", _("The selected customers")), ("all", _("All customers matching the filter")))
    ACTIONS = (("add", _("Add tag")), ("remove", _("Remove tag")))

    target = forms.ChoiceField(label=_("Apply to"), choices=TARGETS, initial="selected", widget=forms.RadioSelect)
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS, initial="add")
    ids = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, scope: Scope, data: Any = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["tag"] = PickerField(scope=scope, kind="tags", multiple=False, label=_("Tag"))

    def clean_ids(self) -> list[int]:
        raw = self.cleaned_data.get("ids") or []
        try:
            return list(dict.fromkeys(int(value) for value in raw))
        except (TypeError, ValueError):
            raise forms.ValidationError(_("Choose from the list."), code="invalid") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("target") == "selected" and not cleaned.get("ids"):
            raise forms.ValidationError(_("Select customers in the list first, or apply to all matching the filter."))
        return cleaned
