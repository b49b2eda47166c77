"""Console forms for the content library. Field checks here are about shape; the services decide the rest and
their field errors are put back on the field they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.catalog import queries as catalog_queries
from siyu.console.once import OnceForm
from siyu.content import queries, services
from siyu.content.variables import VARIABLES
from siyu.core.errors import DomainError
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

STEP_LABELS = {"hook": _("Hook"), "value": _("Value"), "proof": _("Proof"), "cta": _("Call to action")}


def _choices(cls: Any, blank: str | None = None) -> list[tuple[str, str]]:
    rows = [(value, str(label)) for value, label in cls.choices if value]
    return [("", blank), *rows] if blank is not None else rows


def _set_choices(form: forms.Form, name: str, choices: Any) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def apply_error(form: forms.Form, exc: DomainError, aliases: dict[str, str] | None = None) -> None:
    name = (aliases or {}).get(exc.field or "", exc.field or "")
    form.add_error(name if name in form.fields else None, exc.message)


class MaterialFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    folder = forms.TypedChoiceField(label=_("Folder"), required=False, coerce=int, empty_value=None)
    stage = forms.ChoiceField(label=_("Lifecycle stage"), required=False)
    scenario = forms.ChoiceField(label=_("Scenario"), required=False)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "kind", _choices(queries.MaterialKinds, str(_("All kinds"))))
        _set_choices(self, "folder", [("", str(_("All folders"))), *queries.folder_choices(scope)])
        _set_choices(self, "stage", _choices(queries.Stages, str(_("Any stage"))))
        _set_choices(self, "scenario", _choices(queries.Scenarios, str(_("All scenarios"))))

    def to_filter(self) -> queries.MaterialFilter:
        if not self.is_valid():
            return queries.MaterialFilter()
        data = self.cleaned_data
        return queries.MaterialFilter(q=data["q"], kind=data["kind"], folder_id=data["folder"], stage=data["stage"],
                                      scenario=data["scenario"])


class MaterialForm(OnceForm):
    kind = forms.ChoiceField(label=_("Kind"))
    title = forms.CharField(label=_("Title"), max_length=120)
    text = forms.CharField(label=_("Text or description"), required=False, max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 4}))
    file = forms.FileField(label=_("File"), required=False,
                           help_text=_("Images and posters up to 10 MB (JPEG, PNG, GIF, WebP), videos up to 10 MB "
                                       "(MP4), files up to 20 MB (PDF, Word, Excel, PowerPoint); a link's or card's "
                                       "cover up to 2 MB. Checked by content, not by name."))
    url = forms.CharField(label=_("Link"), required=False, max_length=500)
    mp_appid = forms.CharField(label=_("Mini-program appid"), required=False, max_length=64)
    mp_page = forms.CharField(label=_("Mini-program page"), required=False, max_length=255)
    folder = forms.TypedChoiceField(label=_("Folder"), required=False, coerce=int, empty_value=None)
    stage = forms.ChoiceField(label=_("Lifecycle stage"), required=False)
    scenario = forms.ChoiceField(label=_("Scenario"), required=False)
    product = forms.TypedChoiceField(label=_("Product"), required=False, coerce=int, empty_value=None)

    def __init__(self, scope: Scope, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "kind", _choices(queries.MaterialKinds))
        _set_choices(self, "folder", [("", "—"), *queries.folder_choices(scope)])
        _set_choices(self, "stage", _choices(queries.Stages, str(_("Any stage"))))
        _set_choices(self, "scenario", _choices(queries.Scenarios, "—"))
        products = catalog_queries.products(scope).order_by("name").values_list("id", "name")[:500]
        _set_choices(self, "product", [("", "—"), *products])
        if editing:
            self.fields["kind"].disabled = True
            self.fields["kind"].required = False
            del self.fields["file"]

    def material_input(self, kind: str | None = None) -> services.MaterialInput:
        data = self.cleaned_data
        return services.MaterialInput(
            kind=kind or data["kind"], title=data["title"], text=data["text"], url=data["url"],
            mp_appid=data["mp_appid"], mp_page=data["mp_page"], folder_id=data["folder"], stage=data["stage"],
            scenario=data["scenario"], product_id=data["product"])


class FolderForm(forms.Form):
    name = forms.CharField(label=_("New folder"), max_length=64)


class ScriptFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    scenario = forms.ChoiceField(label=_("Scenario"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "scenario", _choices(queries.Scenarios, str(_("All scenarios"))))

    def to_filter(self) -> queries.ScriptFilter:
        if not self.is_valid():
            return queries.ScriptFilter()
        return queries.ScriptFilter(q=self.cleaned_data["q"], scenario=self.cleaned_data["scenario"])


class ScriptForm(OnceForm):
    title = forms.CharField(label=_("Title"), max_length=120)
    scenario = forms.ChoiceField(label=_("Scenario"))
    hook = forms.CharField(label=STEP_LABELS["hook"], required=False, max_length=1000,
                           widget=forms.Textarea(attrs={"rows": 2}))
    value = forms.CharField(label=STEP_LABELS["value"], required=False, max_length=1000,
                            widget=forms.Textarea(attrs={"rows": 2}))
    proof = forms.CharField(label=STEP_LABELS["proof"], required=False, max_length=1000,
                            widget=forms.Textarea(attrs={"rows": 2}))
    cta = forms.CharField(label=STEP_LABELS["cta"], required=False, max_length=1000,
                          widget=forms.Textarea(attrs={"rows": 2}))
    material = forms.TypedChoiceField(label=_("Attached material"), required=False, coerce=int, empty_value=None)
    stage = forms.ChoiceField(label=_("Lifecycle stage"), required=False)
    product = forms.TypedChoiceField(label=_("Product"), required=False, coerce=int, empty_value=None)
    fallback_customer_name = forms.CharField(label=_("When the customer's name is unknown, say"), required=False,
                                             max_length=64)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "scenario", _choices(queries.Scenarios))
        _set_choices(self, "material", [("", "—"), *queries.material_choices(scope)])
        _set_choices(self, "stage", _choices(queries.Stages, str(_("Any stage"))))
        products = catalog_queries.products(scope).order_by("name").values_list("id", "name")[:500]
        _set_choices(self, "product", [("", "—"), *products])

    def script_input(self) -> services.ScriptInput:
        data = self.cleaned_data
        fallbacks = {"customer_name": data["fallback_customer_name"]} if data["fallback_customer_name"] else {}
        return services.ScriptInput(
            title=data["title"], scenario=data["scenario"],
            steps=[services.StepInput(step=name, text=data[name]) for name in services.STEP_KINDS],
            fallbacks=fallbacks, material_id=data["material"], stage=data["stage"], product_id=data["product"])


def script_initial(script: Any) -> dict[str, Any]:
    initial: dict[str, Any] = {"title": script.title, "scenario": script.scenario, "material": script.material_id,
                               "stage": script.stage, "product": script.product_id,
                               "fallback_customer_name": script.fallbacks.get("customer_name", "")}
    for step in script.steps:
        initial[step["step"]] = (initial.get(step["step"], "") + "\n" + step["text"]).strip()
    return initial


def variable_names() -> list[str]:
    return ["{" + name + "}" for name in VARIABLES]


class MomentPlanForm(OnceForm):
    planned_at = forms.DateTimeField(label=_("Publish at"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    text = forms.CharField(label=_("Text"), max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    attachments = forms.TypedMultipleChoiceField(
        label=_("Attachments"), required=False, coerce=int,
        help_text=_("Up to 9 images or posters, or one video, or one link with a cover."),
        widget=forms.SelectMultiple(attrs={"size": 6}))

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stores = org_queries.stores(scope).order_by("code").values_list("id", "name")
        _set_choices(self, "store", [("", str(_("Every member (HQ-wide)"))), *stores])
        _set_choices(self, "attachments", queries.moment_material_choices(scope))


class PersonaForm(forms.Form):
    nickname = forms.CharField(label=_("Nickname"), max_length=32, required=False)
    signature = forms.CharField(label=_("Signature"), max_length=60, required=False)
    persona_type = forms.ChoiceField(label=_("Persona type"), required=False)
    avatar = forms.FileField(label=_("Avatar"), required=False, help_text=_("An image up to 2 MB."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "persona_type", _choices(queries.PersonaTypes, "—"))
