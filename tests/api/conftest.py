from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client

from siyu.org.models import Staff
from siyu.org.services import create_api_token

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response  # the test client's response type


class Api:
    """The REST API as an integration sees it: a real token sent as `Authorization: Bearer ...`."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **params: Any) -> Response:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Response:
        return self.client.post(path, json.dumps(body), content_type="application/json", headers=self.headers)

    def patch(self, path: str, body: Any) -> Response:
        return self.client.patch(path, json.dumps(body), content_type="application/json", headers=self.headers)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """The org fixture creates six users; the production PBKDF2 cost would make each test take seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_as(db: None) -> Callable[[Staff], Api]:
    def make(staff: Staff) -> Api:
        _token, secret = create_api_token(staff=staff, name=f"test {staff.name}")
        return Api(secret)

    return make


@pytest.fixture
def anonymous() -> Api:
    return Api(None)
