"""Group fission is tested against the WeCom simulator: its fixtures (the platform on a loopback port, the
account, tasks run at once) are the WeCom tests' own."""

from tests.channels.wecom.conftest import immediate_tasks, platform, sim_server, wecom  # noqa: F401
