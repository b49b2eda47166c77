"""The import contracts have teeth: each kind of breach, planted in a scratch copy of the package, breaks the contract
meant to catch it (and the untouched copy keeps every contract).

The copy holds only the package's Python files; lint-imports runs in its directory with the project's own
[tool.importlinter] section, so what is checked is exactly what CI checks, against a package one import worse.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

CYCLES = "No import cycles between sibling modules or packages, at any depth"
DOMAIN = "Domain code (models, services, queries, tasks) never imports the API or the console"
KERNEL = "The shared kernel depends on no domain app"
WECOM = "WeCom: handlers above tasks above the glossary modules above the outbox and the client"
PRODUCT = "The product never imports the simulator (it lives outside the product package)"
APPS = "App configs never import the console"
SEED = "No domain app imports the demo data generator (it imports them)"
HANDLERS = "API handlers and console views write only through services (no model imports)"
LAYERS = "Inside each app: api/views above tasks above services above queries above models"
STOREFRONT = "The storefront (the shopper's side) sits on orders: orders and the apps below never import it"


def _contracts_section() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("[tool.importlinter]")
    rest = text[start:]
    end = re.search(r"^\[tool\.(?!importlinter)", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("contracts")
    skip = shutil.ignore_patterns(
        "__pycache__", "static", "templates", "locale", "*.mo", "*.po", "*.html", "*.js", "*.css", "*.svg")
    for package in ("siyu", "simulator"):
        shutil.copytree(ROOT / package, base / package, ignore=skip)
    (base / "pyproject.toml").write_text(_contracts_section(), encoding="utf-8")
    return base


@pytest.fixture()
def scratch(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(pristine, target)
    return target


_VERDICT = re.compile(r"^(.+?) BROKEN(?: \(\d+ ignored imports?\))?$")


def _broken(where: Path) -> set[str]:
    """The names of the contracts lint-imports reports broken, run in `where` on its copy of the package."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "500"})  # one contract per line, however long its name
    report = result.stdout + result.stderr
    assert "Contracts:" in report, report  # it ran the contracts (not a configuration error)
    broken = {found.group(1) for line in report.splitlines() if (found := _VERDICT.match(line))}
    assert (result.returncode != 0) == bool(broken), report
    return broken


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n{line}\n")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, line in files.items():
        (root / name).write_text(f"{line}\n", encoding="utf-8")


def test_the_untouched_copy_keeps_every_contract(pristine: Path) -> None:
    assert _broken(pristine) == set()


BREACHES: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    # catalog <-> promotions again: the demo catalog calling the promotions it no longer knows about
    "a cycle between apps": (
        lambda root: _append(root / "siyu/catalog/services.py", "from siyu.promotions import services as _p"),
        {CYCLES},
    ),
    # orders services (imports) -> tasks -> services: the cycle the task registry (siyu.core.jobs) removed
    "a service importing its tasks": (
        lambda root: _append(root / "siyu/orders/services/imports.py", "from siyu.orders import tasks as _t"),
        {CYCLES, LAYERS},
    ),
    # two modules of a channel sub-package importing each other (nothing else about them is special)
    "a cycle between two modules of a channel": (
        lambda root: _write(root, {
            "siyu/channels/wecom/scratch_a.py": "from siyu.channels.wecom import scratch_b",
            "siyu/channels/wecom/scratch_b.py": "from siyu.channels.wecom import scratch_a",
        }),
        {CYCLES},
    ),
    "a model importing its app's services": (
        lambda root: _append(root / "siyu/customers/models.py", "from siyu.customers import services as _s"),
        {CYCLES, LAYERS},
    ),
    "a query reaching up into a service": (
        lambda root: _append(root / "siyu/promotions/queries.py", "from siyu.promotions import services as _s"),
        {LAYERS},
    ),
    "one WeCom glossary module importing an independent sibling": (
        lambda root: _append(root / "siyu/channels/wecom/tags.py", "from siyu.channels.wecom import inheritance as _i"),
        {WECOM},
    ),
    "the outbox importing a glossary module above it": (
        lambda root: _append(root / "siyu/channels/wecom/outbox.py", "from siyu.channels.wecom import mass_sends"),
        {CYCLES, WECOM},
    ),
    "a channel handler importing a channel model": (
        lambda root: _append(root / "siyu/channels/wecom/api.py", "from siyu.channels.wecom.models import MassSend"),
        {HANDLERS},
    ),
    "a channel service importing a console view": (
        lambda root: _append(root / "siyu/channels/official_account/services.py",
                             "from siyu.console import views as _v"),
        {DOMAIN},
    ),
    "the kernel importing a domain app": (
        lambda root: _write(root, {"siyu/core/scratch.py": "from siyu.orders.models import Order"}),
        {CYCLES, KERNEL},
    ),
    "an app config importing the console": (
        lambda root: _append(root / "siyu/orders/apps.py", "from siyu.console import labels as _l"),
        {APPS},
    ),
    "the product importing the simulator": (
        lambda root: _append(root / "siyu/orders/seed.py", "from simulator import miniprogram as _mp"),
        {PRODUCT},
    ),
    # orders reaching up into the shopper's side it serves (storefront -> orders already, so also a cycle)
    "orders importing the storefront": (
        lambda root: _append(root / "siyu/orders/services/states.py",
                             "from siyu.storefront.services import cart as _c"),
        {CYCLES, STOREFRONT},
    ),
    # the store design's services read queries (the mall's code for hot-zone links), so the same import closes a
    # cycle as well
    "a storefront query reaching up into its services": (
        lambda root: _append(root / "siyu/storefront/queries.py", "from siyu.storefront.services import cart as _c"),
        {CYCLES, LAYERS},
    ),
    # planted in an app the generator never reaches (it reaches org, customers, channels, catalog, orders and finance,
    # where the same import would close a cycle as well), so only the seed contract can object
    "a domain app importing the demo generator": (
        lambda root: _write(root, {"siyu/content/scratch.py": "from siyu.seed import runner"}),
        {SEED},
    ),
}


@pytest.mark.parametrize("breach", sorted(BREACHES))
def test_each_breach_breaks_the_contract_meant_to_catch_it(scratch: Path, breach: str) -> None:
    plant, expected = BREACHES[breach]
    plant(scratch)
    assert _broken(scratch) == expected
