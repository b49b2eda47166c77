"""The analytics process's query endpoint: HTTP on 127.0.0.1, a JSON body in, rows out.

DuckDB lets one process open a database file read-write and then no other process may open it at all, so the
process that owns the copy answers the web and worker processes' queries. The SQL comes from Siyu's own compilers
(segment rules, RFM, dashboards), never from a user; a key derived from SECRET_KEY keeps other local processes out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.conf import settings

from siyu.analytics.engine.copy import ColumnarCopy

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024


def engine_key() -> str:
    return hmac.new(settings.SECRET_KEY.encode(), b"siyu-analytics-engine", hashlib.sha256).hexdigest()


def database_fingerprint() -> str:
    """Which OLTP database a copy mirrors: a web process only trusts an engine that mirrors its own database."""
    db = settings.DATABASES["default"]
    text = "|".join(str(db.get(k) or "") for k in ("ENGINE", "NAME", "HOST", "PORT"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decode_params(params: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in params:
        if isinstance(value, dict) and "$t" in value:
            out.append(datetime.fromisoformat(value["$t"]))
        elif isinstance(value, dict) and "$d" in value:
            out.append(date.fromisoformat(value["$d"]))
        else:
            out.append(value)
    return out


def encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return float(value)
    return value


def _json_default(value: Any) -> Any:
    encoded = encode_value(value)
    if encoded is value:
        return str(value)
    return encoded


class _Handler(BaseHTTPRequestHandler):
    server: EngineServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("analytics http: " + format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=_json_default).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        return hmac.compare_digest(self.headers.get("X-Siyu-Engine-Key", ""), self.server.key)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if not self._authorised():
            self._send(401, {"error": "unauthorised"})
            return
        if self.path != "/status":
            self._send(404, {"error": "not found"})
            return
        copy = self.server.copy
        self._send(200, {
            "fingerprint": database_fingerprint(),
            "as_of": copy.as_of.isoformat() if copy.as_of else None,
            "built_at": copy.built_at.isoformat() if copy.built_at else None,
        })

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        if not self._authorised():
            self._send(401, {"error": "unauthorised"})
            return
        if self.path != "/query":
            self._send(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(413, {"error": "body too large or empty"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            answer = self.server.copy.query(str(body["sql"]), decode_params(list(body.get("params") or [])))
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who raises it as an engine error
            self._send(400, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._send(200, {
            "columns": answer.columns,
            "rows": [[encode_value(v) for v in row] for row in answer.rows],
            "as_of": answer.as_of.isoformat() if answer.as_of else None,
            "elapsed_ms": answer.elapsed_ms,
        })


class EngineServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, copy: ColumnarCopy, port: int) -> None:
        self.copy = copy
        self.key = engine_key()
        super().__init__(("127.0.0.1", port), _Handler)


def serve_in_thread(copy: ColumnarCopy, port: int) -> EngineServer:
    server = EngineServer(copy, port)
    threading.Thread(target=server.serve_forever, name="analytics-http", daemon=True).start()
    return server
