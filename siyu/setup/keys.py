"""Fresh callback credentials for a platform's back office: the Token and the EncodingAESKey are ours to choose (the
platform only stores what we paste), so Siyu generates them from the OS's CSPRNG rather than have people invent them."""

from __future__ import annotations

import base64
import secrets
import string

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_callback_token(length: int = 32) -> str:
    """32 letters and digits: the longest Token WeCom and the Official Account accept."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def new_encoding_aes_key() -> str:
    """43 characters: base64 of 32 random bytes without the trailing '=' (the platforms append it to decode)."""
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
