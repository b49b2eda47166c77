"""The Pay merchant account keeps its APIv3 key and API private key sealed, like every channel credential."""

from __future__ import annotations

import pytest

from siyu.core import secretbox
from siyu.finance.models import PayMerchant
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def test_merchant_secrets_are_sealed_at_rest_and_found_by_the_reseal_command(org: Org) -> None:
    merchant = PayMerchant(enterprise=org.enterprise, name="直营商户", mch_id="1900000109", app_id="wxmall",
                           merchant_serial_no="ABC123", platform_key_id="PUB_KEY_ID_0114232134912410000000000000",
                           platform_public_key="-----BEGIN PUBLIC KEY-----\n...")
    merchant.apiv3_key = "0123456789abcdef0123456789abcdef"
    merchant.private_key = "-----BEGIN PRIVATE KEY-----\nsecret-material\n-----END PRIVATE KEY-----"
    merchant.save()
    raw = PayMerchant.objects.values("sealed_apiv3_key", "sealed_private_key").get()
    assert "0123456789abcdef" not in raw["sealed_apiv3_key"] and "secret-material" not in raw["sealed_private_key"]
    loaded = PayMerchant.objects.get()
    assert loaded.apiv3_key == "0123456789abcdef0123456789abcdef" and "secret-material" in loaded.private_key
    labels = secretbox.sealed_fields_labels()
    assert "finance.PayMerchant.sealed_apiv3_key" in labels and "finance.PayMerchant.sealed_private_key" in labels
