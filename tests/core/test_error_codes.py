"""Every domain error a client can branch on carries its own code: a raise of ValidationFailed, Conflict,
UpstreamError or DomainError names `code=` (the class's default, "invalid" or "conflict", says nothing about what was
wrong). The gate errors are the exception by design: NotFound and PermissionDenied answer `not_found` / `forbidden`
and deliberately tell a caller nothing more (their field still names what was asked for)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from tests.core.test_error_messages import _modules, _name

GATES = {"NotFound", "PermissionDenied", "GateError"}


def _code_positions(modules: Mapping[Any, ast.Module]) -> dict[str, int]:
    """Classes whose constructor takes the code as a positional argument (`BillRefused("bill_...", message)`)."""
    found = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        params = [a.arg for a in item.args.args[1:]]
                        if "code" in params:
                            found[node.name] = params.index("code")
    return found


def _errors_needing_codes(modules: Mapping[Any, ast.Module]) -> set[str]:
    """DomainError and its subclasses (by name, transitively) that are not gate errors and set no code of their own."""
    bases: dict[str, set[str]] = {}
    own_code: set[str] = set()
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(filter(None, (_name(b) for b in node.bases)))
                sets_code = any(isinstance(item, ast.Assign) and any(_name(t) == "code" for t in item.targets)
                                for item in node.body)
                # a class with its own constructor that takes no `code` decides the code itself (from its arguments)
                decides = any(isinstance(item, ast.FunctionDef) and item.name == "__init__"
                              and "code" not in [a.arg for a in item.args.args + item.args.kwonlyargs]
                              for item in node.body)
                if (sets_code or decides) and node.name not in {"DomainError", "ValidationFailed", "Conflict",
                                                                  "UpstreamError"}:
                    own_code.add(node.name)
    errors, grew = {"DomainError"}, True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in errors and parents & errors and name not in GATES and not parents & GATES:
                errors.add(name)
                grew = True
    return errors - own_code - GATES


def _raises_without_code(given: Mapping[Any, ast.Module] | None = None) -> list[str]:
    modules: Mapping[Any, ast.Module] = given if given is not None else _modules()
    classes = _errors_needing_codes(modules)
    positions = {name: at for name, at in _code_positions(modules).items()
                 if name not in {"DomainError", "ValidationFailed", "Conflict", "UpstreamError"}}
    bare = []
    for path, tree in modules.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            name = _name(node.exc.func) or ""
            named = any(k.arg == "code" for k in node.exc.keywords)
            if name in classes and not named and len(node.exc.args) <= positions.get(name, 99):
                bare.append(f"{path}:{node.lineno}: {ast.unparse(node.exc)[:90]}")
    return bare


def test_the_scan_sees_the_error_classes() -> None:
    classes = _errors_needing_codes(_modules())
    assert {"DomainError", "ValidationFailed", "Conflict", "UpstreamError"} <= classes
    assert not classes & GATES


def test_every_domain_error_raised_names_its_code() -> None:
    assert _raises_without_code() == []


def test_the_checker_catches_what_it_should() -> None:
    source = ast.parse(
        "class DomainError(Exception): pass\n"
        "class ValidationFailed(DomainError): pass\n"
        "class NotFound(DomainError): pass\n"
        "class Refused(DomainError):\n"
        "    def __init__(self, code, message): ...\n"
        "def f():\n"
        "    raise ValidationFailed(_('price cannot be negative'), field='price')\n"
        "    raise ValidationFailed(_('price cannot be negative'), field='price', code='negative_price')\n"
        "    raise NotFound(_('no such product'), field='product_id')\n"
        "    raise Refused('bill_bad', _('bad bill'))\n"
        "    raise Refused(message=_('bad bill'))\n")
    found = _raises_without_code({"x.py": source})
    assert [line.split(":")[1] for line in found] == ["7", "11"]


# A code is a short name a client branches on (`name_length`, `unknown_kind`, `too_many_staff`), not the first words
# of the message cut to size (`text_material_text`, `at_most_9_attachments`): a sentence's words and its numbers
# change with the wording, and a number in a code outlives the limit it names.
STARTS = {"pick", "choose", "give", "write", "each", "say", "you", "at", "the", "a", "an"}
ENDS = {"one", "not", "the", "a", "an", "their", "them", "yet", "first", "as", "than", "between", "must", "most",
        "least", "at", "characters", "bytes"}
NAMES_WITH_DIGITS = {"apiv3_key_length"}


def _codes(modules: Mapping[Any, ast.Module]) -> dict[str, str]:
    """Every literal `code=` given to a call (an error raised or built), with where it is first given."""
    found: dict[str, str] = {}
    for path, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if (keyword.arg == "code" and isinstance(keyword.value, ast.Constant)
                            and isinstance(keyword.value.value, str)):
                        found.setdefault(keyword.value.value, f"{path}:{node.lineno}")
    return found


def _awkward(code: str) -> bool:
    words = code.split("_")
    return (not re.fullmatch(r"[a-z][a-z0-9_]*[a-z0-9]", code) or len(words) > 4
            or (any(ch.isdigit() for ch in code) and code not in NAMES_WITH_DIGITS)
            or "at_most" in code or "at_least" in code or bool({"the", "a", "an"} & set(words))
            or len(set(words)) < len(words) or words[0] in STARTS or words[-1] in ENDS)


def test_every_error_code_is_a_name_not_a_cut_sentence() -> None:
    codes = _codes(_modules())
    assert len(codes) > 300  # the scan reads the raises
    assert sorted(f"{code} ({where})" for code, where in codes.items() if _awkward(code)) == []


def test_the_code_checker_catches_cut_sentences() -> None:
    for bad in ("text_material_text", "at_most_9_attachments", "step_one", "pick_at_least_one_staff",
                "merchant_api_private_key_not", "Name_Length"):
        assert _awkward(bad), bad
    for good in ("name_length", "unknown_kind", "too_many_staff", "apiv3_key_length", "coupon_not_owned",
                 "text_or_attachment_required"):
        assert not _awkward(good), good
