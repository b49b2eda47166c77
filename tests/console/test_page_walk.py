"""Every console page, read in Chinese by an HQ admin, a store manager and store staff: no raw enum value and no
untranslated English on screen.

The pages are the permission matrix's console rows (that table is checked to name every console route) with the real
ids of its world (tests/security/world.py: one enterprise with one of everything). Each GET page the role may open is
fetched with Django's test client in the default language (Chinese) and its visible text is read: script, style,
code/pre, hidden elements and attribute values are skipped. Every ASCII word left is then either
- data: a word of a value stored in the database (names, codes, SKU codes, channel-code states, URLs) that is not an
  enum value (fields with choices are left out, so `flash_sale` or `processed` on screen is caught), or
- on the short allow-list below (product, protocol and unit names that are written in Latin letters in Chinese too),
or it is a finding. The test fails listing each finding with its page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from typing import Any

import pytest
from django.apps import apps
from django.db import models

from tests.conftest import Org
from tests.security.matrix import ROLES, console_client, parse, run_isolated
from tests.security.test_permission_matrix import CONSOLE_TABLE
from tests.security.world import World, build_world

pytestmark = pytest.mark.django_db

# Written in Latin letters in Chinese UI text as well. Keep it short: a word belongs here only if a Chinese operator
# reads it as is (a product or protocol name, a unit, a format), never an English word that has a translation.
ALLOWED = {
    # products and platforms
    "siyu", "wecom", "wechat", "pay", "api", "appid", "openid", "unionid", "userid", "agentid", "corpid", "secret",
    "token", "encodingaeskey", "apiv3", "sdk", "js", "pem", "url", "http", "https", "json", "csv", "xlsx", "excel",
    "utf", "gbk", "id", "ids", "sku", "skus", "rfm", "sop", "ugc", "qr", "oauth", "h5", "pos", "duckdb", "sql",
    "tmall", "jd", "douyin", "echarts", "htmx", "ios", "android", "iso", "mp4", "pdf", "png", "jpeg", "jpg", "gif",
    "webp", "word", "powerpoint", "scrm", "erp", "rest", "sha1",
    # WeChat Pay's own names for the merchant key file and the platform key id, which the operator must recognise
    "apiclient_key", "pub_key_id",
    # units, formats and the language menu (each language named in itself)
    "kb", "mb", "gb", "ms", "px", "kg", "ml", "g", "yyyy", "mm", "dd", "hh", "english", "r", "f", "m",
    # statistical notation written as is in Chinese (z 分数, the median absolute deviation MAD)
    "z", "mad",
}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]*[A-Za-z0-9]|[A-Za-z]")
SKIP = {"script", "style", "code", "pre", "template", "noscript", "svg", "kbd", "samp"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class VisibleText(HTMLParser):
    """The text a person sees: not inside script/style/code, hidden elements, or attribute values."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: is its content invisible?
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        values = dict(attrs)
        style = (values.get("style") or "").replace(" ", "")
        hidden = (tag in SKIP or "hidden" in values or values.get("aria-hidden") == "true"
                  or "display:none" in style)
        self.stack.append(hidden or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.chunks.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.chunks)


def _words(text: str) -> set[str]:
    return {w.casefold() for w in WORD.findall(text)}


def _enum_values() -> set[str]:
    """Every stored value of a field with choices, and of every TextChoices: shown raw, these are findings even when
    the same word is stored elsewhere as data."""
    values: set[str] = set()
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            values |= {str(value).casefold() for value, _label in (f.flatchoices or []) if isinstance(value, str)}
    pending: list[type[models.TextChoices]] = [models.TextChoices]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        values |= {str(v).casefold() for v in cls.values}
    return values - {""}


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value] if isinstance(value, str) else []


@dataclass(frozen=True)
class Data:
    """The text stored in the database (names, codes, states, URLs; string values inside JSON), less enum values:
    whole values (a token named "matrix staff" is data even though `staff` alone would be a raw role) and words."""

    values: tuple[str, ...]
    words: frozenset[str]


def _data() -> Data:
    enums = _enum_values()
    values: set[str] = set()
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields
                  if isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.choices]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for value in row:
                values |= {text.strip() for text in _leaves(value) if text.strip().casefold() not in enums}
    words = {w for text in values for w in _words(text)} - enums
    return Data(tuple(sorted((v for v in values if len(v) > 1), key=len, reverse=True)), frozenset(words))


PLACEHOLDER = re.compile(r"\{[a-z_]+\}")  # a variable an operator types as is ({name} in a welcome message)


def findings(html: str, data: Data) -> list[str]:
    # "A/B" (测试) is how Chinese operators name a split test; the letters alone are still findings
    text = PLACEHOLDER.sub(" ", visible_text(html)).replace("A/B", " ")
    for value in data.values:
        if value in text:
            text = text.replace(value, " ")
    bad = []
    for word in WORD.findall(text):
        folded = word.casefold()
        if folded in ALLOWED or folded in data.words:
            continue
        parts = re.split(r"[_-]", folded)
        if "_" not in folded and len(parts) > 1 and all(p in ALLOWED or p in data.words or p.isdigit() for p in parts):
            continue
        bad.append(word)
    return sorted(set(bad))


@pytest.fixture
def world(org: Org, settings: Any, tmp_path: Any) -> World:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SIYU_EXPORT_DIR = tmp_path / "exports"
    return build_world(org)


def test_visible_text_skips_what_no_one_reads() -> None:
    html = ('<p>可见 shown</p><script>var hidden_1 = 1;</script><code>raw_code</code><div hidden>gone_x</div>'
            '<span style="display: none">nope_y</span><input type="text" value="field_value"><b>flash_sale</b>')
    assert visible_text(html).split() == ["可见", "shown", "flash_sale"]
    assert findings(html, Data(("shown",), frozenset())) == ["flash_sale"]
    assert findings("<td>store_qr_bj-haidian</td>", Data((), frozenset({"store_qr_bj-haidian"}))) == []
    assert findings("<td>matrix staff</td><td>staff</td>", Data(("matrix staff",), frozenset())) == ["staff"]
    assert findings("<td>tagged 1 customers</td>", Data((), frozenset())) == ["customers", "tagged"]
    assert findings("<p>{name} 会替换为客户昵称</p>", Data((), frozenset())) == []


# Who is walked, and at least how many pages each opens: HQ every page; a store manager and store staff the pages
# their role may open (store staff work from their phones: customers, tasks, orders, the lists they may read).
WALKERS = {"hq": 80, "store_mgr": 70, "staff": 55}


@pytest.mark.parametrize("role", list(WALKERS))
def test_every_console_page_reads_in_chinese(world: World, role: str) -> None:
    data = _data()
    client = console_client(world, role)
    column = ROLES.index(role)
    pages = 0
    report = []
    unread = []
    for row in parse(CONSOLE_TABLE):
        if row.method != "GET" or row.expected[column] != "ok":
            continue
        path = row.path(world)
        response = run_isolated(partial(client.get, path))
        html = response.get("Content-Type", "").startswith("text/html")
        if response.status_code != 200 or not html:
            # a download (CSV, Excel, PDF, an image) or a sign-in hand-off is not a page; anything else the role may
            # open and that did not answer (a 404 for a world id that is missing, a 500) is a page left unread
            if not (response.status_code == 200 or response.status_code == 302 and html):
                unread.append(f"{row.template}: {response.status_code}")
            continue
        pages += 1
        found = findings(response.content.decode(), data)
        if found:
            report.append(f"{row.template}: {' '.join(found)}")
    assert pages > WALKERS[role]  # the walk reached the pages (HQ about 100 when written)
    assert unread == []
    assert report == [], "\n" + "\n".join(report)
