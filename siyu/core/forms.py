"""What the console's forms share: choices filled at run time (a scope's stores, an enterprise's tags)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms


def set_choices(form: forms.BaseForm, name: str, choices: Sequence[tuple[Any, Any]]) -> None:
    """Give the choice field `name` its choices (a field of another kind is a programming error)."""
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField), f"{name} is not a choice field"
    field.choices = list(choices)
