"""The WeChat message crypto shared by WeCom callbacks and Official Account safe mode.

AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padded to 32-byte blocks; plaintext is
random(16) + len(msg) as 4 bytes big-endian + msg + receive id (corp id / appid). The signature is the lowercase
hex SHA-1 of the sorted concatenation of token, timestamp, nonce and the ciphertext (OA plain mode: without it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CryptoError(Exception):
    """A callback that fails signature, decryption or receive-id checks. `code` is the platform's error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


SIGNATURE_MISMATCH = -40001
PARSE_ERROR = -40002
BAD_AES_KEY = -40004
RECEIVE_ID_MISMATCH = -40005
DECRYPT_FAILED = -40007
BAD_BUFFER = -40008
BASE64_DECODE = -40010


def signature(*parts: str) -> str:
    """SHA-1 over the sorted, concatenated parts (token, timestamp, nonce[, ciphertext])."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the platform's algorithm


def verify_signature(expected: str, *parts: str) -> None:
    if not hmac.compare_digest(signature(*parts), (expected or "").lower()):
        raise CryptoError(SIGNATURE_MISMATCH, "signature mismatch")


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise CryptoError(BAD_AES_KEY, "EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=")
    except (binascii.Error, ValueError) as exc:
        raise CryptoError(BAD_AES_KEY, "EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise CryptoError(BAD_AES_KEY, "EncodingAESKey does not decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    count = BLOCK - len(data) % BLOCK
    return data + bytes([count]) * count


def _unpad(data: bytes) -> bytes:
    if not data:
        raise CryptoError(BAD_BUFFER, "empty plaintext")
    count = data[-1]
    if not 1 <= count <= BLOCK or len(data) < count:
        raise CryptoError(BAD_BUFFER, "bad padding")
    return data[:-count]


@dataclass(frozen=True)
class MessageCrypto:
    """One app's callback crypto: its Token, EncodingAESKey and receive id (corp id, suite id or appid)."""

    token: str
    encoding_aes_key: str
    receive_id: str

    @property
    def key(self) -> bytes:
        return aes_key(self.encoding_aes_key)

    def encrypt(self, message: str | bytes, *, random16: bytes | None = None) -> str:
        body = message.encode() if isinstance(message, str) else message
        prefix = random16 if random16 is not None else os.urandom(16)
        if len(prefix) != 16:
            raise ValueError("random prefix must be 16 bytes")
        plain = _pad(prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode())
        key = self.key
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, ciphertext: str, *, check_receive_id: bool = True) -> bytes:
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError(BASE64_DECODE, "ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError(DECRYPT_FAILED, "ciphertext length is not a multiple of the AES block")
        key = self.key
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = _unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < 20:
            raise CryptoError(BAD_BUFFER, "plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError(BAD_BUFFER, "message length exceeds the plaintext")
        message, receive_id = plain[20 : 20 + length], plain[20 + length :].decode(errors="replace")
        if check_receive_id and receive_id != self.receive_id:
            raise CryptoError(RECEIVE_ID_MISMATCH, "receive id does not match")
        return message

    def sign(self, timestamp: str, nonce: str, ciphertext: str) -> str:
        return signature(self.token, timestamp, nonce, ciphertext)

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str, ciphertext: str) -> bytes:
        verify_signature(msg_signature, self.token, timestamp, nonce, ciphertext)
        return self.decrypt(ciphertext)

    def encrypted_reply(self, message: str, timestamp: str, nonce: str) -> str:
        """The encrypted passive-reply envelope, signed the same way as inbound messages."""
        ciphertext = self.encrypt(message)
        sig = self.sign(timestamp, nonce, ciphertext)
        return (
            f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
