"""Token management: HQ lists and revokes the enterprise's tokens (API and console); nobody else may."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.org.models import Staff
from siyu.org.services import create_api_token
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import EnterpriseFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_hq_lists_tokens_newest_first_without_secrets_and_revokes_one(
    org: Org, api_as: Callable[[Staff], Api]
) -> None:
    older, older_secret = create_api_token(staff=org.n1_manager, name="POS")
    newer, _secret = create_api_token(staff=org.s1_staff, name="ERP")
    other = StaffFactory.create(enterprise=EnterpriseFactory.create(code="other"), name="outsider")
    create_api_token(staff=other, name="not ours")
    hq = api_as(org.hq)
    listed = hq.get("/api/org/tokens").json()
    names = [item["name"] for item in listed["items"]]
    assert names == [f"test {org.hq.name}", "ERP", "POS"]  # newest first; another enterprise's token is not listed
    assert all("secret" not in item for item in listed["items"])
    pos = next(item for item in listed["items"] if item["name"] == "POS")
    assert (pos["staff_id"], pos["staff_name"], pos["revoked_at"]) == (org.n1_manager.pk, org.n1_manager.name, None)

    revoked = hq.client.delete(f"/api/org/tokens/{older.pk}", headers=hq.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert Api(older_secret).get("/api/customers").status_code == 401
    assert AuditEntry.objects.filter(action="api_token.revoke", target_id=str(org.n1_manager.pk)).count() == 1
    assert hq.client.delete(f"/api/org/tokens/{newer.pk + 1000}", headers=hq.headers).status_code == 404


def test_only_hq_manages_tokens(org: Org, api_as: Callable[[Staff], Api]) -> None:
    token, _secret = create_api_token(staff=org.hq, name="HQ sync")
    manager = api_as(org.n1_manager)
    assert manager.get("/api/org/tokens").status_code == 403
    assert manager.client.delete(f"/api/org/tokens/{token.pk}", headers=manager.headers).status_code == 403


def test_console_creates_shows_the_secret_once_and_revokes(client: Client, org: Org) -> None:
    assert org.hq.user is not None and org.n1_manager.user is not None
    client.force_login(org.hq.user)
    page = client.post("/org/tokens/", {"action": "create", "staff": org.n1_manager.pk, "name": "Till sync"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    secret = html.split('<code class="mono" id="secret">')[1].split("</code>")[0]
    assert secret.startswith("siyu_")
    assert Api(secret).get("/api/customers").status_code == 200
    assert secret not in client.get("/org/tokens/").content.decode()  # shown once

    from siyu.org.models import ApiToken

    token = ApiToken.objects.get(name="Till sync")
    assert client.post("/org/tokens/", {"action": "revoke", "token_id": token.pk}).status_code == 302
    assert Api(secret).get("/api/customers").status_code == 401
    assert client.post("/org/tokens/", {"action": "create", "staff": org.n1_manager.pk, "name": ""}).status_code == 200
    assert ApiToken.objects.count() == 1  # a blank name creates nothing

    client.force_login(org.n1_manager.user)
    assert client.get("/org/tokens/").status_code == 403


def test_console_token_form_defaults_to_the_caller_and_labels_roles(client: Client, org: Org) -> None:
    """The represented staff member defaults to the signed-in HQ admin; each choice names the role and the store (or
    region) the token would act with; the name field says it names the token."""
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.cookies["django_language"] = "en"
    html = client.get("/org/tokens/").content.decode()
    select = html[html.index('name="staff"'):]
    select = select[: select.index("</select>")]
    assert f'<option value="{org.hq.pk}" selected>{org.hq.name} · HQ admin</option>' in select
    north = org.north_manager
    assert f'<option value="{north.pk}">{north.name} · Region manager · North</option>' in select
    assert f'<option value="{org.n1_staff.pk}">{org.n1_staff.name} · Store staff · Beijing 1</option>' in select
    assert select.count(" selected") == 1
    assert "Token name" in html and 'placeholder="e.g. ERP order sync"' in html

    client.cookies["django_language"] = "zh-hans"
    chinese = client.get("/org/tokens/").content.decode()
    assert f"{org.n1_staff.name} · 导购 · Beijing 1" in chinese
    assert "令牌名称" in chinese
