from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from siyu.catalog.models import Bundle, Category, Product, Sku
from siyu.org.scope import Scope, scope_for_staff
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import EnterpriseFactory, StaffFactory


@pytest.fixture
def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


@pytest.fixture
def hq_client(org: Org, client: Client) -> Client:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assertions read the English source strings
    return client


def _management(prefix: str, total: int, initial: int = 0) -> dict[str, Any]:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _product_post(category: Category, rows: list[dict[str, str]], **fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "纯棉T恤", "category": str(category.pk), "role": "profit", "status": "on_sale",
                            "all_stores": "on", **fields, **_management("sku", len(rows) + 1)}
    for i, row in enumerate(rows):
        data.update({f"sku-{i}-{k}": v for k, v in row.items()})
    data.update({f"sku-{len(rows)}-stock": "0", f"sku-{len(rows)}-is_active": "on"})  # an untouched blank row
    return data


def test_the_pages_render(hq_client: Client, hq: Scope) -> None:
    p = product(hq, "抽纸", sku("TS-1", 1990, 1790))
    for url in ["/catalog/", "/catalog/products/new/", f"/catalog/products/{p.pk}/", "/catalog/categories/",
                "/catalog/bundles/", "/catalog/bundles/new/", "/catalog/?q=抽纸&role=profit"]:
        response = hq_client.get(url)
        assert response.status_code == 200, url
    listing = hq_client.get("/catalog/?q=抽纸").content.decode()
    assert "抽纸" in listing and "¥19.90" in listing


def test_create_a_product_with_yuan_prices(hq_client: Client, hq: Scope) -> None:
    category = leaf(hq)
    rows = [
        {"code": "TEE-R-M", "specs": "颜色:红; 尺码:M", "price": "59.90", "member_price": "49.9", "stock": "20",
         "is_active": "on"},
        {"code": "TEE-R-L", "specs": "颜色：红；尺码：L", "price": "¥1,059.00", "member_price": "", "stock": "5",
         "is_active": "on"},
    ]
    response = hq_client.post("/catalog/products/new/", _product_post(category, rows))
    assert response.status_code == 302
    made = Product.objects.get(name="纯棉T恤")
    skus = list(Sku.objects.filter(product=made).order_by("sort").values_list("code", "specs", "price_fen",
                                                                             "member_price_fen", "stock"))
    assert skus == [("TEE-R-M", {"颜色": "红", "尺码": "M"}, 5990, 4990, 20),
                    ("TEE-R-L", {"颜色": "红", "尺码": "L"}, 105900, None, 5)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"price": "12.345"}, "Enter an amount in yuan"),
        ({"price": "abc"}, "Enter an amount in yuan"),
        ({"price": "-1.00"}, "cannot be negative"),
        ({"member_price": "99.00"}, "member price cannot be above"),
        ({"specs": "颜色"}, "name:value"),
    ],
)
def test_bad_rows_show_on_the_row_and_save_nothing(hq_client: Client, hq: Scope, row: dict[str, str],
                                                   message: str) -> None:
    base = {"code": "TEE-1", "specs": "颜色:红", "price": "59.90", "member_price": "", "stock": "1",
            "is_active": "on"}
    response = hq_client.post("/catalog/products/new/", _product_post(leaf(hq), [{**base, **row}]))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Product.objects.count() == 0


def test_duplicate_spec_rows_are_refused(hq_client: Client, hq: Scope) -> None:
    rows = [{"code": f"TEE-{i}", "specs": "颜色:红", "price": "1", "stock": "1", "is_active": "on"} for i in (1, 2)]
    response = hq_client.post("/catalog/products/new/", _product_post(leaf(hq), rows))
    assert "same spec combination" in response.content.decode()
    assert Product.objects.count() == 0


def test_empty_name_is_refused(hq_client: Client, hq: Scope) -> None:
    rows = [{"code": "TEE-1", "specs": "", "price": "1", "stock": "1", "is_active": "on"}]
    response = hq_client.post("/catalog/products/new/", _product_post(leaf(hq), rows, name=""))
    assert response.status_code == 200
    assert Product.objects.count() == 0


def test_edit_keeps_stock_sold_meanwhile(hq_client: Client, hq: Scope) -> None:
    p = product(hq, "抽纸", sku("TS-1", 1990, stock=10))
    row = Sku.objects.get(product=p)
    Sku.objects.filter(pk=row.pk).update(stock=7)  # three sold after the editor was opened (it showed 10)
    data = _product_post(leaf(hq), [{"id": str(row.pk), "stock_seen": "10", "code": "TS-1", "specs": "",
                                     "price": "19.90", "stock": "15", "is_active": "on"}], name="抽纸")
    data["sku-INITIAL_FORMS"] = "1"
    assert hq_client.post(f"/catalog/products/{p.pk}/", data).status_code == 302
    row.refresh_from_db()
    assert row.stock == 12


def test_category_tree_page(hq_client: Client, hq: Scope) -> None:
    response = hq_client.post("/catalog/categories/", {"name": "个护美妆"})
    assert response.status_code == 302
    root = Category.objects.get(name="个护美妆")
    hq_client.post("/catalog/categories/", {"name": "护肤", "parent": str(root.pk)})
    child = Category.objects.get(name="护肤")
    deep = hq_client.post("/catalog/categories/", {"name": "面霜", "parent": str(child.pk)})
    assert deep.status_code == 200  # the third level is not offered as a parent: a form error
    assert not Category.objects.filter(name="面霜").exists()
    hq_client.post(f"/catalog/categories/{child.pk}/", {"action": "rename", "name": "护肤品"})
    assert Category.objects.get(pk=child.pk).name == "护肤品"
    page = hq_client.get("/catalog/categories/").content.decode()
    assert "护肤品" in page


def test_bundle_editor(hq_client: Client, hq: Scope) -> None:
    a = Sku.objects.get(product=product(hq, "牙膏", sku("TP", 1290, stock=9)))
    b = Sku.objects.get(product=product(hq, "牙刷", sku("TB", 1990, stock=50)))
    data = {"name": "口腔套装", "price": "39.90", "status": "on_sale", **_management("item", 3),
            "item-0-sku": str(a.pk), "item-0-quantity": "2", "item-1-sku": str(b.pk), "item-1-quantity": "1",
            "item-2-sku": "", "item-2-quantity": "1"}
    assert hq_client.post("/catalog/bundles/new/", data).status_code == 302
    bundle = Bundle.objects.get(name="口腔套装")
    assert (bundle.price_fen, sorted(bundle.items.values_list("sku_id", "quantity"))) == (3990, [(a.pk, 2), (b.pk, 1)])
    page = hq_client.get(f"/catalog/bundles/{bundle.pk}/").content.decode()
    assert "4 can sell now" in page  # min(9 // 2, 50 // 1)
    too_dear = {**data, "name": "贵套装", "price": "99.00"}
    response = hq_client.post("/catalog/bundles/new/", too_dear)
    assert response.status_code == 200 and "above its parts" in response.content.decode()


def test_store_staff_can_look_but_not_edit(org: Org, client: Client, hq: Scope) -> None:
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    assert client.get("/catalog/").status_code == 200
    assert "new-product" not in client.get("/catalog/").content.decode()
    rows = [{"code": "X-1", "specs": "", "price": "1", "stock": "1", "is_active": "on"}]
    response = client.post("/catalog/products/new/", _product_post(leaf(hq), rows))
    assert response.status_code == 403
    assert Product.objects.count() == 0


def test_sign_in_required(client: Client) -> None:
    assert client.get("/catalog/").status_code == 302


def test_an_absurd_page_number_is_not_an_error(hq_client: Client) -> None:
    response = hq_client.get("/catalog/", {"page": "461168601842738792"})
    assert response.status_code == 200


def test_bundle_parts_are_picked_from_a_search(hq_client: Client, hq: Scope) -> None:
    """The bundle editor's SKU is the console's scoped picker, not a select of every SKU: the search finds the SKU,
    a saved part reads as a chip, and a SKU of another enterprise is refused beside the row."""
    a = Sku.objects.get(product=product(hq, "牙膏", sku("TP", 1290, stock=9)))
    form = hq_client.get("/catalog/bundles/new/").content.decode()
    assert 'data-picker data-name="item-0-sku"' in form and '<select name="item-0-sku"' not in form
    found = hq_client.get("/pick/skus/", {"q": "牙膏", "name": "item-0-sku"}).content.decode()
    assert f'data-pick="{a.pk}"' in found
    data = {"name": "牙膏双支", "price": "20.00", "status": "draft", **_management("item", 1),
            "item-0-sku": str(a.pk), "item-0-quantity": "2"}
    assert hq_client.post("/catalog/bundles/new/", data).status_code == 302
    bundle = Bundle.objects.get(name="牙膏双支")
    page = hq_client.get(f"/catalog/bundles/{bundle.pk}/").content.decode()
    assert f'data-chip="{a.pk}"' in page and "TP · 牙膏" in page
    other = scope_for_staff(StaffFactory.create(enterprise=EnterpriseFactory.create(code="other-brand"),
                                                role="hq_admin"))
    theirs = Sku.objects.get(product=product(other, "别家牙膏", sku("OT", 990, stock=5)))
    refused = hq_client.post("/catalog/bundles/new/", {**data, "name": "越界", "item-0-sku": str(theirs.pk)})
    assert refused.status_code == 200 and not Bundle.objects.filter(name="越界").exists()
    assert "errs" in refused.content.decode() and str(theirs.pk) in refused.content.decode()
