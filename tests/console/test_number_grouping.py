"""A number reads the same in both languages: grouped by thousands with a comma."""

from __future__ import annotations

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import translation
from django.utils.formats import number_format


def test_numbers_group_by_thousands_in_chinese_and_english() -> None:
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert intcomma(1234567) == "1,234,567", language
            assert number_format(1234567.5, decimal_pos=2, force_grouping=True) == "1,234,567.50", language
