from __future__ import annotations

from typing import Any

import pytest

from tests.tenancy.world import Brand, build_brand


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def brands(db: None, settings: Any, tmp_path: Any) -> tuple[Brand, Brand]:
    """Two brands, built in the same way; their markers and phone numbers differ."""
    settings.MEDIA_ROOT = str(tmp_path / "media")  # their uploaded materials
    settings.SIYU_EXPORT_DIR = tmp_path / "exports"  # their finished exports
    return build_brand("ZQAMRK", "brand-a", "1391111"), build_brand("ZQBMRK", "brand-b", "1392222")
