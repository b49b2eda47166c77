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


def transactional(task: Any) -> bool:
    """Whether the task's backend stores the job in our database, inside the caller's transaction (django-tasks-db):
    then an enqueue commits or rolls back with the rows it names. A Redis queue (RQ) is outside the transaction."""
    return transactional_backend(task.get_backend())


def default_transactional() -> bool:
    """Whether the configured default backend is the database's (what the worker and the metrics serve)."""
    from django_tasks import task_backends  # noqa: PLC0415 - read when asked, after settings

    return transactional_backend(task_backends["default"])


def transactional_backend(backend: Any) -> bool:
    from django_tasks_db import DatabaseBackend  # noqa: PLC0415 - a third-party backend, imported when asked

    return isinstance(backend, DatabaseBackend)


def enqueue(name: str, *args: Any, run_after: Any = None) -> None:
    """Queue the task `name` with `args`, safely for any backend.

    On the database backend the job row is written now, in the caller's transaction: it commits with the rows the job
    reads, or not at all. On a backend outside the database (Redis) the job is queued only once the caller's
    transaction commits (at once when there is none): a worker on another machine could otherwise run it before the
    rows it reads exist, or run it for a transaction that rolled back. `robust`: a queue that refuses after the commit
    is logged, never turns a committed request into a 500; every job is re-found by its periodic sweep.
    """
    from django.db import transaction  # noqa: PLC0415

    task = get(name)
    if run_after is not None:
        task = task.using(run_after=run_after)
    if transactional(task):
        task.enqueue(*args)
    else:
        transaction.on_commit(lambda: task.enqueue(*args), robust=True)
