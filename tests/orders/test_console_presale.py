"""HQ creates a presale in the console: times typed in Beijing time, refusals beside their field with nothing
written, one presale however often the same form is submitted; other roles may not open the form."""

from __future__ import annotations

from typing import Any

from django.test import Client

from siyu.orders.models import Presale
from tests.orders.helpers import Shop


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def _form(shop: Shop, hq: Client, **over: str) -> dict[str, str]:
    page = hq.get("/orders/presales/new/").content.decode()
    key = page.split('name="form_key" value="')[1].split('"')[0]
    return {"form_key": key, "name": "端午礼盒预售", "sku": str(shop.pan.pk), "price": "259", "deposit": "50",
            "deposit_starts_at": "2026-06-01T10:00", "deposit_ends_at": "2026-06-10T00:00",
            "balance_starts_at": "2026-06-10T00:00", "balance_ends_at": "2026-06-12T00:00",
            "per_customer_limit": "2", "is_active": "on", **over}


def test_hq_creates_a_presale_once_from_the_console(shop: Shop) -> None:
    hq = _client(shop.org.hq.user)
    data = _form(shop, hq)
    assert hq.post("/orders/presales/new/", data).status_code == 302
    assert hq.post("/orders/presales/new/", data).status_code == 302  # the same form again: still one presale
    presale = Presale.objects.get()
    assert (presale.name, presale.sku_id, presale.price_fen, presale.deposit_fen, presale.per_customer_limit) == (
        "端午礼盒预售", shop.pan.pk, 25900, 5000, 2)
    # 2026-06-01 10:00 in Beijing is 02:00 UTC
    assert presale.deposit_starts_at.isoformat() == "2026-06-01T02:00:00+00:00"
    listed = hq.get("/orders/presales/").content.decode()
    assert f'data-presale-id="{presale.pk}"' in listed and 'id="new-presale"' in listed


def test_refusals_sit_beside_their_field_and_write_nothing(shop: Shop) -> None:
    hq = _client(shop.org.hq.user)
    page = hq.post("/orders/presales/new/", _form(shop, hq, deposit="259")).content.decode()
    deposit = page[page.index('name="deposit"'):]
    assert "the deposit is above zero and below the price" in deposit[:deposit.index("</label>")]
    windows = hq.post("/orders/presales/new/", _form(shop, hq, balance_starts_at="2026-06-05T00:00")).content.decode()
    assert "deposit window, then balance window" in windows
    assert Presale.objects.count() == 0


def test_only_hq_sets_up_presales(shop: Shop) -> None:
    manager = _client(shop.org.n1_manager.user)
    assert manager.get("/orders/presales/new/").status_code == 403
    assert 'id="new-presale"' not in manager.get("/orders/presales/").content.decode()
