"""Bad input is a 4xx JSON body naming the code and the field at fault, never a 500, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from siyu.customers.models import Customer, CustomerTag, Identity
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import CustomerFactory, EnterpriseFactory, TagFactory, TagGroupFactory


def test_unauthenticated_calls_get_401(db: None, anonymous: Api) -> None:
    for response in (anonymous.get("/api/customers"), anonymous.post("/api/customers", {"name": "x"})):
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    forged = Api("siyu_not-a-real-token")
    assert forged.get("/api/org/staff").status_code == 401
    assert not Customer.objects.exists()


def test_revoked_token_is_refused(org: Org) -> None:
    from siyu.org.services import create_api_token, revoke_api_token

    token, secret = create_api_token(staff=org.hq, name="old")
    assert Api(secret).get("/api/customers").status_code == 200
    revoke_api_token(token_id=token.pk)
    assert Api(secret).get("/api/customers").status_code == 401


def test_invalid_phone(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    response = api.post("/api/customers", {"name": "A", "phone": "12345"})
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("invalid_phone", "phone")
    customer = CustomerFactory.create(enterprise=org.enterprise)
    patched = api.patch(f"/api/customers/{customer.pk}", {"phone": "2345678901"})
    assert (patched.status_code, patched.json()["code"], patched.json()["field"]) == (422, "invalid_phone", "phone")
    assert not Customer.objects.filter(name="A").exists()


def test_unknown_tag_names_its_index(org: Org, api_as: Callable[[Staff], Api]) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise))
    other_brand = EnterpriseFactory.create(code="other-brand")
    other_brand_tag = TagFactory.create(group=TagGroupFactory.create(enterprise=other_brand))  # not ours
    for path in ("/api/tags/bulk-tag", "/api/tags/bulk-untag"):
        response = api_as(org.hq).post(path, {"customer_ids": [customer.pk], "tag_ids": [tag.pk, other_brand_tag.pk]})
        assert response.status_code == 404
        body = response.json()
        assert (body["code"], body["field"], body["index"]) == ("unknown_tag", "tag_ids", 1)
    assert not CustomerTag.objects.exists()


def test_identity_claimed_by_another_customer_is_409(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    owner = api.post("/api/customers", {"identities": [{"kind": "unionid", "value": "oSAME"}]}).json()
    other = CustomerFactory.create(enterprise=org.enterprise)
    response = api.post(f"/api/customers/{other.pk}/identities", {"kind": "unionid", "value": "oSAME"})
    assert response.status_code == 409
    assert response.json()["code"] == "identity_taken"
    created = api.post("/api/customers", {"name": "dup", "identities": [{"kind": "unionid", "value": "oSAME"}]})
    assert created.status_code == 409 and created.json()["code"] == "identity_taken"
    assert Identity.objects.get(kind="unionid", value="oSAME").customer_id == owner["id"]
    assert not Customer.objects.filter(name="dup").exists()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/customers", {"name": 123}, "name"),
        ("post", "/api/customers", {"gender": "robot"}, "gender"),
        ("post", "/api/customers", {"created_source": "carrier-pigeon"}, "created_source"),
        ("post", "/api/customers", {"birthday": "next tuesday"}, "birthday"),
        ("post", "/api/customers", {"birthday": "2999-01-01"}, "birthday"),
        ("post", "/api/customers", {"nickname": "typo"}, "nickname"),
        ("post", "/api/customers", {"identities": [{"kind": "email", "value": "a@b.c"}]}, "identities[0].kind"),
        ("post", "/api/customers", {"identities": [{"kind": "unionid"}]}, "identities[0].value"),
        ("post", "/api/customers", {"name": "x" * 65}, "name"),
        ("post", "/api/customers", {"home_store_id": 987654}, "home_store_id"),
        ("post", "/api/customers/merge", {}, "survivor_id"),
        ("post", "/api/customers/merge", {"survivor_id": "one", "absorbed_id": 2}, "survivor_id"),
        ("post", "/api/tags/bulk-tag", {"customer_ids": [], "tag_ids": [1]}, "customer_ids"),
        ("post", "/api/tags/bulk-tag", {"customer_ids": "all", "tag_ids": [1]}, "customer_ids"),
        ("post", "/api/tag-groups", {"name": ""}, "name"),
        ("post", "/api/events/batch", {"events": []}, "events"),
        ("post", "/api/events/batch", {}, "events"),
        ("post", "/api/org/tokens", {"name": "t"}, "staff_id"),
        ("get", "/api/customers", {"page_size": 100000}, "page_size"),
        ("get", "/api/customers", {"page": 0}, "page"),
        ("get", "/api/customers", {"page": "two"}, "page"),
        ("get", "/api/customers", {"channel": "telepathy"}, "channel"),
        ("get", "/api/customers", {"relationship_status": "married"}, "relationship_status"),
        ("get", "/api/org/staff", {"page_size": 201}, "page_size"),
    ],
)
def test_malformed_input_is_a_4xx_naming_the_field(
    org: Org, api_as: Callable[[Staff], Api], method: str, path: str, body: dict[str, Any], field: str
) -> None:
    api = api_as(org.hq)
    response = api.get(path, **body) if method == "get" else api.post(path, body)
    assert 400 <= response.status_code < 500, response.content
    payload = response.json()
    assert payload["field"] == field, payload
    assert payload["code"] and payload["message"]
    assert not Customer.objects.exists()


def test_body_that_is_not_json_is_a_4xx(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    response = api.client.post("/api/customers", "{not json", content_type="application/json", headers=api.headers)
    assert 400 <= response.status_code < 500
    assert "code" in response.json()
    wrong_shape = api.post("/api/customers", ["a", "list"])
    assert 400 <= wrong_shape.status_code < 500


def test_unknown_customer_and_path_type(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    missing = api.get("/api/customers/424242")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert api.get("/api/customers/abc").status_code == 404
    assert api.patch("/api/customers/424242", {"name": "x"}).status_code == 404
