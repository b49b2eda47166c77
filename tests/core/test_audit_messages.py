"""Audit summaries are read in the reader's language: every `audit.record(summary=...)` passes either a value (a name,
a number, an order number) or an `audit.text`/`audit.ntext` message whose msgid the Chinese catalogue translates, never
English words of its own (a literal, an f-string or a format with words in it). Rows render per reader, old rows keep
showing what they stored."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from types import SimpleNamespace

import polib
import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import translation
from django.utils.translation import gettext_noop as N_

from siyu.catalog.models import ProductStatus
from siyu.core import audit
from siyu.core import queries as core_queries
from siyu.core.models import AuditEntry
from tests.core.test_error_messages import CATALOGS, _modules, _name

SIYU = Path(__file__).resolve().parents[2] / "siyu"
LETTERS = re.compile(r"[A-Za-z]")
TEXT_CALLS = {"text", "ntext"}


def _assigned(scope: ast.AST, name: str) -> list[ast.expr]:
    """What a local variable passed as the summary was set to in the function around the call."""
    return [node.value for node in ast.walk(scope) if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)]


def _summaries() -> list[tuple[str, ast.expr]]:
    """Each summary passed to audit.record, and for a local variable (`summary=summary`, `summary=text[:255]`) each
    value the function gives it."""
    found = []
    for path, tree in _modules().items():
        scopes = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
        for scope in scopes:
            for node in ast.walk(scope):
                if not (isinstance(node, ast.Call) and _name(node.func) == "record"):
                    continue
                where = f"{path.relative_to(SIYU.parent)}:{node.lineno}"
                for keyword in node.keywords:
                    if keyword.arg != "summary":
                        continue
                    value = keyword.value.value if isinstance(keyword.value, ast.Subscript) else keyword.value
                    found.append((where, keyword.value))
                    if isinstance(value, ast.Name):
                        found.extend((where, assigned) for assigned in _assigned(scope, value.id))
    return list({(where, ast.dump(node)): (where, node) for where, node in found}.values())


ENUM_ATTRIBUTES = {"kind", "role", "status", "basis", "source", "callback_mode"}


def _raw_enum(node: ast.expr) -> bool:
    """A stored code (`x.kind`, `x.status`, `x.get_role_display()`) written into the text: shown raw, or in the
    writer's language; it goes in as audit.label(Enum(x.kind).label)."""
    if isinstance(node, ast.Attribute) and node.attr in ENUM_ATTRIBUTES:
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("get_") and node.func.attr.endswith("_display"))


def _call_has_words(node: ast.Call) -> bool:
    if _name(node.func) in TEXT_CALLS:  # a message: its values may not be raw codes either
        return any(_raw_enum(k.value) for k in node.keywords)
    if _name(node.func) in {"_", "gettext", "ngettext", "gettext_lazy"}:
        return True  # rendered at write time: stored in the writer's language
    if isinstance(node.func, ast.Attribute) and node.func.attr in {"format", "join"}:
        return _has_words(node.func.value) or any(_has_words(a) for a in node.args)
    return False


def _has_words(node: ast.expr) -> bool:
    """Does this expression write English words of its own or a raw code (rather than pass values or a message)?"""
    if _raw_enum(node):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(LETTERS.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(part) for part in node.values)
    if isinstance(node, ast.FormattedValue):
        return _has_words(node.value)
    if isinstance(node, ast.BinOp):
        return _has_words(node.left) or _has_words(node.right)
    if isinstance(node, ast.IfExp):
        return _has_words(node.body) or _has_words(node.orelse)
    if isinstance(node, ast.Call):
        return _call_has_words(node)
    if isinstance(node, ast.Subscript):
        return _has_words(node.value)
    return False


def _msgids(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Call) and _name(node.func) in TEXT_CALLS:
        count = 2 if _name(node.func) == "ntext" else 1
        ids = []
        for arg in node.args[:count]:
            inner = arg.args[0] if isinstance(arg, ast.Call) and arg.args else arg
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                ids.append(inner.value)
        return ids
    if isinstance(node, ast.IfExp):
        return _msgids(node.body) + _msgids(node.orelse)
    return []


def test_the_scan_sees_the_audit_calls() -> None:
    sites = _summaries()
    assert len(sites) > 100
    assert any(where.startswith("siyu/customers/services.py") for where, _ in sites)


def test_no_audit_summary_is_written_in_english() -> None:
    bare = [f"{where}: {ast.unparse(node)[:90]}" for where, node in _summaries() if _has_words(node)]
    assert bare == []


def test_every_audit_message_has_a_chinese_translation() -> None:
    catalog = {entry.msgid: entry for po in CATALOGS for entry in polib.pofile(str(po)) if not entry.obsolete}
    plurals = {entry.msgid_plural: entry for entry in catalog.values() if entry.msgid_plural}
    missing = sorted({msgid for _, node in _summaries() for msgid in _msgids(node)
                      if not ((entry := catalog.get(msgid) or plurals.get(msgid)) and entry.translated()
                              and not entry.fuzzy)})
    assert missing == []


def test_the_checker_catches_what_it_should() -> None:
    def expr(source: str) -> ast.expr:
        statement = ast.parse(source).body[0]
        assert isinstance(statement, ast.Expr)
        return statement.value

    for bad in ('"exported customers"', 'f"{n} orders, {d} already there"', '"%s rows" % n',
                'ngettext("tagged %(count)s customer", "tagged %(count)s customers", n) % {"count": n}',
                'f"{a} ({kind})" + " forced"', '(f"-{p} points: {t}")[:255]',
                'f"{label}: {\'ok\' if ok else \'failing\'}"', "account.callback_mode",
                'f"{staff.name} ({staff.get_role_display()})"', 'f"{account.kind} {account.app_id}"',
                'audit.text(N_("%(kind)s %(app_id)s"), kind=account.kind, app_id=account.app_id)'):
        assert _has_words(expr(bad)), bad
    for good in ("product.name", 'f"{a} → {b}"', 'audit.text(N_("%(n)s rows"), n=n)', '",".join(ids)',
                 "text[:60]", 'audit.ntext(N_("%(count)s row"), N_("%(count)s rows"), n)'):
        assert not _has_words(expr(good)), good


@pytest.mark.django_db
def test_a_summary_reads_in_the_readers_language_with_its_plural() -> None:
    one = audit.record(enterprise_id=1, actor=None, action="tag.bulk_add", target_type="tag", target_id=7,
                       summary=audit.ntext(N_("tagged %(count)s customer with %(tags)s"),
                                           N_("tagged %(count)s customers with %(tags)s"), 1, tags="VIP"))
    many = audit.record(enterprise_id=1, actor=None, action="tag.bulk_add", target_type="tag", target_id=7,
                        summary=audit.ntext(N_("tagged %(count)s customer with %(tags)s"),
                                            N_("tagged %(count)s customers with %(tags)s"), 3, tags="VIP"))
    one.refresh_from_db()
    many.refresh_from_db()
    # stored in English (the search reads it) whatever language the writer used
    assert (one.summary, many.summary) == ("tagged 1 customer with VIP", "tagged 3 customers with VIP")
    with translation.override("zh-hans"):
        assert audit.summary_of(one) == "为 1 位客户打上标签 VIP"
        assert audit.summary_of(many) == "为 3 位客户打上标签 VIP"
    with translation.override("en"):
        assert audit.summary_of(many) == "tagged 3 customers with VIP"


@pytest.mark.django_db
def test_a_value_that_is_a_word_is_translated_when_read() -> None:
    entry = audit.record(enterprise_id=1, actor=None, action="product.status", target_type="product", target_id=1,
                         summary=audit.ntext(N_("%(count)s product → %(status)s"),
                                             N_("%(count)s products → %(status)s"), 2,
                                             status=audit.label(ProductStatus.ON_SALE.label)))
    entry.refresh_from_db()
    assert entry.summary == "2 products → On sale"
    with translation.override("zh-hans"):
        assert audit.summary_of(entry) == "2 个商品 → 在售"


@pytest.mark.django_db
def test_an_old_row_shows_what_it_stored() -> None:
    old = AuditEntry.objects.create(enterprise_id=1, action="tag.bulk_add", target_type="tag", target_id="7",
                                    summary="tagged 1 customers with VIP")
    with translation.override("zh-hans"):
        assert audit.summary_of(old) == "tagged 1 customers with VIP"


def _tag_entry(enterprise_id: int, count: int, tags: str) -> AuditEntry:
    return audit.record(enterprise_id=enterprise_id, actor=None, action="tag.bulk_add", target_type="tag",
                        target_id=7, summary=audit.ntext(N_("tagged %(count)s customer with %(tags)s"),
                                                         N_("tagged %(count)s customers with %(tags)s"), count,
                                                         tags=tags))


def _found(enterprise_id: int, q: str) -> list[int]:
    return [e.pk for e in core_queries.audit_entries(enterprise_id=enterprise_id, q=q).items]


@pytest.mark.django_db
def test_the_text_search_matches_the_summary_as_a_chinese_reader_sees_it() -> None:
    tagged = _tag_entry(1, 3, "VIP")
    status = audit.record(enterprise_id=1, actor=None, action="product.status", target_type="product", target_id=1,
                          summary=audit.ntext(N_("%(count)s product → %(status)s"),
                                              N_("%(count)s products → %(status)s"), 2,
                                              status=audit.label(ProductStatus.ON_SALE.label)))
    elsewhere = _tag_entry(2, 3, "VIP")
    old = AuditEntry.objects.create(enterprise_id=1, action="tag.bulk_add", target_type="tag", target_id="8",
                                    summary="tagged 1 customers with VIP")
    assert _found(1, "打上标签") == [tagged.pk]  # the Chinese words of the message
    assert _found(1, "为 3 位客户") == [tagged.pk]  # with its values, as rendered
    assert _found(1, "在售") == [status.pk]  # a label value, translated
    assert _found(1, "tagged 3 customers") == [tagged.pk]  # the stored English still matches
    assert _found(1, "tagged") == [old.pk, tagged.pk]  # and old rows by what they stored
    assert _found(2, "打上标签") == [elsewhere.pk]  # per enterprise
    assert _found(1, "删除了") == []


@pytest.mark.django_db
def test_the_migration_fills_the_search_text_of_rows_written_before_it() -> None:
    entry = _tag_entry(1, 2, "金卡")
    AuditEntry.objects.filter(pk=entry.pk).update(search_text="")
    assert _found(1, "打上标签") == []
    migration = importlib.import_module("siyu.core.migrations.0005_audit_entry_search_text")
    migration.fill(django_apps, SimpleNamespace(connection=connection))
    assert _found(1, "打上标签") == [entry.pk]
    assert AuditEntry.objects.get(pk=entry.pk).search_text == "为 2 位客户打上标签 金卡"
