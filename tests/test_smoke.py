import pytest
from django.test import Client


@pytest.mark.django_db
def test_health_endpoint_answers_ok(client: Client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_console_home_requires_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login/")
