"""Script variables: {customer_name} {staff_name} {store} {product} {coupon}.

A template is parsed with the standard library's format-string parser, so `{{` and `}}` are literal braces and an
unbalanced brace, an unknown name or a format spec is refused when the script is saved, not when it is sent.
Rendering never sends a hole: a variable without a value takes the script's fallback for it; with neither it is
reported as missing, shown highlighted in the sidebar, and `render_for_sending` refuses until the staff member types
the value in.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed

VARIABLES = ("customer_name", "staff_name", "store", "product", "coupon")
VARIABLE_LABELS = {
    "customer_name": _("customer name"),
    "staff_name": _("staff name"),
    "store": _("store"),
    "product": _("product"),
    "coupon": _("coupon"),
}
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Part:
    """A piece of rendered text: literal text (`variable` empty), or a variable with its value (None: missing)."""

    text: str
    variable: str = ""
    missing: bool = False


@dataclass(frozen=True)
class Rendered:
    parts: tuple[Part, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        seen: list[str] = []
        for part in self.parts:
            if part.missing and part.variable not in seen:
                seen.append(part.variable)
        return tuple(seen)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def text(self) -> str:
        """The text with each missing variable shown as 【name】 (for display; never sent)."""
        return "".join(f"【{p.text}】" if p.missing else p.text for p in self.parts)


def variables_in(template: str, *, field: str = "text") -> list[str]:
    """The variables a template uses, in order; ValidationFailed for anything the renderer could not fill."""
    try:
        pieces = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValidationFailed(
            _("unbalanced brace: write {{ and }} for literal braces (%(exc)s)") % {"exc": exc},
            field=field, code="bad_template",
        ) from exc
    found: list[str] = []
    for _literal, name, spec, conversion in pieces:
        if name is None:
            continue
        if name not in VARIABLES:
            known = ", ".join("{" + v + "}" for v in VARIABLES)
            raise ValidationFailed(
                _("unknown variable {%(name)s}; use one of %(known)s") % {"name": name, "known": known},
                field=field, code="unknown_variable",
            )
        if spec or conversion:
            raise ValidationFailed(_("{%(name)s} takes no format") % {"name": name}, field=field, code="bad_template")
        found.append(name)
    return found


def render(template: str, values: Mapping[str, str | None], fallbacks: Mapping[str, str] | None = None) -> Rendered:
    """Fill a (validated) template. A value that is None or blank falls back, else is missing."""
    parts: list[Part] = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        if literal:
            parts.append(Part(literal))
        if name is None:
            continue
        value = (values.get(name) or "").strip()
        if not value:
            value = ((fallbacks or {}).get(name) or "").strip()
        parts.append(Part(value, name) if value else Part(str(VARIABLE_LABELS.get(name, name)), name, missing=True))
    return Rendered(tuple(parts))


def render_for_sending(template: str, values: Mapping[str, str | None],
                       fallbacks: Mapping[str, str] | None = None) -> str:
    rendered = render(template, values, fallbacks)
    if not rendered.complete:
        names = ", ".join(rendered.missing)
        raise ValidationFailed(
            _("fill in %(names)s before sending") % {"names": names},
            field=rendered.missing[0], code="missing_variable",
        )
    return rendered.text
