"""The channel simulator's HTTP server: WeCom's API under /wecom, the Official Account's under /oa, the mini-program
platform under /mp and WeChat Pay under /pay, all over one state object (simulator.state.Simulator).

Each platform's WSGI app (`make_app(state)`) sees paths with its prefix stripped (so `/wecom/cgi-bin/gettoken`
reaches the WeCom app as `/cgi-bin/gettoken`): an adapter whose base URL is `http://127.0.0.1:8001/wecom` talks to
the simulator exactly as it would talk to the platform.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from simulator import faults as faults_module
from simulator import state
from simulator.faults import Faults
from simulator.state import Simulator, WSGIApp


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "application/json")])
    return [b'{"errcode": 404, "errmsg": "not found"}']


def dispatcher(mounts: dict[str, WSGIApp]) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, target in mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                environ = {**environ, "SCRIPT_NAME": prefix, "PATH_INFO": path[len(prefix) :] or "/"}
                return target(environ, start_response)
        return _not_found(environ, start_response)

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass


class SimulatorServer:
    """Start on 127.0.0.1 (port 0 picks a free one), use `.base_url`, stop with `.stop()` or a `with` block.

    It serves every platform of `simulator` (default: `simulator.state.current()`, read when the server is made),
    or only the `mounts` given (a test serving one platform over a state of its own). `faults` (simulator.faults)
    stands in front of them all: empty, it lets every request through."""

    def __init__(
        self, port: int = 0, mounts: dict[str, WSGIApp] | None = None, simulator: Simulator | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.simulator = simulator or state.current()
        self.faults = faults or Faults()
        app = faults_module.wrap(dispatcher(mounts or self.simulator.mounts()), self.faults)
        self.httpd = make_server("127.0.0.1", port, app, _ThreadingServer, _QuietHandler)
        self.port = self.httpd.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="siyu-simulator", daemon=True)

    def start(self) -> SimulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
