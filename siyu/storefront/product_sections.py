"""Sections that apps above the storefront add to the mall's product page (content's approved reviews): the
storefront never imports them; each registers a function that returns the section's context (or None) and the
template that renders it, from its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Section:
    template: str
    context: Callable[[int, int], dict[str, Any] | None]  # (enterprise_id, product_id) → context, or None to hide


_SECTIONS: dict[str, Section] = {}


def register(name: str, section: Section) -> None:
    _SECTIONS[name] = section


def sections(*, enterprise_id: int, product_id: int) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for section in _SECTIONS.values():
        context = section.context(enterprise_id, product_id)
        if context is not None:
            out.append((section.template, context))
    return out
