"""Tasks by name: a service enqueues work through this registry, so it never imports the tasks module that imports it.

Tasks import services (ids in, one service call); services only name the task they want run. Each app's tasks module
registers its tasks when the app is ready (`AppConfig.ready` imports it), so a name is always known by the time a
service runs:

    @jobs.register("wecom.run_call")
    @task()
    def run_wecom_call(call_id: int) -> str: ...

    jobs.get("wecom.run_call").enqueue(call.pk)   # in a service
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_TASKS: dict[str, Any] = {}


def register(name: str) -> Callable[[T], T]:
    """Record a task (a django_tasks Task: anything with .enqueue(), .using(), .get_backend()) under `name`."""

    def decorate(task: T) -> T:
        existing = _TASKS.get(name)
        if existing is not None and existing is not task:
            raise ValueError(f"task {name!r} is already registered")
        _TASKS[name] = task
        return task

    return decorate


def get(name: str) -> Any:
    """The task registered under `name`; a KeyError names a task whose app's tasks module was never imported."""
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"no task registered as {name!r} (is the app's tasks module imported in its ready()?)") from None


def registered() -> list[str]:
    return sorted(_TASKS)
