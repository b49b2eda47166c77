from __future__ import annotations

from django_tasks import task

from siyu.channels.sms import services


@task()
def prune_replay_keys() -> int:
    """Periodic: replay keys whose timestamp left the ±300 s window can never match again."""
    return services.prune_replay_keys()
