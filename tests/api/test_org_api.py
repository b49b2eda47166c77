from __future__ import annotations

import hashlib
from collections.abc import Callable

from siyu.core.models import AuditEntry
from siyu.org.models import ApiToken, Staff
from tests.api.conftest import Api
from tests.conftest import Org


def test_regions_stores_and_staff_follow_the_scope(org: Org, api_as: Callable[[Staff], Api]) -> None:
    north = api_as(org.north_manager)
    regions = north.get("/api/org/regions").json()
    assert [(r["code"], r["store_count"]) for r in regions["items"]] == [("north", 2)]
    assert [s["code"] for s in north.get("/api/org/stores").json()["items"]] == ["bj1", "tj1"]

    n1 = api_as(org.n1_manager)
    [store] = n1.get("/api/org/stores").json()["items"]
    assert (store["code"], store["staff_count"], store["region"]["name"]) == ("bj1", 2, "North")
    assert {s["id"] for s in n1.get("/api/org/staff").json()["items"]} == {org.n1_manager.pk, org.n1_staff.pk}
    assert {s["id"] for s in api_as(org.s1_staff).get("/api/org/staff").json()["items"]} == {org.s1_staff.pk}

    hq = api_as(org.hq)
    assert [r["code"] for r in hq.get("/api/org/regions").json()["items"]] == ["north", "south"]
    first = hq.get("/api/org/staff", page_size=4).json()
    second = hq.get("/api/org/staff", page_size=4, page=2).json()
    assert (first["total"], first["pages"], len(first["items"]), len(second["items"])) == (6, 2, 4, 2)


def test_hq_creates_a_token_whose_secret_is_shown_once(org: Org, api_as: Callable[[Staff], Api]) -> None:
    response = api_as(org.hq).post("/api/org/tokens", {"staff_id": org.n1_staff.pk, "name": "POS bj1"})
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("siyu_") and body["prefix"] == secret[:12]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.name, token.prefix, token.token_hash)
    # the new token acts with the staff member's scope
    staff = Api(secret).get("/api/org/staff").json()["items"]
    assert [s["id"] for s in staff] == [org.n1_staff.pk]
    entry = AuditEntry.objects.get(action="api_token.create", target_id=str(org.n1_staff.pk))
    assert entry.actor == org.hq.user and entry.actor_label == "hq"


def test_only_hq_creates_tokens(org: Org, api_as: Callable[[Staff], Api]) -> None:
    before = ApiToken.objects.count()
    refused = api_as(org.north_manager).post("/api/org/tokens", {"staff_id": org.n1_staff.pk, "name": "x"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    missing = api_as(org.hq).post("/api/org/tokens", {"staff_id": 987654, "name": "x"})
    assert (missing.status_code, missing.json()["field"]) == (404, "staff_id")
    blank = api_as(org.hq).post("/api/org/tokens", {"staff_id": org.n1_staff.pk, "name": "   "})
    assert (blank.status_code, blank.json()["field"]) == (422, "name")
    assert ApiToken.objects.count() == before + 3  # only the three callers' own tokens
