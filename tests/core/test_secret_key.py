"""The secret key: `siyu serve` refuses the demo key unless demo mode is explicit, and `siyu reseal_secrets` moves
every sealed secret to a new key (one transaction, idempotent), so a key can be rotated without losing credentials."""

from __future__ import annotations

import base64
import hashlib
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from siyu.channels.models import ChannelAccount
from siyu.cli import main
from siyu.core import secretbox
from siyu.core.management.commands import serve
from siyu.settings import SIYU_DEMO_SECRET_KEY
from tests.conftest import Org

OLD = "old-key-" + "a" * 40
NEW = "new-key-" + "b" * 40


def _independent_fernet(key: str) -> Fernet:
    """The sealing scheme as documented in secretbox: Fernet over SHA-256("siyu-credentials:" + key)."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(("siyu-credentials:" + key).encode()).digest()))


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """serve's last step replaces the process with granian: record the argv instead."""
    started: list[list[str]] = []
    monkeypatch.setattr(serve.os, "execv", lambda path, argv: started.append(argv))
    monkeypatch.setattr(serve, "call_command", lambda *a, **kw: None)
    return started


def test_serve_refuses_the_demo_key(settings: Any, monkeypatch: pytest.MonkeyPatch, no_server: list[list[str]],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    settings.SECRET_KEY = SIYU_DEMO_SECRET_KEY
    settings.SIYU_SEAL_KEY = ""
    monkeypatch.delenv("SIYU_DEMO", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["serve"])
    assert exited.value.code == 1
    message = capsys.readouterr().err
    assert "SIYU_SECRET_KEY" in message and "SIYU_DEMO=1" in message
    assert no_server == []


def test_serve_refuses_a_demo_seal_key(settings: Any, monkeypatch: pytest.MonkeyPatch,
                                       no_server: list[list[str]]) -> None:
    settings.SECRET_KEY = NEW
    settings.SIYU_SEAL_KEY = SIYU_DEMO_SECRET_KEY
    monkeypatch.delenv("SIYU_DEMO", raising=False)
    with pytest.raises(CommandError, match="SIYU_SEAL_KEY"):
        call_command("serve")
    assert no_server == []


def test_serve_runs_the_demo_key_in_explicit_demo_mode(settings: Any, monkeypatch: pytest.MonkeyPatch,
                                                       no_server: list[list[str]]) -> None:
    settings.SECRET_KEY = SIYU_DEMO_SECRET_KEY
    monkeypatch.setenv("SIYU_DEMO", "1")
    call_command("serve")
    assert len(no_server) == 1 and "siyu.asgi:application" in no_server[0]


def test_serve_runs_with_a_real_key(settings: Any, monkeypatch: pytest.MonkeyPatch,
                                    no_server: list[list[str]]) -> None:
    settings.SECRET_KEY = NEW
    settings.SIYU_SEAL_KEY = ""
    monkeypatch.delenv("SIYU_DEMO", raising=False)
    call_command("serve", "--interface", "wsgi")
    assert len(no_server) == 1 and "siyu.wsgi:application" in no_server[0]


def test_the_seal_is_the_documented_scheme(settings: Any) -> None:
    settings.SECRET_KEY = OLD
    settings.SIYU_SEAL_KEY = ""
    assert _independent_fernet(OLD).decrypt(secretbox.seal("wx-secret").encode()) == b"wx-secret"
    settings.SIYU_SEAL_KEY = NEW  # a separate sealing key takes over from SECRET_KEY
    assert _independent_fernet(NEW).decrypt(secretbox.seal("wx-secret").encode()) == b"wx-secret"


def _sealed_fields() -> set[str]:
    return {
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.TextField) and field.name.startswith("sealed_")
    }


def test_every_sealed_field_follows_the_naming_rule() -> None:
    """The reseal command finds sealed fields by their `sealed_` prefix; these are the ones known today."""
    assert _sealed_fields() == {
        "channels.ChannelAccount.sealed_aes_key",
        "channels.ChannelAccount.sealed_secret",
        "wecom.AccessToken.sealed_token",
        "official_account.AccessToken.sealed_token",
        "orders.StorefrontSession.sealed_session_key",
        "finance.PayMerchant.sealed_apiv3_key",
        "finance.PayMerchant.sealed_private_key",
    }
    assert set(secretbox.sealed_fields_labels()) == _sealed_fields()


def _seal_everything(org: Org) -> dict[str, Any]:
    """One row in every sealed field, sealed under OLD by an independent implementation."""
    old = _independent_fernet(OLD)
    values: dict[str, Any] = {}
    now = timezone.now()
    for label in sorted(_sealed_fields()):
        app_model, field = label.rsplit(".", 1)
        model = apps.get_model(app_model)
        plain = f"plain of {label}"
        row = model.objects.first() or _make_row(model, org, now)
        model.objects.filter(pk=row.pk).update(**{field: old.encrypt(plain.encode()).decode()})
        values[label] = (model, field, plain, row.pk)
    return values


def _make_row(model: Any, org: Org, now: Any) -> Any:
    account = ChannelAccount.objects.filter(enterprise=org.enterprise).first()
    if account is None:
        account = ChannelAccount.objects.create(enterprise=org.enterprise, kind="wecom", app_id="wwtestcorp0001",
                                                name="corp app")
    if model is ChannelAccount:
        return account
    fields: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.has_default() or field.null or getattr(field, "auto_now_add", False):
            continue
        if isinstance(field, models.ForeignKey):
            fields[field.name] = _related(field, org, account)
        elif isinstance(field, models.DateTimeField):
            fields[field.name] = now
        elif isinstance(field, models.CharField | models.TextField):
            fields[field.name] = f"x{model.__name__}"
    return model.objects.create(**fields)


def _related(field: Any, org: Org, account: ChannelAccount) -> Any:
    target = field.related_model
    if target is ChannelAccount:
        return account
    if target._meta.label == "org.Enterprise":
        return org.enterprise
    if target._meta.label == "customers.Customer":
        from tests.factories import CustomerFactory

        return CustomerFactory.create(enterprise=org.enterprise)
    raise AssertionError(f"teach the test to make a {target._meta.label}")


@pytest.mark.django_db
def test_reseal_moves_every_sealed_secret_to_the_new_key(org: Org, settings: Any) -> None:
    settings.SIYU_SEAL_KEY = ""
    values = _seal_everything(org)
    settings.SECRET_KEY = NEW
    with pytest.raises(ValueError):
        secretbox.unseal(ChannelAccount.objects.get().sealed_secret)

    out = StringIO()
    call_command("reseal_secrets", "--old-key", OLD, stdout=out)
    assert "resealed 7" in out.getvalue()

    new = _independent_fernet(NEW)
    for model, field, plain, pk in values.values():
        stored = model.objects.values_list(field, flat=True).get(pk=pk)
        assert new.decrypt(stored.encode()).decode() == plain
        assert secretbox.unseal(stored) == plain
    assert secretbox.unreadable_count() == 0

    again = StringIO()
    call_command("reseal_secrets", "--old-key", OLD, stdout=again)  # idempotent: nothing left to move
    assert "resealed 0" in again.getvalue() and "already under the current key 7" in again.getvalue()


@pytest.mark.django_db
def test_reseal_reads_the_old_key_from_the_environment(org: Org, settings: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings.SIYU_SEAL_KEY = ""
    _seal_everything(org)
    settings.SECRET_KEY = NEW
    monkeypatch.setenv("SIYU_OLD_SEAL_KEY", OLD)
    out = StringIO()
    call_command("reseal_secrets", stdout=out)
    assert "resealed 7" in out.getvalue()
    assert secretbox.unreadable_count() == 0


@pytest.mark.django_db
def test_reseal_with_a_wrong_old_key_changes_nothing(org: Org, settings: Any) -> None:
    settings.SIYU_SEAL_KEY = ""
    values = _seal_everything(org)
    before = {label: v[0].objects.values_list(v[1], flat=True).get(pk=v[3]) for label, v in values.items()}
    settings.SECRET_KEY = NEW
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("reseal_secrets", "--old-key", "not-the-old-key", stdout=StringIO())
    after = {label: v[0].objects.values_list(v[1], flat=True).get(pk=v[3]) for label, v in values.items()}
    assert after == before
    assert secretbox.unreadable_count() == 7
