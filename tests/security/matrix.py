"""Runs one request as each role and sorts the answer into an outcome class, for the permission matrix tests.

Each request runs inside a savepoint that is rolled back afterwards, so every role meets the same world: HQ deleting a
tag does not turn the next role's answer into a 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.test import Client

from tests.security.world import SHOPPER_TOKEN, World

ROLES = ("hq", "region", "store_mgr", "staff", "anon", "other", "shopper")
PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class Row:
    method: str
    template: str
    expected: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    def path(self, world: World) -> str:
        return PLACEHOLDER.sub(lambda m: world.in_path(m.group(1)), self.template)


def parse(table: str) -> list[Row]:
    rows = []
    for line in table.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        method, template, *outcomes = line.split()
        if len(outcomes) != len(ROLES):
            raise AssertionError(f"{method} {template}: {len(outcomes)} outcomes for {len(ROLES)} roles")
        rows.append(Row(method, template, tuple(outcomes)))
    keys = [row.key for row in rows]
    duplicated = {k for k in keys if keys.count(k) > 1}
    assert not duplicated, f"rows listed twice: {duplicated}"
    return rows


def outcome(status: int) -> str:
    """2xx and 3xx pass the gate ("ok"); 401, 403 and 404 are the gate's answers; anything else is shown as is (a
    400 or 422 means the request body is wrong for this world, a 5xx a bug)."""
    if status < 400:
        return "ok"
    return str(status)


def api_client(world: World, role: str) -> tuple[Client, dict[str, str]]:
    if role == "anon":
        return Client(raise_request_exception=False), {}
    if role == "shopper":
        return Client(raise_request_exception=False), {"Authorization": f"Bearer {SHOPPER_TOKEN}"}
    return Client(raise_request_exception=False), {"Authorization": f"Bearer {world.tokens[role]}"}


def console_client(world: World, role: str) -> Client:
    client = Client(raise_request_exception=False)
    org = world.org
    users = {"hq": org.hq.user, "region": org.north_manager.user, "store_mgr": org.n1_manager.user,
             "staff": org.n1_staff.user, "other": world.other_user}
    user = users.get(role)
    if user is not None:
        client.force_login(user)
    return client


def run_isolated(call: Callable[[], Any]) -> Any:
    """Run the request, remember its answer, and undo whatever it wrote."""
    holder: list[Any] = []
    block = transaction.atomic()
    block._from_testcase = True  # type: ignore[attr-defined]  # the harness's block, like pytest-django's own
    try:
        with block:
            holder.append(call())
            raise _Rollback
    except _Rollback:
        pass
    return holder[0]


def api_call(world: World, role: str, row: Row, body: Mapping[str, Any] | None, counter: list[int]) -> Any:
    client, headers = api_client(world, role)
    path = row.path(world)
    method = row.method.lower()
    if method == "get":
        return run_isolated(lambda: client.get(path, headers=headers))
    counter[0] += 1
    headers = {**headers, "Idempotency-Key": f"matrix-{counter[0]}"}
    if row.key == "POST /api/admin/order-imports":
        from tests.security.world import IMPORT_CSV

        upload = {"platform": "tmall", "file": _csv(IMPORT_CSV)}
        return run_isolated(lambda: client.post(path, upload, headers=headers))
    if row.key == "POST /api/org/sheets":
        from tests.security.world import ORG_CSV

        return run_isolated(lambda: client.post(path, {"file": _csv(ORG_CSV)}, headers=headers))
    if row.key == "POST /api/admin/member-imports":
        from django.core.files.uploadedfile import SimpleUploadedFile

        sheet = SimpleUploadedFile("m.csv", f"手机号\n1390000{counter[0]:04d}\n".encode(), content_type="text/csv")
        return run_isolated(lambda: client.post(path, {"file": sheet}, headers=headers))
    if row.key == "POST /api/admin/order-history-imports":
        from django.core.files.uploadedfile import SimpleUploadedFile

        text = f"门店编码,小票号,交易时间,会员手机号,实收金额\nbj1,H{counter[0]},2025-01-01 10:00,13900000001,9.9\n"
        history = SimpleUploadedFile("h.csv", text.encode(), content_type="text/csv")
        return run_isolated(lambda: client.post(path, {"file": history}, headers=headers))
    if row.key == "POST /api/admin/order-history":
        from django.core.files.uploadedfile import SimpleUploadedFile

        text = "门店编码,小票号,交易时间,会员手机号,实收金额\nbj1,M1,2025-01-01 10:00,13900000001,9.9\n"
        receipts = SimpleUploadedFile("pos.csv", text.encode(), content_type="text/csv")
        return run_isolated(lambda: client.post(path, {"file": receipts}, headers=headers))
    if row.key == "POST /api/content/personas/{staff}/avatar":
        from django.core.files.uploadedfile import SimpleUploadedFile

        from tests.content.helpers import png

        image = SimpleUploadedFile("a.png", png(32, 32), content_type="image/png")
        return run_isolated(lambda: client.post(path, {"file": image}, headers=headers))
    multipart = {  # multipart forms (neither needs a file)
        "POST /api/content/materials": {"kind": "text", "title": "开场白", "text": "{customer_name} 您好"},
        "POST /api/storefront/ugc": {"kind": "review", "text": "很好用"},
    }
    if row.key in multipart:
        fields = multipart[row.key]
        return run_isolated(lambda: client.post(path, fields, headers=headers))
    data = json.dumps(body) if body is not None else ""
    send = getattr(client, method)
    return run_isolated(lambda: send(path, data, content_type="application/json", headers=headers))


def _csv(text: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("tmall.csv", text.encode(), content_type="text/csv")
