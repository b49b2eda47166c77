"""Console forms for WeCom: the shape of the input only; the services check everything else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.channels.wecom import queries
from siyu.channels.wecom.queries import ASSIGN_MODES, MASS_SEND_KINDS, TRANSFER_KINDS
from siyu.console import pickers
from siyu.console.once import OnceForm
from siyu.console.pickers import PickerField
from siyu.core.forms import set_choices
from siyu.org.scope import Scope


class CodeForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    assign_mode = forms.ChoiceField(label=_("Assignment"), choices=ASSIGN_MODES)
    daily_cap = forms.IntegerField(label=_("Daily cap per staff member"), min_value=1, required=False)
    state = forms.CharField(label=_("State (source)"), max_length=30, required=False,
                            help_text=_("Letters, digits, _ or -; left empty, one is made up"))
    welcome_text = forms.CharField(label=_("Welcome text"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                   help_text=_("{name} is replaced by the customer's WeCom name"))
    attachment = forms.ChoiceField(label=_("Attachment"), required=False, choices=[
        ("", _("None")), ("image", _("Image")), ("link", _("Link")), ("miniprogram", _("Mini-program card"))])
    att_title = forms.CharField(label=_("Title"), required=False, max_length=64)
    att_url = forms.CharField(label=_("URL / picture URL"), required=False, max_length=500)
    att_appid = forms.CharField(label=_("Mini-program appid"), required=False, max_length=64)
    att_page = forms.CharField(label=_("Mini-program page"), required=False, max_length=200)

    # Staff, store and tags are searchable pickers (a chain has thousands of each), placed after the name.
    field_order = ["form_key", "account", "name", "staff", "store", "assign_mode", "daily_cap", "tags"]

    def __init__(self, *args: Any, scope: Scope, accounts: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", accounts)
        self.fields["staff"] = PickerField(scope=scope, kind="wecom_staff", label=_("Staff"), required=False)
        self.fields["store"] = PickerField(scope=scope, kind="stores", multiple=False, label=_("Store"),
                                           required=False, help_text=_("Optional: the store the code belongs to"))
        self.fields["tags"] = PickerField(scope=scope, kind="tags", label=_("Auto tags"), required=False)
        self.order_fields(self.field_order)

    def attachments(self) -> list[dict[str, Any]]:
        kind = self.cleaned_data.get("attachment") or ""
        title, url = self.cleaned_data.get("att_title", ""), self.cleaned_data.get("att_url", "")
        if kind == "image":
            return [{"msgtype": "image", "image": {"pic_url": url}}]
        if kind == "link":
            return [{"msgtype": "link", "link": {"title": title, "url": url}}]
        if kind == "miniprogram":
            page, appid = self.cleaned_data.get("att_page", ""), self.cleaned_data.get("att_appid", "")
            return [{"msgtype": "miniprogram", "miniprogram": {"title": title, "appid": appid, "page": page}}]
        return []


class TransferForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    kind = forms.ChoiceField(label=_("Kind"), choices=TRANSFER_KINDS)
    handover = forms.TypedChoiceField(label=_("From staff member"), coerce=int)
    takeover = forms.TypedChoiceField(label=_("To successor"), coerce=int)
    message = forms.CharField(label=_("Message to customers"), max_length=200, required=False)

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", choices["accounts"])
        set_choices(self, "handover", choices.get("handover", choices["staff"]))
        set_choices(self, "takeover", choices["staff"])


class MassSendForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64, required=False)
    kind = forms.ChoiceField(label=_("Send to"), choices=MASS_SEND_KINDS)
    senders = forms.TypedMultipleChoiceField(label=_("Senders"), coerce=int, widget=forms.CheckboxSelectMultiple,
                                             help_text=_("Each sender confirms the message in WeCom"))
    customers = forms.CharField(label=_("Customer ids"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                help_text=_("Separated by commas or spaces; only the senders' active customers get it"))
    tags = forms.TypedMultipleChoiceField(label=_("Customers with any of these tags"), coerce=int, required=False,
                                          widget=forms.CheckboxSelectMultiple)
    groups = forms.TypedMultipleChoiceField(
        label=_("Customer groups"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("For group sends; none picked means all of the senders' groups"))
    text = forms.CharField(label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    attachment = forms.ChoiceField(label=_("Attachment"), required=False, choices=[
        ("", _("None")), ("image", _("Image")), ("link", _("Link")), ("miniprogram", _("Mini-program card"))])
    att_title = forms.CharField(label=_("Title"), required=False, max_length=64)
    att_url = forms.CharField(label=_("URL / picture URL"), required=False, max_length=500)
    att_appid = forms.CharField(label=_("Mini-program appid"), required=False, max_length=64)
    att_page = forms.CharField(label=_("Mini-program page"), required=False, max_length=200)
    submit_now = forms.BooleanField(label=_("Submit to WeCom now"), required=False)

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", choices["accounts"])
        set_choices(self, "senders", choices["staff"])
        set_choices(self, "tags", choices["tags"])
        set_choices(self, "groups", choices["groups"])

    def clean_customers(self) -> list[int]:
        raw = self.cleaned_data.get("customers") or ""
        parts = [p for p in raw.replace(",", " ").replace("，", " ").split() if p]
        if any(not p.isdigit() for p in parts):
            raise forms.ValidationError(_("Customer ids are numbers."))
        return [int(p) for p in parts]

    def attachments(self) -> list[dict[str, Any]]:
        return _welcome_style_attachment(self.cleaned_data)


def _welcome_style_attachment(data: dict[str, Any]) -> list[dict[str, Any]]:
    kind = data.get("attachment") or ""
    title, url = data.get("att_title", ""), data.get("att_url", "")
    if kind == "image":
        return [{"msgtype": "image", "image": {"pic_url": url}}]
    if kind == "link":
        return [{"msgtype": "link", "link": {"title": title, "url": url}}]
    if kind == "miniprogram":
        page, appid = data.get("att_page", ""), data.get("att_appid", "")
        return [{"msgtype": "miniprogram", "miniprogram": {"title": title, "appid": appid, "page": page}}]
    return []


class MomentForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    text = forms.CharField(label=_("Text"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))
    staff = forms.TypedMultipleChoiceField(label=_("Staff who publish it"), coerce=int, required=False,
                                           widget=forms.CheckboxSelectMultiple,
                                           help_text=_("None picked means every member (HQ only)"))
    tags = forms.TypedMultipleChoiceField(label=_("Visible to customers with these tags"), coerce=int,
                                          required=False, widget=forms.CheckboxSelectMultiple)
    attachment = forms.ChoiceField(label=_("Attachment"), required=False, choices=[
        ("", _("None")), ("image", _("Image")), ("video", _("Video")), ("link", _("Link"))])
    att_media_id = forms.CharField(label=_("media_id (image, video or link cover)"), required=False, max_length=128)
    att_title = forms.CharField(label=_("Title"), required=False, max_length=64)
    att_url = forms.CharField(label=_("Link URL"), required=False, max_length=500)
    submit_now = forms.BooleanField(label=_("Submit to WeCom now"), required=False)

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", choices["accounts"])
        set_choices(self, "staff", choices["staff"])
        set_choices(self, "tags", choices["tags"])

    def attachments(self) -> list[dict[str, Any]]:
        kind = self.cleaned_data.get("attachment") or ""
        media_id = self.cleaned_data.get("att_media_id", "")
        if kind in ("image", "video"):
            return [{"msgtype": kind, kind: {"media_id": media_id}}]
        if kind == "link":
            title, url = self.cleaned_data.get("att_title", ""), self.cleaned_data.get("att_url", "")
            return [{"msgtype": "link", "link": {"title": title, "url": url, "media_id": media_id}}]
        return []


class GroupCodeForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    groups = forms.TypedMultipleChoiceField(label=_("Groups, in order"), coerce=int,
                                            widget=forms.CheckboxSelectMultiple,
                                            help_text=_("Joiners go to the first group that is not full"))
    cap = forms.IntegerField(label=_("Members per group"), min_value=0, max_value=100000, required=False,
                             help_text=_("At most 200, WeCom's limit for joining by QR; empty means 200"))
    store = forms.TypedChoiceField(label=_("Store"), coerce=int, required=False, empty_value=None)
    state = forms.CharField(label=_("State (source)"), max_length=30, required=False,
                            help_text=_("Letters, digits, _ or -; left empty, one is made up"))

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", choices["accounts"])
        set_choices(self, "groups", choices["groups"])
        set_choices(self, "store", [("", _("No store"))] + choices["stores"])


class GroupCodeGroupsForm(forms.Form):
    groups = forms.TypedMultipleChoiceField(label=_("Add groups"), coerce=int, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "groups", choices)


class GroupTransferForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    handover = forms.TypedChoiceField(label=_("Resigned owner"), coerce=int)
    takeover = forms.TypedChoiceField(label=_("New owner"), coerce=int)

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", choices["accounts"])
        set_choices(self, "handover", choices.get("handover", choices["staff"]))
        set_choices(self, "takeover", choices["staff"])


# A route leads to a group code: the picker lists the codes the acting staff may see that are not disabled.
pickers.register("wecom_group_codes", pickers.Source(
    rows=queries.routable_group_codes,
    search=lambda text: Q(name__icontains=text) | Q(state__icontains=text),
    label=lambda code: f"{code.name} · {code.state}",
    placeholder=_("Search group codes by name or state"),
))


class RouteForm(forms.Form):
    """One route: customers with the tag (and/or of the store) go to the group code; neither makes it the fallback."""

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group_code"] = PickerField(scope=scope, kind="wecom_group_codes", multiple=False,
                                                label=_("Group code"), required=False)
        self.fields["tag"] = PickerField(scope=scope, kind="tags", multiple=False, label=_("Customers with tag"),
                                         required=False)
        self.fields["store"] = PickerField(scope=scope, kind="stores", multiple=False, label=_("Customers of store"),
                                           required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("tag") or data.get("store")) and not data.get("group_code"):
            self.add_error("group_code", _("Pick the group code this route leads to."))
        return data


class BaseRouteFormSet(forms.BaseFormSet):
    def routes(self) -> list[tuple[int, dict[str, Any]]]:
        """(row index, cleaned data) of the filled rows, in order (rows left blank are skipped)."""
        return [(i, f.cleaned_data) for i, f in enumerate(self.forms)
                if f.cleaned_data and f.cleaned_data.get("group_code")]


RouteFormSet = forms.formset_factory(RouteForm, formset=BaseRouteFormSet, extra=2, max_num=50, validate_max=True)


class KeywordGroupForm(OnceForm):
    oa_account = forms.TypedChoiceField(label=_("Official Account"), coerce=int)
    keyword = forms.CharField(label=_("Keyword"), max_length=64,
                              help_text=_("A follower who sends exactly this word gets the invitation"))
    reply_text = forms.CharField(label=_("Reply"), max_length=500, required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text=_("Must contain {link}; empty uses the default reply"))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, oa_accounts: list[tuple[Any, str]], editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "oa_account", oa_accounts)
        if editing:  # the account a keyword answers on is fixed once created
            del self.fields["oa_account"]
        else:
            del self.fields["is_active"]


class TagGroupForm(OnceForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    match = forms.ChoiceField(label=_("Customers with"), choices=[("all", _("all of the tags")),
                                                                 ("any", _("any of the tags"))])
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64, required=False)
    text = forms.CharField(label=_("Invitation text"), max_length=1000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("{group} is replaced by the group code's name; the join link is attached"))

    segment = forms.TypedChoiceField(label=_("Or a segment"), required=False, coerce=int, empty_value=None,
                                     help_text=_("Its members now, instead of tags"))

    field_order = ["form_key", "account", "group_code", "tags", "match", "segment", "name", "text"]

    def __init__(self, *args: Any, scope: Scope, accounts: list[tuple[Any, str]],
                 segments: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", accounts)
        set_choices(self, "segment", [("", "—"), *segments])
        self.fields["group_code"] = PickerField(scope=scope, kind="wecom_group_codes", multiple=False,
                                                label=_("Invite into group code"))
        self.fields["tags"] = PickerField(scope=scope, kind="tags", label=_("Tags"), required=False)
        self.order_fields(self.field_order)


# ---------------------------------------------------------------------------------------------------------------
# Group welcome templates and group analytics


class GroupWelcomeForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    text = forms.CharField(label=_("Welcome text"), required=False, max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 4}),
                           help_text=_("%NICKNAME% is replaced by the joiner's nickname; at most 3000 bytes"))
    attachment = forms.ChoiceField(label=_("Attachment"), required=False, choices=[
        ("", _("None")), ("material", _("From the material library")), ("image", _("Image")), ("link", _("Link")),
        ("miniprogram", _("Mini-program card"))])
    material = forms.TypedChoiceField(label=_("Material"), required=False, coerce=int, empty_value=None,
                                      help_text=_("An image, poster, link or mini-program card of the library"))
    att_title = forms.CharField(label=_("Title"), required=False, max_length=128)
    att_url = forms.CharField(label=_("Link / picture URL"), required=False, max_length=500)
    att_picurl = forms.CharField(label=_("Link cover picture URL"), required=False, max_length=500)
    att_desc = forms.CharField(label=_("Link description"), required=False, max_length=512)
    att_media_id = forms.CharField(label=_("WeCom media id (image, or the mini-program card's cover)"),
                                   required=False, max_length=128)
    att_appid = forms.CharField(label=_("Mini-program appid"), required=False, max_length=64)
    att_page = forms.CharField(label=_("Mini-program page"), required=False, max_length=255)

    # The service's field names (attachment.<kind>.<key>) and the form field that shows each refusal.
    ERROR_FIELDS = {
        "name": "name", "text": "text", "attachment": "attachment", "attachment.msgtype": "attachment",
        "attachment.image": "att_url", "attachment.image.pic_url": "att_url",
        "attachment.image.media_id": "att_media_id", "attachment.link.title": "att_title",
        "attachment.link.url": "att_url", "attachment.link.picurl": "att_picurl", "attachment.link.desc": "att_desc",
        "attachment.miniprogram.title": "att_title", "attachment.miniprogram.pic_media_id": "att_media_id",
        "attachment.miniprogram.appid": "att_appid", "attachment.miniprogram.page": "att_page",
        "account_id": "account", "material_id": "material",
    }

    def __init__(self, *args: Any, materials: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "material", [("", "—"), *materials])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("attachment") == "material" and not data.get("material"):
            self.add_error("material", _("Pick a material."))
        return data

    def material_id(self) -> int | None:
        return self.cleaned_data.get("material") if self.cleaned_data.get("attachment") == "material" else None

    def attachment_value(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        kind = data.get("attachment") or ""
        if kind == "image":
            return {"msgtype": "image", "image": {"pic_url": data.get("att_url", ""),
                                                  "media_id": data.get("att_media_id", "")}}
        if kind == "link":
            return {"msgtype": "link", "link": {"title": data.get("att_title", ""), "url": data.get("att_url", ""),
                                                "picurl": data.get("att_picurl", ""), "desc": data.get("att_desc", "")}}
        if kind == "miniprogram":
            return {"msgtype": "miniprogram", "miniprogram": {
                "title": data.get("att_title", ""), "pic_media_id": data.get("att_media_id", ""),
                "appid": data.get("att_appid", ""), "page": data.get("att_page", "")}}
        return None

    @staticmethod
    def initial_of(welcome: Any) -> dict[str, Any]:
        kind = str((welcome.attachment or {}).get("msgtype", ""))
        body = (welcome.attachment or {}).get(kind, {}) if kind else {}
        return {"name": welcome.name, "text": welcome.text, "attachment": kind,
                "att_title": body.get("title", ""), "att_url": body.get("url", body.get("pic_url", "")),
                "att_picurl": body.get("picurl", ""), "att_desc": body.get("desc", ""),
                "att_media_id": body.get("media_id", body.get("pic_media_id", "")),
                "att_appid": body.get("appid", ""), "att_page": body.get("page", "")}


class GroupWelcomeNewForm(OnceForm, GroupWelcomeForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)
    notify = forms.BooleanField(label=_("Tell the group owners in WeCom"), required=False, initial=True)

    field_order = ["form_key", "account", "name", "text"]

    def __init__(self, *args: Any, accounts: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", accounts)
        self.order_fields(self.field_order)


class WelcomeBindForm(forms.Form):
    welcome = forms.TypedChoiceField(label=_("Welcome template"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "welcome", [("", _("None")), *choices])


class GroupAnalyticsForm(forms.Form):
    by = forms.ChoiceField(label=_("By"), required=False, choices=list(queries.ANALYTICS_BY.items()))
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class GroupTagsForm(forms.Form):
    tags = forms.TypedMultipleChoiceField(label=_("Group tags"), coerce=int, required=False,
                                          widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "tags", choices)


class CodeMemberForm(forms.Form):
    """One member of a channel code: who, a backup or not, a daily cap, work hours (empty: always on duty)."""

    is_backup = forms.BooleanField(label=_("Backup"), required=False,
                                   help_text=_("Gets customers only when no other member is on duty and under cap"))
    daily_cap = forms.IntegerField(label=_("Daily cap"), min_value=1, max_value=10000, required=False)
    shifts = forms.CharField(label=_("Work hours"), required=False, max_length=500,
                             help_text=_("Weekdays 1 (Mon) to 7 (Sun) and hours, e.g. "
                                         "1-5 09:00-18:00; 6,7 10:00-14:00"))

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"] = PickerField(scope=scope, kind="wecom_staff", multiple=False, label=_("Staff member"),
                                           required=False)
        self.order_fields(["staff", "is_backup", "daily_cap", "shifts"])


class BaseCodeMemberFormSet(forms.BaseFormSet):
    def members(self) -> list[tuple[int, dict[str, Any]]]:
        return [(i, f.cleaned_data) for i, f in enumerate(self.forms) if f.cleaned_data and f.cleaned_data.get("staff")]


CodeMemberFormSet = forms.formset_factory(CodeMemberForm, formset=BaseCodeMemberFormSet, extra=2, max_num=100,
                                          validate_max=True)


class CodeControlsForm(forms.Form):
    auto_accept = forms.CharField(
        label=_("Auto-accept hours"), required=False, max_length=500,
        help_text=_("Inside these hours customers are added without the staff member's confirmation; empty keeps "
                    "the code's setting all day. E.g. 1-5 09:00-21:00"))
    no_welcome_nicknames = forms.CharField(
        label=_("No welcome for these nicknames"), required=False, max_length=13000,
        widget=forms.Textarea(attrs={"rows": 3}), help_text=_("One WeChat nickname per line (competitors' probes)"))


class GroupScheduleForm(forms.Form):
    """One group of a group code: its own cap (empty: the code's) and the hours it takes joiners (empty: always).
    The bounds are the service's, so a refusal carries its code."""

    group = forms.IntegerField(widget=forms.HiddenInput)
    cap = forms.IntegerField(label=_("Members per group"), required=False, min_value=0, max_value=100000,
                             help_text=_("Empty: the code's cap"))
    hours = forms.CharField(label=_("Takes joiners"), required=False, max_length=500,
                            help_text=_("Weekdays 1 (Mon) to 7 (Sun) and hours, e.g. 1-5 09:00-18:00; empty: always"))


GroupScheduleFormSet = forms.formset_factory(GroupScheduleForm, extra=0, max_num=50, validate_max=True)


# ---------------------------------------------------------------------------------------------------------------
# Group SOP


WEEKDAYS = [(1, _("Mon")), (2, _("Tue")), (3, _("Wed")), (4, _("Thu")), (5, _("Fri")), (6, _("Sat")), (7, _("Sun"))]


class GroupSopForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    group_tag = forms.TypedChoiceField(label=_("Groups tagged"), coerce=int, required=False, empty_value=None)
    group_code = forms.TypedChoiceField(label=_("Or the groups of group code"), coerce=int, required=False,
                                        empty_value=None)
    text = forms.CharField(label=_("Message"), max_length=4000, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))
    materials = forms.TypedMultipleChoiceField(label=_("Materials"), coerce=int, required=False,
                                               help_text=_("Images, posters, links or mini-program cards, at most 9"))
    send_messages = forms.BooleanField(label=_("Send to the groups (the owners confirm in WeCom)"), required=False,
                                       initial=True)
    remind_owners = forms.BooleanField(label=_("Remind the group owners by an app message"), required=False,
                                       initial=True)
    repeat = forms.ChoiceField(label=_("Repeat"), choices=[("once", _("Once")), ("daily", _("Every day")),
                                                            ("weekly", _("Every week"))])
    weekdays = forms.TypedMultipleChoiceField(label=_("On"), coerce=int, required=False, choices=WEEKDAYS,
                                              widget=forms.CheckboxSelectMultiple)
    time_of_day = forms.TimeField(label=_("At (Beijing time)"), widget=forms.TimeInput(attrs={"type": "time"}))
    start_date = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text=_("The day of a one-off message"))
    end_date = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    ERROR_FIELDS = {"name": "name", "group_tag_id": "group_tag", "group_code_id": "group_code", "text": "text",
                    "attachments": "materials", "material_ids": "materials", "send_messages": "send_messages",
                    "repeat": "repeat", "weekdays": "weekdays", "start_date": "start_date", "end_date": "end_date",
                    "account_id": "account"}

    def __init__(self, *args: Any, group_tags: Sequence[tuple[int, str]], group_codes: Sequence[tuple[int, str]],
                 materials: Sequence[tuple[int, str]], editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "group_tag", [("", "—"), *group_tags])
        set_choices(self, "group_code", [("", "—"), *group_codes])
        set_choices(self, "materials", list(materials))
        if editing:  # the group set and the app are fixed once created
            del self.fields["group_tag"], self.fields["group_code"]
        else:
            del self.fields["is_active"]


class GroupSopNewForm(OnceForm, GroupSopForm):
    account = forms.TypedChoiceField(label=_("WeCom app"), coerce=int)

    field_order = ["form_key", "account", "name"]

    def __init__(self, *args: Any, accounts: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", accounts)
        self.order_fields(self.field_order)
