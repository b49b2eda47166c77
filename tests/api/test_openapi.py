from __future__ import annotations

from django.test import Client


def test_openapi_documents_the_customer_and_org_endpoints(db: None) -> None:
    schema = Client().get("/api/openapi.json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/customers", "get"),
        ("/api/customers", "post"),
        ("/api/customers/{customer_id}", "get"),
        ("/api/customers/{customer_id}", "patch"),
        ("/api/customers/{customer_id}/identities", "post"),
        ("/api/customers/merge", "post"),
        ("/api/customers/{customer_id}/timeline", "get"),
        ("/api/tag-groups", "get"),
        ("/api/tag-groups", "post"),
        ("/api/tag-groups/{group_id}/tags", "post"),
        ("/api/tags/bulk-tag", "post"),
        ("/api/tags/bulk-untag", "post"),
        ("/api/events/batch", "post"),
        ("/api/event-types", "get"),
        ("/api/org/regions", "get"),
        ("/api/org/stores", "get"),
        ("/api/org/staff", "get"),
        ("/api/org/tokens", "post"),
    ]:
        operation = paths[path][method]
        ok = operation["responses"].get("200") or operation["responses"].get("201")
        assert "$ref" in str(ok["content"]), (path, method)
        assert "ErrorOut" in str(operation["responses"]["422"]), (path, method)
    components = schema["components"]["schemas"]
    assert set(components["Gender"]["enum"]) == {"unknown", "male", "female"}
    assert "identities" in components["ProfileOut"]["properties"]


def test_every_create_that_needs_a_key_declares_the_idempotency_header(db: None) -> None:
    """The routes answered once per client key (hand-listed) say so in the document; a client generated from it sends
    the header. Routes that take no key do not advertise one."""
    paths = Client().get("/api/openapi.json").json()["paths"]

    def header_names(path: str, method: str) -> set[str]:
        return {p["name"] for p in paths[path][method].get("parameters", []) if p["in"] == "header"}

    keyed = [
        ("/api/storefront/orders", "post"),
        ("/api/storefront/presale-orders", "post"),
        ("/api/storefront/orders/{order_id}/refunds", "post"),
        ("/api/storefront/ugc", "post"),
        ("/api/channels/wecom/codes", "post"),
        ("/api/channels/wecom/transfers", "post"),
        ("/api/channels/wecom/mass-sends", "post"),
        ("/api/channels/wecom/moments", "post"),
    ]
    for path, method in keyed:
        assert "Idempotency-Key" in header_names(path, method), (path, method)
    assert "Idempotency-Key" not in header_names("/api/storefront/cart/items", "post")
    assert "Idempotency-Key" not in header_names("/api/customers", "post")
