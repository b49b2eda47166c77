"""The journey builder page: HQ adds, reorders and removes steps by round trips, sees pydantic's errors beside the
field they concern (nothing saved), saves a draft, and editing the live journey writes version 2 (those inside stay
on version 1). Managers below HQ are refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from siyu.automation.models import Journey
from tests.automation.helpers import build_world
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def _fields(page: str) -> dict[str, Any]:
    """The form's inputs and selected options as a browser would post them (the test's own tiny parser)."""
    out: dict[str, Any] = {}
    for name, value in re.findall(r'<input (?:type="hidden" )?name="([^"]+)" value="([^"]*)"', page):
        out[name] = value
    for name, value in re.findall(r'<input name="([^"]+)"[^>]*? value="([^"]*)"', page):
        out[name] = value
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body) or re.search(r'<option value="([^"]*)"', body)
        out[name] = chosen.group(1) if chosen else ""
    out.pop("csrfmiddlewaretoken", None)
    return out


def test_hq_builds_edits_and_sees_errors_inline(org: Org) -> None:
    build_world(org)
    hq = Client()
    assert org.hq.user is not None
    hq.force_login(org.hq.user)
    page = hq.get("/journeys/new/").content.decode()
    form = {**_fields(page), "name": "新客三步", "entry_event": "wecom_contact_added"}
    assert form["count"] == "2" and form["n-0-kind"] == "wait" and form["n-1-kind"] == "action"
    added = hq.post("/journeys/new/", {**form, "op": "add:exit"}).content.decode()
    form = {**_fields(added), "name": "新客三步"}
    assert form["count"] == "3" and form["n-2-kind"] == "exit" and form["n-2-id"] == "3"
    moved = _fields(hq.post("/journeys/new/", {**form, "op": "up:1"}).content.decode())
    assert (moved["n-0-kind"], moved["n-1-kind"]) == ("action", "wait")
    bad = hq.post("/journeys/new/", {**form, "n-0-minutes": "-5", "op": "save"})
    text = bad.content.decode()
    assert bad.status_code == 422 and not Journey.objects.exists()
    card = text[text.index('id="node-0"'):text.index('id="node-1"')]
    assert "errorlist" in card and "n-0-minutes" in card  # the error sits in the wait step's card
    removed = _fields(hq.post("/journeys/new/", {**form, "op": "remove:2"}).content.decode())
    assert removed["count"] == "2"
    saved = hq.post("/journeys/new/", {**form, "n-1-title": "打个招呼", "op": "save"})
    journey = Journey.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/journeys/{journey.pk}/"
    version = journey.current_version
    assert version is not None and [n["kind"] for n in version.definition["nodes"]] == ["wait", "action", "exit"]
    assert hq.post(f"/journeys/{journey.pk}/status/", {"status": "live"}).status_code == 302
    edit = _fields(hq.get(f"/journeys/{journey.pk}/edit/").content.decode())
    assert edit["n-0-minutes"] == "60" and edit["name"] == "新客三步"
    hq.post(f"/journeys/{journey.pk}/edit/", {**edit, "n-0-minutes": "30", "op": "save"})
    journey.refresh_from_db()
    assert journey.current_version is not None and journey.current_version.number == 2
    assert journey.current_version.definition["nodes"][0]["minutes"] == 30
    loop = hq.post(f"/journeys/{journey.pk}/edit/", {**edit, "n-0-next": "1", "n-2-kind": "action",
                                                      "n-2-action": "create_task", "n-2-title": "x",
                                                      "n-2-next": "1", "op": "save"})
    assert loop.status_code == 422 and 'id="builder-error"' in loop.content.decode()
    north = Client()
    assert org.north_manager.user is not None
    north.force_login(org.north_manager.user)
    assert north.get("/journeys/new/").status_code == 403
