"""A simulated SMS provider, mounted under /sms by the simulator server.

- `POST /send` `{"phone", "sign", "text", "key"}`: accepts a text for a mainland mobile number (11 digits from 1);
  the same `key` twice is one message. Answers `{"code": "OK", "message_id"}` or `{"code": "INVALID_PHONE"}` (400).
- `GET /sim/inbox?phone=...` (simulator only): what that phone received, newest last, as a person reads it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

PHONE = re.compile(r"1\d{10}")


@dataclass
class SmsState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    inbox: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def send(self, phone: str, sign: str, text: str, key: str) -> str:
        with self.lock:
            if key and key in self.keys:
                return self.keys[key]
            self.counter += 1
            message_id = f"sms{self.counter:08d}"
            self.inbox.setdefault(phone, []).append(f"【{sign}】{text}" if sign else text)
            if key:
                self.keys[key] = message_id
            return message_id

    def messages(self, phone: str) -> list[str]:
        with self.lock:
            return list(self.inbox.get(phone, []))

    def last_code(self, phone: str) -> str:
        """The last 6-digit code this phone received (what a tester types in)."""
        for text in reversed(self.messages(phone)):
            found = re.search(r"\d{6}", text)
            if found:
                return found.group(0)
        return ""


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


def make_app(state: SmsState) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/sim/inbox" and method == "GET":
            phone = parse_qs(environ.get("QUERY_STRING", "")).get("phone", [""])[0]
            return _answer(start_response, "200 OK", {"phone": phone, "messages": state.messages(phone)})
        if path != "/send" or method != "POST":
            return _answer(start_response, "404 Not Found", {"code": "NOT_FOUND"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > 64 * 1024:
            return _answer(start_response, "413 Payload Too Large", {"code": "TOO_LARGE"})
        try:
            data = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return _answer(start_response, "400 Bad Request", {"code": "BAD_JSON"})
        phone, text = str(data.get("phone", "")), str(data.get("text", ""))
        if not PHONE.fullmatch(phone):
            return _answer(start_response, "400 Bad Request", {"code": "INVALID_PHONE"})
        if not text or len(text) > 500:
            return _answer(start_response, "400 Bad Request", {"code": "INVALID_TEXT"})
        message_id = state.send(phone, str(data.get("sign", ""))[:20], text, str(data.get("key", ""))[:128])
        return _answer(start_response, "200 OK", {"code": "OK", "message_id": message_id})

    return app
