"""Channel credentials (app secrets, tokens, AES keys, session keys) are stored sealed: Fernet (AES-128-CBC with an
HMAC-SHA256) under a key derived as SHA-256("siyu-credentials:" + sealing key).

The sealing key is SIYU_SEAL_KEY when it is set, else SIYU_SECRET_KEY (Django's SECRET_KEY). A separate SIYU_SEAL_KEY
lets SECRET_KEY (sessions, CSRF, password reset links) be rotated without touching stored secrets; rotating the
sealing key itself is `siyu reseal_secrets --old-key ...`, which moves every sealed value to the current key.

Every sealed column is a TextField whose name starts with `sealed_`: that is how the reseal command finds them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import models

SEALED_PREFIX = "sealed_"


def seal_key() -> str:
    """The key material that seals new values."""
    return settings.SIYU_SEAL_KEY or settings.SECRET_KEY


def uses_demo_key() -> str | None:
    """The setting to change when the demo's public key would sign sessions or seal secrets, else None."""
    if settings.SECRET_KEY == settings.SIYU_DEMO_SECRET_KEY:
        return "SIYU_SECRET_KEY"
    if seal_key() == settings.SIYU_DEMO_SECRET_KEY:
        return "SIYU_SEAL_KEY"
    return None


def fernet_for(key: str) -> Fernet:
    digest = hashlib.sha256(("siyu-credentials:" + key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(plain: str) -> str:
    return fernet_for(seal_key()).encrypt(plain.encode()).decode() if plain else ""


def unseal(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return fernet_for(seal_key()).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("credential cannot be decrypted: the sealing key changed (see `siyu reseal_secrets`)") from exc


def readable(sealed: str, key: str | None = None) -> bool:
    try:
        fernet_for(key or seal_key()).decrypt(sealed.encode())
    except InvalidToken:
        return False
    return True


def sealed_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Every sealed column of every installed model."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.TextField) and field.name.startswith(SEALED_PREFIX):
                yield model, field.name


def sealed_fields_labels() -> list[str]:
    return [f"{model._meta.label}.{name}" for model, name in sealed_fields()]


def unreadable_count() -> int:
    """Stored sealed values the current key cannot open (0 after a complete rotation)."""
    count = 0
    for model, name in sealed_fields():
        values = model._default_manager.exclude(**{name: ""}).values_list(name, flat=True)
        count += sum(1 for value in values.iterator(chunk_size=1000) if not readable(value))
    return count
