from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from siyu.org.services import create_api_token
from tests.conftest import Org


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Path:
    """Each test stores its uploads in its own folder (the default storage reads MEDIA_ROOT when it is changed)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def token_client(staff: Any) -> Client:
    _token, secret = create_api_token(staff=staff, name=f"test {staff.name}")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def hq_api(org: Org) -> Client:
    return token_client(org.hq)


@pytest.fixture
def staff_api(org: Org) -> Client:
    return token_client(org.n1_staff)


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
