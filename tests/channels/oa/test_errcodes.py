"""Official Account refusals read as their meaning in the reader's language (shared/protocol/oa.md §12), with the code
kept beside it; text that carries no known code is shown as it is."""

from __future__ import annotations

from django.template import Context, Template
from django.utils import translation

from siyu.channels.official_account import errcodes
from siyu.channels.official_account.client import error_for


def test_a_stored_refusal_reads_as_its_meaning() -> None:
    stored = str(error_for(45015, "response out of time limit or subscription is canceled"))
    assert stored.startswith("45015: ")
    with translation.override("zh-hans"):
        said = errcodes.describe_text(stored)
        assert "48 小时" in said and "45015" in said and "response" not in said
        assert errcodes.describe_text("needs a token") == "需要先取得可用的 access token"
    with translation.override("en"):
        assert errcodes.describe_text(stored) == (
            "Outside the 48-hour reply window: the user has not interacted recently (errcode 45015)")
    assert errcodes.describe_text("99999: something new") == "99999: something new"
    assert errcodes.describe_text("menu is fine") == "menu is fine"
    assert errcodes.describe(0) == "" and errcodes.describe(12345) == "12345"


def test_every_meaning_is_translated() -> None:
    with translation.override("en"):
        english = {code: str(text) for code, text in errcodes.MEANINGS.items()}
    with translation.override("zh-hans"):
        untranslated = [code for code, text in errcodes.MEANINGS.items() if str(text) == english[code]]
    assert untranslated == []


def test_the_page_filter() -> None:
    with translation.override("zh-hans"):
        html = Template("{% load oa_tags %}{{ e|oa_error }}").render(Context({"e": "40164: invalid ip"}))
    assert "IP 白名单" in html and "40164" in html
