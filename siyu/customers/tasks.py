"""Worker tasks: ids in, one service call, safe to run twice (a second run finds the import claimed or done)."""

from __future__ import annotations

from django_tasks import task

from siyu.core import jobs
from siyu.customers import member_import


@jobs.register(member_import.TASK)
@task()
def run_member_import_task(import_id: int) -> str:
    return member_import.run_member_import(import_id=import_id)
