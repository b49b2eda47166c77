"""WeChat Pay v3 signatures and resource decryption, on the wechatpayv3 SDK's primitives (a maintained, independent
implementation: the simulator uses `cryptography` directly, so each side checks the other).

- Request: SHA256withRSA over `METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n` with the merchant API private key, sent as
  `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=...,nonce_str=...,timestamp=...,serial_no=...,signature=...`.
- Response and notify: SHA256withRSA over `TIMESTAMP\\nNONCE\\nBODY\\n` with the platform public key (or the platform
  certificate's key) named by `Wechatpay-Serial`.
- Resource: AEAD_AES_256_GCM with the APIv3 key, the string nonce and associated data.
- requestPayment: paySign over `appId\\ntimeStamp\\nnonceStr\\npackage\\n`.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from wechatpayv3 import utils as sdk

SCHEME = "WECHATPAY2-SHA256-RSA2048"
_NONCE_ALPHABET = string.ascii_letters + string.digits


def nonce() -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(32))


def load_private_key(pem: str) -> Any:
    return sdk.load_private_key(pem)


def load_platform_key(pem: str) -> Any:
    """The platform's public key from a PEM public key or a PEM certificate."""
    if "CERTIFICATE" in pem:
        cert = sdk.load_certificate(pem)
        if cert is None:
            raise ValueError("the platform certificate cannot be read")
        return cert.public_key()
    return sdk.load_public_key(pem)


def authorization(*, mch_id: str, serial_no: str, private_key: Any, method: str, url: str, body: str,
                  timestamp: int, nonce_str: str) -> str:
    message = f"{method}\n{url}\n{timestamp}\n{nonce_str}\n{body}\n"
    signature = sdk.rsa_sign(private_key, message)
    return (f'{SCHEME} mchid="{mch_id}",nonce_str="{nonce_str}",timestamp="{timestamp}",'
            f'serial_no="{serial_no}",signature="{signature}"')


def verify(*, public_key: Any, timestamp: str, nonce_str: str, body: bytes, signature: str) -> bool:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        return bool(sdk.rsa_verify(timestamp, nonce_str, text, signature, public_key))
    except (ValueError, TypeError):
        return False


def decrypt(*, apiv3_key: str, nonce_str: str, ciphertext: str, associated_data: str) -> str | None:
    """The plaintext, or None when the tag does not hold (wrong key, tampered ciphertext or associated data)."""
    if len(apiv3_key.encode()) != 32 or len(nonce_str.encode()) != 12:
        return None
    try:
        result = sdk.aes_decrypt(nonce_str, ciphertext, associated_data, apiv3_key)
    except (ValueError, TypeError):
        return None
    return result if isinstance(result, str) else None


def pay_sign(*, private_key: Any, app_id: str, timestamp: str, nonce_str: str, package: str) -> str:
    return str(sdk.rsa_sign(private_key, f"{app_id}\n{timestamp}\n{nonce_str}\n{package}\n"))
