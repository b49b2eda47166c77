"""The WeCom callback crypto for one ChannelAccount: its Token, EncodingAESKey and corp id (the receive id)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from siyu.channels.common.crypto import CryptoError, MessageCrypto
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.callbacks import parse_envelope

_CACHE: dict[tuple[int, str, str], MessageCrypto] = {}
_LOCK = threading.Lock()


def crypto_for(account: ChannelAccount) -> MessageCrypto:
    """Cached per account and sealed key, so the key is unsealed once, not on every callback."""
    cache_key = (account.pk, account.callback_token, account.sealed_aes_key)
    found = _CACHE.get(cache_key)
    if found is None:
        found = MessageCrypto(
            token=account.callback_token, encoding_aes_key=account.encoding_aes_key, receive_id=account.app_id
        )
        with _LOCK:
            _CACHE[cache_key] = found
    return found


def verify_url(crypto: MessageCrypto, query: Mapping[str, str]) -> str:
    """GET URL verification: check the signature over echostr and return its plaintext."""
    plain = crypto.verify_and_decrypt(
        query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""), query.get("echostr", "")
    )
    return plain.decode()


def open_callback(crypto: MessageCrypto, query: Mapping[str, str], body: bytes) -> bytes:
    """POST: parse the envelope, check msg_signature over its Encrypt, decrypt. Raises CryptoError."""
    envelope = parse_envelope(body)
    return crypto.verify_and_decrypt(
        query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""), envelope.encrypt
    )


__all__ = ["CryptoError", "crypto_for", "open_callback", "verify_url"]
