from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed

M = TypeVar("M", bound=Model)
MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000  # beyond any real list; a larger page number is a typo or a probe, and its offset may not fit


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def page_param(raw: str | None) -> int:
    """A console page number from the query string: junk is page 1, and a huge number is the largest page."""
    try:
        return min(MAX_PAGE, max(1, int(raw or "1")))
    except ValueError:
        return 1


def paginate(queryset: QuerySet[M], *, page: int = 1, page_size: int = 20) -> Page[M]:
    if page < 1:
        raise ValidationFailed(_("page starts at 1"), field="page", code="page_range")
    if page > MAX_PAGE:
        raise ValidationFailed(_("page is at most %(MAX_PAGE)s") % {"MAX_PAGE": format(MAX_PAGE, ',')}, field="page",
                               code="page_too_far")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            _("page_size must be between 1 and %(MAX_PAGE_SIZE)s") % {"MAX_PAGE_SIZE": MAX_PAGE_SIZE},
            field="page_size",
            code="page_size_range",
        )
    total = queryset.count()
    offset = (page - 1) * page_size
    return Page(items=list(queryset[offset : offset + page_size]), total=total, page=page, page_size=page_size)
