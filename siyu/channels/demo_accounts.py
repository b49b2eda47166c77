"""The demo's channel credentials, shared by the simulator (playing the platform, top-level `simulator/`) and the
demo seed (Siyu's side). The product owns them; the simulator imports them, never the other way.

Not secrets: they only ever talk to the local simulator. A real deployment enters its own in the console.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoApp:
    app_id: str
    agent_id: str
    secret: str
    token: str
    encoding_aes_key: str


WECOM = DemoApp(
    app_id="ww5iyudemo0000001",
    agent_id="1000002",
    secret="siyu-demo-wecom-contact-secret-0001",  # noqa: S106
    token="siyuDemoWecomToken",  # noqa: S106
    encoding_aes_key="c2l5dWRlbW93ZWNvbWVuY29kaW5nYWVza2V5MDAwMDE",
)

OFFICIAL_ACCOUNT = DemoApp(
    app_id="wx5iyudemo000001",
    agent_id="",
    secret="siyu-demo-oa-app-secret-000000001",  # noqa: S106
    token="siyuDemoOaToken",  # noqa: S106
    encoding_aes_key="c2l5dWRlbW9vZmZpY2lhbGFjY291bnRhZXNrZXkwMDE",
)

MINIPROGRAM = DemoApp(
    app_id="wx5iyudemomp00001",
    agent_id="",
    secret="siyu-demo-miniprogram-secret-0001",  # noqa: S106
    token="",
    encoding_aes_key="",
)
