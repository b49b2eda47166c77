"""First run: `siyu setup` and the console wizard create the enterprise and its first HQ administrator on an empty
database, once. Nothing of the demo is used: these tests start with no enterprise at all (no `org` fixture)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import Client
from django.utils import translation

from siyu.core.errors import DomainError
from siyu.core.models import AuditEntry
from siyu.org.models import Enterprise, Role, Staff
from siyu.org.scope import scope_for_user
from siyu.setup import services
from siyu.setup.models import FirstRun

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # noqa: S105 - a test password


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _run(*args: str, **env: str) -> None:
    call_command("setup", *args, "--no-input")


def test_setup_command_creates_the_enterprise_and_an_hq_admin_who_can_sign_in(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    assert Enterprise.objects.count() == 0
    _run("--enterprise-name", "某某品牌", "--enterprise-code", "mou-brand", "--admin-username", "boss",
         "--admin-name", "王总", "--admin-password-file", str(secret))
    enterprise = Enterprise.objects.get()
    assert (enterprise.name, enterprise.code) == ("某某品牌", "mou-brand")
    staff = Staff.objects.get()
    assert staff.user is not None
    assert (staff.enterprise_id, staff.role, staff.name, staff.user.username) == (
        enterprise.pk, Role.HQ_ADMIN, "王总", "boss")
    assert not staff.user.is_superuser  # an HQ admin of this enterprise, not a Django superuser
    scope = scope_for_user(staff.user)
    assert scope.is_hq and scope.enterprise_id == enterprise.pk
    client = Client()
    assert client.login(username="boss", password=PASSWORD)  # the file's trailing newline is not the password
    assert client.get("/").status_code == 200
    assert FirstRun.objects.get().source == "command"
    assert AuditEntry.objects.filter(action="enterprise.setup", enterprise_id=enterprise.pk).count() == 1


def test_a_second_run_is_refused_and_writes_nothing() -> None:
    _run("--enterprise-name", "品牌甲", "--admin-username", "boss", "--admin-password", PASSWORD)
    with pytest.raises(CommandError, match="already set up"):
        _run("--enterprise-name", "品牌乙", "--admin-username", "boss2", "--admin-password", PASSWORD)
    assert list(Enterprise.objects.values_list("name", flat=True)) == ["品牌甲"]
    assert not User.objects.filter(username="boss2").exists()


def test_allow_existing_adds_a_second_enterprise_but_not_a_taken_username() -> None:
    _run("--enterprise-name", "Brand A", "--admin-username", "boss", "--admin-password", PASSWORD)
    _run("--enterprise-name", "Brand B", "--admin-username", "boss-b", "--admin-password", PASSWORD,
         "--allow-existing")
    assert sorted(Enterprise.objects.values_list("code", flat=True)) == ["brand-a", "brand-b"]
    with translation.override("zh-hans"), pytest.raises(CommandError, match="--admin-username: 该用户名已被使用"):
        _run("--enterprise-name", "Brand C", "--admin-username", "BOSS", "--admin-password", PASSWORD,
             "--allow-existing")
    assert Enterprise.objects.count() == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--enterprise-name", "X", "--admin-username", "boss", "--admin-password", "short"], "--admin-password"),
    (["--enterprise-name", "X", "--admin-username", "b o s s", "--admin-password", PASSWORD], "--admin-username"),
    (["--enterprise-name", "X", "--enterprise-code", "Not A Slug", "--admin-username", "boss",
      "--admin-password", PASSWORD], "--enterprise-code"),
    (["--enterprise-name", "X", "--admin-username", "boss"], "a password is required"),
    (["--admin-username", "boss", "--admin-password", PASSWORD], "--enterprise-name is required"),
])
def test_bad_answers_name_their_flag_and_write_nothing(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert Enterprise.objects.count() == 0 and User.objects.count() == 0 and not FirstRun.objects.exists()


def test_a_chinese_name_without_a_code_gets_a_usable_code() -> None:
    _run("--enterprise-name", "某某品牌", "--admin-username", "boss", "--admin-password", PASSWORD)
    assert Enterprise.objects.get().code == "brand"


# ---------------------------------------------------------------------------------------------------------------
# The console wizard


def _wizard(client: Client, **fields: str) -> Any:
    data = {"enterprise_name": "某某品牌", "enterprise_code": "", "admin_name": "王总", "admin_username": "boss",
            "admin_password": PASSWORD, "admin_password2": PASSWORD, **fields}
    return client.post("/setup/", data)


def test_on_a_fresh_install_the_login_page_leads_to_the_wizard() -> None:
    response = Client().get("/login/")
    assert response.status_code == 302 and response["Location"] == "/setup/"
    page = Client().get("/setup/")
    assert page.status_code == 200 and b'id="setup-form"' in page.content


def test_the_wizard_creates_once_signs_the_admin_in_and_then_closes() -> None:
    client = Client()
    response = _wizard(client)
    assert response.status_code == 302 and response["Location"] == "/setup/accounts/"
    assert client.get("/setup/accounts/").status_code == 200  # signed in as the new HQ admin
    staff = Staff.objects.get()
    assert staff.user is not None and staff.role == Role.HQ_ADMIN and staff.user.username == "boss"
    assert FirstRun.objects.get().source == "wizard"
    # closed afterwards, for everyone: the page, a stale form posted again, and the login page is the login page
    assert Client().get("/setup/").status_code == 404
    late = _wizard(Client(), admin_username="intruder")
    assert late.status_code == 404 and b'id="setup-closed"' in late.content
    assert Enterprise.objects.count() == 1 and not User.objects.filter(username="intruder").exists()
    assert Client().get("/login/").status_code == 200


def test_a_second_wizard_that_was_opened_before_the_first_finished_is_refused() -> None:
    """Both people loaded the form while the install was fresh; the second submit arrives after the first."""
    first, second = Client(), Client()
    assert first.get("/setup/").status_code == 200 and second.get("/setup/").status_code == 200
    assert _wizard(first).status_code == 302
    assert _wizard(second, admin_username="other", enterprise_name="别的品牌").status_code == 404
    assert Enterprise.objects.count() == 1 and User.objects.count() == 1


def test_the_wizard_shows_field_errors_and_writes_nothing() -> None:
    response = _wizard(Client(), admin_password2="something else")
    assert response.status_code == 422 and "admin_password2" in response.context["form"].errors
    response = _wizard(Client(), admin_password="short", admin_password2="short")
    assert response.status_code == 422 and "admin_password" in response.context["form"].errors
    response = _wizard(Client(), enterprise_code="UPPER case")
    assert response.status_code == 422 and "enterprise_code" in response.context["form"].errors
    assert Enterprise.objects.count() == 0 and User.objects.count() == 0


def test_with_a_setup_token_the_wizard_asks_for_it(settings: Any) -> None:
    settings.SIYU_SETUP_TOKEN = "s3t-up-t0ken"  # noqa: S105
    response = _wizard(Client(), setup_token="guess")
    assert response.status_code == 422 and "setup_token" in response.context["form"].errors
    assert Enterprise.objects.count() == 0
    assert _wizard(Client(), setup_token="s3t-up-t0ken").status_code == 302
    assert Enterprise.objects.count() == 1


def test_without_a_token_only_a_browser_on_the_server_may_claim_a_fresh_install(settings: Any) -> None:
    """The first visitor from elsewhere cannot claim the install: 403 with what to do, nothing written; with a token
    set, the same visitor may (knowing it)."""
    settings.SIYU_SETUP_TOKEN = ""
    remote = Client(REMOTE_ADDR="203.0.113.9")
    page = remote.get("/setup/")
    assert page.status_code == 403 and b"SIYU_SETUP_TOKEN" in page.content and b'id="setup-form"' not in page.content
    assert _wizard(remote).status_code == 403
    assert Enterprise.objects.count() == 0 and User.objects.count() == 0
    settings.SIYU_CLIENT_IP_HEADER = "X-Forwarded-For"  # a proxy on the server itself forwards a remote visitor
    proxied = Client(REMOTE_ADDR="127.0.0.1", headers={"X-Forwarded-For": "203.0.113.9"})
    assert _wizard(proxied).status_code == 403 and Enterprise.objects.count() == 0
    settings.SIYU_SETUP_TOKEN = "s3t-up-t0ken"  # noqa: S105
    assert _wizard(remote, setup_token="s3t-up-t0ken").status_code == 302
    assert Enterprise.objects.count() == 1


def test_the_wizard_is_closed_when_an_enterprise_exists_without_a_first_run_row() -> None:
    """An install made before set-up existed (the demo seed): no FirstRun row, but it is not fresh."""
    Enterprise.objects.create(name="Demo", code="demo")
    assert Client().get("/setup/").status_code == 404
    assert _wizard(Client()).status_code == 404
    assert Enterprise.objects.count() == 1


# ---------------------------------------------------------------------------------------------------------------
# Two at once, for real (threads with their own connections). SQLite serialises writers (IMMEDIATE), so the race
# is only a race on PostgreSQL, where both transactions run until the FirstRun key decides.


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_runs_create_exactly_one_enterprise() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a true race needs PostgreSQL")
    n = 6
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    guard = threading.Lock()

    def run(i: int) -> None:
        outcome = "ok"
        try:
            barrier.wait()
            services.first_run(enterprise_name=f"品牌{i}", admin_username=f"boss{i}", admin_password=PASSWORD,
                               source="wizard")
        except DomainError as exc:
            outcome = exc.code if exc.code == "already_set_up" else f"{exc.code}:{exc.field}:{exc.message}"
        except Exception as exc:  # noqa: BLE001 - a crash shows in the counts and fails the test
            outcome = f"crash:{type(exc).__name__}:{exc}"
        finally:
            connections.close_all()
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(outcomes) == Counter({"ok": 1, "already_set_up": n - 1})
    assert Enterprise.objects.count() == 1 and Staff.objects.count() == 1 and User.objects.count() == 1
