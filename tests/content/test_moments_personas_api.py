"""The API for the moments calendar and staff personas, with the console's rules: HQ plans, changes and cancels
moments (once per Idempotency-Key; a plan already handed to WeCom cannot change); every role reads the plans its
stores publish; a member sets their own persona, managers their team's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from siyu.content.models import MomentPlan, PlanStatus, StaffPersona
from siyu.core.models import AuditEntry
from tests.conftest import Org
from tests.content.conftest import token_client
from tests.factories import EnterpriseFactory, RegionFactory, StoreFactory

pytestmark = pytest.mark.django_db
WHEN = "2030-01-01T10:00:00+08:00"


def _plan(api: Client, key: str, **body: Any) -> Any:
    return api.post("/api/content/moments", {"planned_at": WHEN, "text": "新品预告", **body},
                    content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def test_hq_plans_once_per_key_and_changes_until_handed_over(org: Org, hq_api: Client) -> None:
    first, again = _plan(hq_api, "k1"), _plan(hq_api, "k1")
    assert first.status_code == 201 and again.json() == first.json()
    assert MomentPlan.objects.count() == 1
    assert _plan(hq_api, "k1", text="另一条").status_code == 409  # the same key with another body
    plan_id = first.json()["id"]
    changed = hq_api.put(f"/api/content/moments/{plan_id}", {"planned_at": "2030-01-02T09:30:00+08:00",
                                                             "text": " 改期 ", "store_id": org.store_n1.pk},
                         content_type="application/json")
    assert changed.status_code == 200
    assert (changed.json()["text"], changed.json()["store_id"]) == ("改期", org.store_n1.pk)
    assert changed.json()["planned_at"].startswith("2030-01-02T01:30:00")  # stored in UTC
    assert AuditEntry.objects.filter(action="content.moment_update").count() == 1
    MomentPlan.objects.filter(pk=plan_id).update(status=PlanStatus.CREATED)
    late = hq_api.put(f"/api/content/moments/{plan_id}", {"planned_at": WHEN, "text": "x"},
                      content_type="application/json")
    assert late.status_code == 409 and late.json()["code"] == "not_planned"
    assert hq_api.post(f"/api/content/moments/{plan_id}/cancel").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"planned_at": "2030-01-01T10:00:00", "text": "x"}, "planned_at"),  # no time zone
    ({"planned_at": WHEN, "text": "   "}, "text"),
    ({"planned_at": WHEN, "text": "长" * 2001}, "text"),
])
def test_bad_plans_are_refused_with_the_field(hq_api: Client, body: dict[str, Any], field: str) -> None:
    answer = hq_api.post("/api/content/moments", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="b")
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert MomentPlan.objects.count() == 0


def test_another_enterprises_store_is_not_found_and_nothing_is_written(org: Org, hq_api: Client) -> None:
    other = EnterpriseFactory.create(code="other-brand")
    store = StoreFactory.create(region=RegionFactory.create(enterprise=other, code="o1"), code="o1")
    answer = _plan(hq_api, "k2", store_id=store.pk)
    assert answer.status_code == 404 and MomentPlan.objects.count() == 0


def test_stores_read_their_plans_and_may_not_write(org: Org, hq_api: Client, staff_api: Client) -> None:
    everyone = _plan(hq_api, "a").json()["id"]
    mine = _plan(hq_api, "b", store_id=org.store_n1.pk).json()["id"]
    theirs = _plan(hq_api, "c", store_id=org.store_s1.pk).json()["id"]
    listed = staff_api.get("/api/content/moments", {"start": "2029-12-31", "days": "3"})
    assert sorted(p["id"] for p in listed.json()) == sorted([everyone, mine])
    assert staff_api.get(f"/api/content/moments/{theirs}").status_code == 404
    assert _plan(staff_api, "d").status_code == 403
    assert staff_api.post(f"/api/content/moments/{mine}/cancel").status_code == 403
    assert staff_api.get("/api/content/moments", {"days": 400}).status_code in (400, 422)


def test_a_huge_body_is_refused_without_a_write(hq_api: Client) -> None:
    body = '{"planned_at": "' + WHEN + '", "text": "' + "x" * (10 * 1024 * 1024) + '"}'
    answer = hq_api.post("/api/content/moments", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big")
    assert 400 <= answer.status_code < 500 and MomentPlan.objects.count() == 0


def test_personas_by_the_rules_of_the_console(org: Org, hq_api: Client, staff_api: Client) -> None:
    mine = staff_api.put(f"/api/content/personas/{org.n1_staff.pk}", {
        "nickname": "小美", "signature": "您的穿搭顾问", "persona_type": "stylist"}, content_type="application/json")
    assert mine.status_code == 200
    assert mine.json()["missing"] == ["avatar"] and mine.json()["nickname"] == "小美"
    assert staff_api.put(f"/api/content/personas/{org.n2_staff.pk}", {"nickname": "x"},
                         content_type="application/json").status_code == 404  # not theirs
    bad = staff_api.put(f"/api/content/personas/{org.n1_staff.pk}", {"persona_type": "wizard"},
                        content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "persona_type"
    assert StaffPersona.objects.get(staff=org.n1_staff).persona_type == "stylist"  # the refusal wrote nothing
    assert [p["staff_id"] for p in staff_api.get("/api/content/personas").json()] == [org.n1_staff.pk]
    manager = token_client(org.n1_manager)
    assert manager.put(f"/api/content/personas/{org.n1_staff.pk}", {"nickname": "小美美"},
                       content_type="application/json").status_code == 200
    checklist = {r["store"]: (r["staff"], r["complete"]) for r in hq_api.get("/api/content/personas/checklist").json()}
    assert checklist[org.store_n1.name] == (2, 0)  # n1_mgr and n1_staff; nobody has an avatar yet
    n1 = next(r for r in hq_api.get("/api/content/personas/checklist").json() if r["store"] == org.store_n1.name)
    # the manager's PUT left n1_staff with only a nickname (a PUT sets every field); n1_mgr has no persona at all
    assert (n1["no_nickname"], n1["no_avatar"], n1["no_signature"], n1["no_type"]) == (1, 2, 2, 2)


def test_avatars_through_the_api_are_checked_by_content(org: Org, staff_api: Client, _media: Any,
                                                        django_capture_on_commit_callbacks: Any) -> None:
    from tests.content.conftest import stored_files
    from tests.content.helpers import HTML, png, png_bomb, upload

    path = f"/api/content/personas/{org.n1_staff.pk}/avatar"
    refused = [
        (upload("me.png", HTML, "image/png"), "wrong_type"),  # a page behind an image's name and type
        (upload("me.png", png_bomb(), "image/png"), "image_too_large"),  # 10^10 pixels in a few hundred bytes
        (upload("me.png", b"\x89PNG" + b"\x00" * (2 * 1024 * 1024 + 1), "image/png"), "too_large"),
    ]
    for file, code in refused:
        answer = staff_api.post(path, {"file": file})
        assert answer.status_code == 422 and answer.json()["code"] == code
        assert answer.json()["field"] == "avatar"
    assert not StaffPersona.objects.exists() and stored_files(_media) == []
    with django_capture_on_commit_callbacks(execute=True):  # the original is removed once committed
        ok = staff_api.post(path, {"file": upload("../../etc/passwd.png", png(300, 200), "image/png")})
    assert ok.status_code == 200 and ok.json()["has_avatar"] is True and ok.json()["missing"] == [
        "nickname", "signature", "persona_type"]
    files = stored_files(_media)
    assert len(files) == 1 and files[0].startswith(f"content/{org.enterprise.pk}/") and "passwd" not in files[0]
    image = staff_api.get(path)
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert image["X-Content-Type-Options"] == "nosniff"
    with django_capture_on_commit_callbacks(execute=True):
        again = staff_api.post(path, {"file": upload("b.png", png(40, 40, (0, 200, 0)), "image/png")})
    assert again.status_code == 200 and len(stored_files(_media)) == 1  # the old avatar's file is removed
    # another team's member is a 404, whoever asks; HQ may set anyone's
    assert staff_api.post(f"/api/content/personas/{org.n2_staff.pk}/avatar",
                          {"file": upload("c.png", png(), "image/png")}).status_code == 404
    assert staff_api.get(f"/api/content/personas/{org.n2_staff.pk}/avatar").status_code == 404
    assert AuditEntry.objects.filter(action="content.persona_avatar", target_id=str(org.n1_staff.pk)).count() == 2
