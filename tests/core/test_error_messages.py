"""Every domain error a person can read is translated: the message where a DomainError (or a subclass) is built is
wrapped in gettext, and the Chinese catalog has it.

A literal, an f-string, or "...".format(...) / "..." % ... fails here, so a new untranslated message cannot slip in.
A message passed on from a variable (re-raising another error's message) is not checked: its source is.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import polib
from django.conf import settings

SIYU = Path(settings.BASE_DIR) / "siyu"
CATALOGS = [SIYU / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po",
            *sorted(SIYU.glob("*/locale/zh_Hans/LC_MESSAGES/django.po"))]
OTHER_ERRORS = {"CellError"}  # not domain errors, but shown to operators as they are
GETTEXT = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}


@dataclass(frozen=True)
class Site:
    where: str
    message: ast.expr


def _parse(path: Path) -> ast.Module:
    # CPython 3.11 keeps the AST constructor's recursion count per interpreter, not per thread: a traceback formatted
    # on another thread at the same moment (3.11's tracebacks parse source lines to place their carets; the suite's
    # live servers log such warnings) can make this parse fail with "AST constructor recursion depth mismatch"
    # (python/cpython#106905). The source is fine; parsing it again succeeds.
    source = path.read_text(encoding="utf-8")
    for _attempt in range(4):
        try:
            return ast.parse(source)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc):
                raise
    return ast.parse(source)


def _modules() -> dict[Path, ast.Module]:
    return {path: _parse(path) for path in sorted(SIYU.rglob("*.py")) if "migrations" not in path.parts}


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _error_classes(modules: dict[Path, ast.Module]) -> dict[str, int]:
    """DomainError and its subclasses (by name, transitively), each with the position of its `message` argument."""
    bases: dict[str, set[str]] = {}
    message_at: dict[str, int] = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(filter(None, (_name(b) for b in node.bases)))
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        params = [a.arg for a in item.args.args[1:]]
                        message_at[node.name] = params.index("message") if "message" in params else -1
    errors = {"DomainError"}
    grew = True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in errors and parents & errors:
                errors.add(name)
                grew = True
    errors |= set(OTHER_ERRORS)  # the import's cell errors are read by operators too (row reports)
    return {name: message_at.get(name, 0) for name in errors}


def _sites() -> list[Site]:
    modules = _modules()
    classes = _error_classes(modules)
    sites = []
    for path, tree in modules.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in classes):
                continue
            at = classes[_name(node.func) or ""]
            message = next((k.value for k in node.keywords if k.arg == "message"), None)
            if message is None and 0 <= at < len(node.args):
                message = node.args[at]
            if message is not None:
                sites.append(Site(f"{path.relative_to(SIYU.parent)}:{node.lineno}", message))
    return sites


def _is_gettext(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and _name(node.func) in GETTEXT


def _untranslated(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant | ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):  # "..." % x or "..." + x; _("...") % {...} is fine
        return not _is_gettext(node.left) and (_untranslated(node.left) or _untranslated(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return not _is_gettext(node.func.value)
    return False


def _msgid(node: ast.expr) -> str | None:
    call = node.left if isinstance(node, ast.BinOp) else node
    if _is_gettext(call) and isinstance(call, ast.Call) and call.args:
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def test_the_scan_sees_the_errors() -> None:
    sites = _sites()
    assert len(sites) > 500  # the scan is not silently empty (about 900 sites when written)
    assert any(site.where.startswith("siyu/catalog/services.py") for site in sites)


def test_every_domain_error_message_is_wrapped_in_gettext() -> None:
    bare = [f"{site.where}: {ast.unparse(site.message)[:80]}" for site in _sites() if _untranslated(site.message)]
    assert bare == []


def test_every_domain_error_message_has_a_chinese_translation() -> None:
    catalog = {entry.msgid: entry for po in CATALOGS for entry in polib.pofile(str(po)) if not entry.obsolete}
    missing = sorted({msgid for site in _sites() if (msgid := _msgid(site.message)) is not None
                      and (msgid not in catalog or not catalog[msgid].translated() or catalog[msgid].fuzzy)})
    assert missing == []


def test_the_checker_catches_what_it_should() -> None:
    def expr(source: str) -> ast.expr:
        statement = ast.parse(source).body[0]
        assert isinstance(statement, ast.Expr)
        return statement.value

    for bad in ('"price cannot be negative"', 'f"at most {n} per customer"', '"at most %s" % n',
                '"at most {}".format(n)'):
        assert _untranslated(expr(bad)), bad
    for good in ('_("price cannot be negative")', '_("at most %(n)s") % {"n": n}', "exc.message", "message"):
        assert not _untranslated(expr(good)), good
