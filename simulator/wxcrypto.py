"""The platforms' message crypto as the simulator plays it: wechatpy's implementation (a maintained SDK written
independently of Siyu), never Siyu's own `siyu.channels.common.crypto`, so a bug there cannot hide from the
simulator tests (an import-linter contract in pyproject.toml keeps it so).

AES-256-CBC, key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 to 32 bytes, plaintext = random(16) +
len(4, big-endian) + msg + receive id; signature = sha1 of the sorted token, timestamp, nonce[, ciphertext]
(wecom-callbacks.md §4, oa.md §2).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from wechatpy.crypto import PrpCrypto
from wechatpy.utils import WeChatSigner


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


@dataclass(frozen=True)
class PlatformCrypto:
    """One app's callback crypto as the platform holds it: Token, EncodingAESKey and receive id (corp id / appid)."""

    token: str
    encoding_aes_key: str
    receive_id: str

    @property
    def _prp(self) -> PrpCrypto:
        key = base64.b64decode(self.encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        return PrpCrypto(key)

    def encrypt(self, message: str) -> str:
        sealed = self._prp.encrypt(message, self.receive_id)
        return sealed.decode() if isinstance(sealed, bytes) else str(sealed)

    def decrypt(self, ciphertext: str) -> str:
        """The message; raises when the receive id is not this app's."""
        return str(self._prp.decrypt(ciphertext, self.receive_id))

    def sign(self, timestamp: str, nonce: str, ciphertext: str) -> str:
        return signature(self.token, timestamp, nonce, ciphertext)
