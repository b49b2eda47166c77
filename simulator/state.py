"""The simulator's state as one object: what every simulated platform remembers.

A `Simulator` owns one state per platform: the WeCom platform (`wecom`), the Official Account (`oa`), the
mini-program platform (`miniprogram`), WeChat Pay (`wechatpay`) and an SMS provider (`sms`). The platform
modules keep no state of their own:
their WSGI apps are made over a state (`make_app(state)`) and their traffic drivers take it as an argument.

The running simulator is reached through one accessor, `current()`: `siyu simulate` makes a Simulator and
installs it; the server mounts the apps of the one it is given (or of `current()`); tests start from a fresh one
with `reset()` (tests/conftest.py does so before every test).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from simulator import miniprogram, oa, sms, wechatpay, wecom

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Simulator:
    """Every simulated platform's memory. Each state guards itself with its own lock (the server is threaded)."""

    def __init__(self, *, wecom_platform: wecom.WecomPlatform | None = None) -> None:
        self.wecom = wecom_platform or wecom.WecomPlatform(auto_members=True)
        self.oa = oa.OaState()
        self.miniprogram = miniprogram.MiniProgramState()
        self.wechatpay = wechatpay.PayState()
        self.sms = sms.SmsState()

    def mounts(self) -> dict[str, WSGIApp]:
        """The platforms' WSGI apps over this state, by the path prefix the simulator server mounts them at."""
        return {
            "/wecom": wecom.make_app(self.wecom),
            "/oa": oa.make_app(self.oa),
            "/mp": miniprogram.make_app(self.miniprogram),
            "/pay": wechatpay.make_app(self.wechatpay),
            "/sms": sms.make_app(self.sms),
        }


class _Current:
    """The one holder of the running simulator (an instance, so nothing rebinds a module global)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.simulator: Simulator | None = None


_CURRENT = _Current()


def current() -> Simulator:
    """The running simulator; the first call (a test, a script) makes one."""
    with _CURRENT.lock:
        if _CURRENT.simulator is None:
            _CURRENT.simulator = Simulator()
        return _CURRENT.simulator


def install(simulator: Simulator) -> Simulator:
    """Make `simulator` the running one (what `siyu simulate` does with the one it made)."""
    with _CURRENT.lock:
        _CURRENT.simulator = simulator
    return simulator


def reset() -> Simulator:
    """A fresh simulator, installed: every platform forgets everything (tests call this between tests)."""
    return install(Simulator())
