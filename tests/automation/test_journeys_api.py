"""The journeys API: HQ drafts, edits (a new version once live), activates; field-level 422s; store staff are
refused; another enterprise's journey is a 404; per-node counts and a customer's steps after a tick; audit rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.automation import services
from siyu.core.models import AuditEntry
from siyu.org.models import Staff
from tests.automation.helpers import added, build_world, customer, welcome
from tests.conftest import Org
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def test_hq_drafts_activates_edits_and_reads_counts(org: Org) -> None:
    world = build_world(org)
    hq = _client(org.hq)
    bad = hq.post("/api/journeys", {"name": "欢迎", "definition": {**welcome(world), "nodes": [
        {"id": "w", "kind": "wait", "minutes": -1}]}}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "definition.nodes.0.minutes", bad.json()
    loop = hq.post("/api/journeys", {"name": "环", "definition": {"entry": {"kind": "event", "event": "x"}, "nodes": [
        {"id": "a", "kind": "action", "action": "create_task", "title": "t", "next": "a"}]}},
        content_type="application/json")
    assert loop.status_code == 422 and loop.json()["code"] == "invalid_definition"
    created = hq.post("/api/journeys", {"name": "欢迎", "definition": welcome(world)},
                      content_type="application/json")
    assert created.status_code == 201 and created.json()["status"] == "draft" and created.json()["version"] == 1
    jid = created.json()["id"]
    assert hq.post(f"/api/journeys/{jid}/status", {"status": "live"},
                   content_type="application/json").json()["status"] == "live"
    person = customer(world, "甲", timezone.now() - timedelta(seconds=1))
    added(person, timezone.now() - timedelta(seconds=1))
    services.tick()
    edited = hq.put(f"/api/journeys/{jid}", {"name": "欢迎 v2", "definition": welcome(world, d1_tag=world.d3)},
                    content_type="application/json")
    assert edited.status_code == 200 and edited.json()["version"] == 2
    again = hq.put(f"/api/journeys/{jid}", {"name": "欢迎 v2", "definition": welcome(world, d1_tag=world.d3)},
                   content_type="application/json")
    assert again.json()["version"] == 2  # the same edit twice makes one version
    detail = hq.get(f"/api/journeys/{jid}").json()
    assert (detail["entered"], detail["inside"]) == (1, 1)
    by_node = {n["node"]: (n["inside"], n["passed"]) for n in detail["nodes"]}
    assert by_node["d0_tag"] == (0, 1) and by_node["d0_task"] == (0, 1) and by_node["wait1"] == (1, 0)
    steps = hq.get(f"/api/journeys/customers/{person.pk}/steps").json()
    assert [(s["node"], s["outcome"], s["version"]) for s in steps] == [("d0_task", "done", 1), ("d0_tag", "done", 1)]
    assert [j["id"] for j in hq.get("/api/journeys").json()] == [jid]
    assert set(AuditEntry.objects.filter(target_type="journey").values_list("action", flat=True)) == {
        "automation.journey", "automation.journey_status"}
    mine = _client(org.n1_staff).get("/api/journeys/tasks/mine").json()
    assert [t["title"] for t in mine] == ["打个招呼"]
    done = _client(org.n1_staff).post(f"/api/journeys/tasks/{mine[0]['id']}/done")
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert _client(org.s1_staff).post(f"/api/journeys/tasks/{mine[0]['id']}/done").status_code == 404


def test_roles_and_other_enterprises(org: Org) -> None:
    world = build_world(org)
    journey = services.create_journey(scope=world.hq, name="欢迎", definition=welcome(world))
    staff = _client(org.n1_staff)
    assert staff.get("/api/journeys").status_code == 403
    refused = staff.post("/api/journeys", {"name": "x", "definition": welcome(world)}, content_type="application/json")
    assert refused.status_code == 403
    assert _client(org.n1_manager).get(f"/api/journeys/{journey.pk}").status_code == 200
    other = EnterpriseFactory.create(name="Other", code="other-brand", wecom_corp_id="wwother")
    foreign = services.create_journey(scope=services.Scope.hq(other.pk), name="别家", definition={
        "entry": {"kind": "event", "event": "order_paid"}, "nodes": [{"id": "x", "kind": "exit"}]})
    hq = _client(org.hq)
    seen = hq.get(f"/api/journeys/{foreign.pk}")
    assert seen.status_code == 404, (seen.json(), foreign.enterprise_id, org.enterprise.pk)
    assert hq.post(f"/api/journeys/{foreign.pk}/status", {"status": "live"},
                   content_type="application/json").status_code == 404
    unknown_tag = hq.post("/api/journeys", {"name": "t", "definition": {
        "entry": {"kind": "event", "event": "order_paid"},
        "nodes": [{"id": "t", "kind": "action", "action": "add_tag", "tag_id": 999999}]}},
        content_type="application/json")
    assert unknown_tag.status_code == 422 and unknown_tag.json()["field"] == "definition.nodes.0.tag_id"
