"""Console forms that create something outside Siyu (a channel code, a mass send, a moment, an inheritance) create it
once: the form carries a key made when it was shown, and a second submit of the same form (a double click, the
browser's resend after a lost answer) is answered with what the first one created (siyu.core.idempotency)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext as _

from siyu.core.errors import Conflict
from siyu.core.idempotency import answer_once, fingerprint


class OnceForm(forms.Form):
    form_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        kwargs["initial"] = {"form_key": uuid.uuid4().hex, **(kwargs.get("initial") or {})}
        super().__init__(data, *args, **kwargs)


def create_once(request: HttpRequest, form: OnceForm, *, action: str, create: Callable[[], int]) -> int:
    """Run `create` (it returns the new row's id) once per form key and user; a repeat returns the first id, a reuse
    of the key for other input is refused (Conflict on the form_key field)."""
    asked = {key: values for key, values in sorted(request.POST.lists()) if key != "csrfmiddlewaretoken"}
    try:
        ref, _first = answer_once(scope=f"console.{action}:{request.user.pk}"[:64], key=form.cleaned_data["form_key"],
                                  fingerprint=fingerprint(asked), effect=create)
    except Conflict as exc:
        if exc.code != "idempotency_key_reused":
            raise
        raise Conflict(str(_("This form was already submitted with other values: reload the page to create another.")),
                       code=exc.code) from exc
    return ref
