"""Store design (店铺装修): drafts are never served, publishing makes a version, a rollback serves an older one again,
bad documents are refused with the JSON path of each problem, a store's variant falls back to HQ's, and another
brand's page or preview is a 404. Through the API (as HQ's console session) and the mall's home page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.org.scope import scope_for_staff
from siyu.promotions.models import CouponTemplate
from siyu.storefront.models import StorePage, StorePageVersion
from siyu.storefront.services import design
from tests.conftest import Org
from tests.factories import EnterpriseFactory, StaffFactory, UserFactory
from tests.orders.helpers import Shop
from tests.storefront.mall.conftest import base

pytestmark = pytest.mark.django_db
API = "/api/storefront-admin"


def _staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _doc(shop: Shop, *, title: str = "春季上新", products: list[int] | None = None) -> dict[str, Any]:
    return {"schema": 1, "title": title, "components": [
        {"type": "banner", "slides": [{"image_url": "/static/storefront/banner-spring.jpg",
                                       "link": f"/m/{shop.org.enterprise.code}/products/", "alt": "春季"}]},
        {"type": "product_grid", "title": "主推", "source": "products",
         "product_ids": products if products is not None else [shop.pan.product_id, shop.tissue.product_id],
         "limit": 6},
        {"type": "coupon_strip", "title": "领券", "template_ids": [_claimable(shop)]},
        {"type": "notice", "text": "满99包邮"},
    ]}


def _claimable(shop: Shop) -> int:
    return int(CouponTemplate.objects.get(enterprise_id=shop.enterprise_id, name="领券满100减20").pk)


def _put(client: Client, page_id: int, document: Any, **extra: Any) -> Any:
    return client.put(f"{API}/pages/{page_id}/draft", json.dumps({"document": document, **extra}),
                      content_type="application/json")


def _post(client: Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"{API}{path}", json.dumps(body or {}), content_type="application/json")


def _open(client: Client, store_id: int | None = None) -> dict[str, Any]:
    response = _post(client, "/pages", {"store_id": store_id})
    assert response.status_code == 200, response.content
    return dict(response.json())


def _home(org: Org, query: str = "") -> str:
    response = Client().get(f"{base(org)}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_a_draft_is_never_served_and_a_publish_is(org: Org, mall_shop: Shop) -> None:
    hq = _staff_client(org.hq)
    page = _open(hq)
    assert _put(hq, page["id"], _doc(mall_shop)).status_code == 200
    html = _home(org)
    assert "春季上新" not in html and 'data-component="banner"' not in html  # only the plain home page
    assert "热卖商品" in html

    published = _post(hq, f"/pages/{page['id']}/publish")
    assert published.status_code == 200, published.content
    assert published.json()["number"] == 1
    html = _home(org)
    assert "春季上新" in html and 'data-version="1"' in html and "banner-spring.jpg" in html
    # the grid in the designer's order (the pan first), and the chosen coupon
    assert html.index("不粘锅") < html.index("抽纸") and "领券满100减20" in html

    # a later draft stays unserved until it is published
    assert _put(hq, page["id"], _doc(mall_shop, title="夏日清凉"), base_revision=1).status_code == 200
    assert "夏日清凉" not in _home(org) and "春季上新" in _home(org)


def test_rollback_serves_the_earlier_version_again_and_both_are_audited(org: Org, mall_shop: Shop) -> None:
    hq = _staff_client(org.hq)
    page = _open(hq)
    _put(hq, page["id"], _doc(mall_shop, title="一版"))
    _post(hq, f"/pages/{page['id']}/publish")
    _put(hq, page["id"], _doc(mall_shop, title="二版"))
    _post(hq, f"/pages/{page['id']}/publish")
    assert "二版" in _home(org)

    back = _post(hq, f"/pages/{page['id']}/rollback", {"version": 1})
    assert back.status_code == 200, back.content
    assert back.json()["number"] == 3 and back.json()["rolled_back_from"] == 1
    html = _home(org)
    assert "一版" in html and "二版" not in html and 'data-version="3"' in html
    detail = hq.get(f"{API}/pages/{page['id']}").json()
    assert [v["number"] for v in detail["versions"]] == [3, 2, 1]
    assert detail["draft"]["title"] == "二版"  # the draft is left as it was
    actions = list(AuditEntry.objects.filter(target_type="store_page").order_by("id").values_list("action", flat=True))
    assert actions == ["store_page.publish", "store_page.publish", "store_page.rollback"]
    assert _post(hq, f"/pages/{page['id']}/rollback", {"version": 9}).status_code == 404


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda d: d["components"][1].update(product_ids=["x"]), "components[1].product_ids[0]"),
    (lambda d: d["components"][0]["slides"][0].update(image_url="javascript:alert(1)"),
     "components[0].slides[0].image_url"),
    (lambda d: d["components"].append({"type": "marquee", "text": "hi"}), "components[4]"),
    (lambda d: d["components"][3].pop("text"), "components[3].text"),
    (lambda d: d["components"][1].update(limit=500), "components[1].limit"),
    (lambda d: d["components"][2].update(colour="red"), "components[2].colour"),
    (lambda d: d.update(components=[{"type": "spacer", "height": 16}] * 31), "components"),
])
def test_a_bad_document_is_refused_with_the_path_and_nothing_is_saved(org: Org, mall_shop: Shop, mutate: Any,
                                                                      path: str) -> None:
    hq = _staff_client(org.hq)
    page = _open(hq)
    document = _doc(mall_shop)
    mutate(document)
    response = _put(hq, page["id"], document)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid_page" and body["field"] == path, body
    assert path in [e["path"] for e in body["errors"]]
    assert StorePage.objects.get(pk=page["id"]).draft_revision == 0


def test_ids_of_another_brand_are_refused_with_their_path(org: Org, mall_shop: Shop) -> None:
    other = EnterpriseFactory.create(name="别家品牌", code="other-brand")
    other_hq = StaffFactory.create(enterprise=other, name="o", role="hq_admin", user=UserFactory.create(username="o"))
    hq = _staff_client(org.hq)
    page = _open(hq)
    document = _doc(mall_shop, products=[mall_shop.pan.product_id, 10**9])
    body = _put(hq, page["id"], document).json()
    assert body["code"] == "invalid_page" and body["field"] == "components[1].product_ids[1]"

    # the other brand's HQ names this brand's coupon: not theirs
    theirs = _open(_staff_client(other_hq))
    refused = _put(_staff_client(other_hq), theirs["id"], _doc(mall_shop, products=[]))
    paths = [e["path"] for e in refused.json()["errors"]]
    assert "components[1].product_ids" in paths and "components[2].template_ids[0]" in paths


def test_another_brand_gets_404_for_the_page_and_its_preview(org: Org, mall_shop: Shop) -> None:
    other = EnterpriseFactory.create(name="别家品牌", code="other-brand")
    other_hq = StaffFactory.create(enterprise=other, name="o", role="hq_admin", user=UserFactory.create(username="o"))
    hq = _staff_client(org.hq)
    page = _open(hq)
    _put(hq, page["id"], _doc(mall_shop))
    stranger = _staff_client(other_hq)
    assert stranger.get(f"{API}/pages/{page['id']}").status_code == 404
    assert _put(stranger, page["id"], _doc(mall_shop)).status_code == 404
    assert _post(stranger, f"/pages/{page['id']}/publish").status_code == 404
    assert _post(stranger, f"/pages/{page['id']}/rollback", {"version": 1}).status_code == 404
    assert StorePageVersion.objects.count() == 0

    url = _post(hq, f"/pages/{page['id']}/preview").json()["url"]
    path = re.sub(r"^https?://[^/]+", "", url)
    assert "春季上新" in hq.get(path).content.decode()  # the designer sees the draft
    assert stranger.get(path).status_code == 404  # another brand's staff
    assert Client().get(path).status_code == 404  # a customer (not signed in to the console)
    assert _staff_client(org.n1_staff).get(path).status_code == 404  # staff who may not design it
    other_mall = f"/m/{other.code}/preview/{path.rstrip('/').rsplit('/', 1)[1]}/"
    assert stranger.get(other_mall).status_code == 404  # the token under the other brand's mall
    assert hq.get(path[:-3] + "xx/").status_code == 404  # a tampered token
    _put(hq, page["id"], _doc(mall_shop, title="改过"))
    assert hq.get(path).status_code == 404  # a preview shows the draft it was made for, or nothing


def test_store_variant_falls_back_to_hq_and_only_its_manager_or_hq_designs_it(org: Org, mall_shop: Shop) -> None:
    hq = _staff_client(org.hq)
    page = _open(hq)
    _put(hq, page["id"], _doc(mall_shop, title="总部首页"))
    _post(hq, f"/pages/{page['id']}/publish")
    assert "总部首页" in _home(org, "?store=bj1")  # no variant yet: HQ's

    manager = _staff_client(org.n1_manager)
    variant = _open(manager, org.store_n1.pk)
    assert _put(manager, variant["id"], _doc(mall_shop, title="北京一店")).status_code == 200
    assert _post(manager, f"/pages/{variant['id']}/publish").status_code == 200
    assert "北京一店" in _home(org, "?store=bj1")
    assert "总部首页" in _home(org) and "总部首页" in _home(org, "?store=gz1")

    assert _post(manager, "/pages", {"store_id": org.store_n2.pk}).status_code == 403  # not their store
    assert _put(manager, page["id"], _doc(mall_shop)).status_code == 404  # HQ's page is not theirs to see
    assert [p["id"] for p in manager.get(f"{API}/pages").json()] == [variant["id"]]
    assert _staff_client(org.n1_staff).get(f"{API}/pages").status_code == 403


def test_stale_save_and_empty_publish_are_refused(org: Org, mall_shop: Shop) -> None:
    hq = _staff_client(org.hq)
    page = _open(hq)
    assert _post(hq, f"/pages/{page['id']}/publish").json()["code"] == "empty_page"
    assert _put(hq, page["id"], _doc(mall_shop), base_revision=0).status_code == 200
    stale = _put(hq, page["id"], _doc(mall_shop, title="旧窗口"), base_revision=0)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_draft"
    assert _post(hq, f"/pages/{page['id']}/publish", {"revision": 0}).status_code == 409
    assert _post(hq, f"/pages/{page['id']}/publish", {"revision": 1}).status_code == 200
    schema = hq.get(f"{API}/page-schema").json()
    assert "components" in schema["properties"]


def test_publishing_twice_makes_two_versions_in_order(org: Org, mall_shop: Shop) -> None:
    hq = scope_for_staff(org.hq)
    page = design.open_page(scope=hq, store_id=None)
    design.save_draft(scope=hq, page_id=page.pk, document=_doc(mall_shop))
    numbers = [design.publish(scope=hq, page_id=page.pk).number for _ in range(2)]
    assert numbers == [1, 2]
    assert StorePage.objects.get(pk=page.pk).published_version == 2
