from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import Org
from tests.console.conftest import People

PO = Path(settings.BASE_DIR) / "siyu" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.mark.django_db
def test_console_is_chinese_by_default(client: Client, org: Org, people: People) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    html = client.get("/customers/").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "导出 CSV" in html and "全部门店" in html
    assert "Export CSV" not in html


@pytest.mark.django_db
def test_language_switch_to_english(client: Client, org: Org, people: People) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/customers/"})
    assert response.status_code == 302 and response.headers["Location"] == "/customers/"
    html = client.get("/customers/").content.decode()
    assert '<html lang="en">' in html
    assert "Export CSV" in html and "All stores" in html
    assert "导出 CSV" not in html
    profile = client.get(f"/customers/{people.ada.pk}/").content.decode()
    assert "Tag added" in profile and "No orders yet" in profile


def test_every_console_string_is_translated() -> None:
    catalog = polib.pofile(str(PO))
    missing = [
        entry.msgid
        for entry in catalog
        if not entry.obsolete
        and any(path.startswith("siyu/console/") for path, _line in entry.occurrences)
        and (not entry.translated() or entry.fuzzy)
    ]
    assert missing == []


def test_compiled_catalog_matches_the_po_file() -> None:
    """The committed .mo is what the .po says (recompile with scripts/compile_messages.py after editing the .po)."""
    source = {(e.msgctxt, e.msgid): e.msgstr or tuple(sorted(e.msgstr_plural.items()))
              for e in polib.pofile(str(PO)).translated_entries()}
    compiled = {(e.msgctxt, e.msgid): e.msgstr or tuple(sorted(e.msgstr_plural.items()))
                for e in polib.mofile(str(PO.with_suffix(".mo")))}
    compiled.pop((None, ""), None)  # the header
    assert compiled == source


@pytest.mark.django_db
def test_an_english_browser_still_gets_chinese_until_the_user_switches(client: Client, org: Org) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    html = client.get("/customers/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in html and "导出 CSV" in html


def _language_menu(html: str) -> list[tuple[str, str]]:
    menu = html[html.index('class="lang"'):]
    menu = menu[:menu.index("</form>")]
    return re.findall(r'<option value="([^"]+)" lang="[^"]+"[^>]*>([^<]+)</option>', menu)


@pytest.mark.django_db
def test_the_language_menu_names_each_language_in_itself(client: Client, org: Org) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    in_chinese = _language_menu(client.get("/customers/").content.decode())
    client.post("/i18n/setlang/", {"language": "en", "next": "/customers/"})
    in_english = _language_menu(client.get("/customers/").content.decode())
    # the same names whichever language the page is in: a reader finds their own language by its own name
    assert in_chinese == in_english == [("zh-hans", "简体中文"), ("en", "English")]
