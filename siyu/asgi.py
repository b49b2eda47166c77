"""The ASGI application `siyu serve` runs: WeCom callback POSTs on their fast path, the other callback requests with
their body bounded first, everything else through Django."""

import os
from functools import partial
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
django_application = get_asgi_application()

from siyu.channels.common import asgi as callback_asgi  # noqa: E402 - needs the apps loaded above
from siyu.channels.wecom import asgi as wecom_asgi  # noqa: E402
from siyu.ops.metrics import FAST_PATH, count_asgi  # noqa: E402


async def application(scope: Any, receive: Any, send: Any) -> None:
    account_id = wecom_asgi.match(scope)
    if account_id is not None:
        await count_asgi(partial(wecom_asgi.handle, account_id=account_id), FAST_PATH)(scope, receive, send)
        return
    if callback_asgi.is_callback(scope):
        await callback_asgi.limited(scope, receive, send, django_application)
        return
    await django_application(scope, receive, send)
