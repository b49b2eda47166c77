"""WeChat Pay API v3 for a direct merchant (JSAPI / mini-program): request signing, response and notify
verification, resource decryption (crypto.py, on the wechatpayv3 SDK's primitives), the HTTP client (client.py) and
notify opening (notify.py). Protocol facts: shared/protocol/wechatpay-v3.md. The simulator plays the platform with
its own implementation (cryptography directly), kept apart by an import-linter contract."""
