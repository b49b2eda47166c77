"""The task registry: services enqueue by name, the apps' tasks modules fill it when the project is ready."""

from __future__ import annotations

import pytest

from siyu.channels.official_account import tasks as oa_tasks
from siyu.channels.wecom import tasks as wecom_tasks
from siyu.core import jobs
from siyu.orders import tasks as order_tasks


def test_every_task_a_service_enqueues_is_registered_by_its_apps_ready() -> None:
    assert jobs.get("run_wecom_call") is wecom_tasks.run_wecom_call
    assert jobs.get("process_wecom_callbacks") is wecom_tasks.process_wecom_callbacks
    assert jobs.get("sync_wecom_customers") is wecom_tasks.sync_wecom_customers
    assert jobs.get("deliver_oa_template") is oa_tasks.deliver_oa_template
    assert jobs.get("process_oa_callback") is oa_tasks.process_oa_callback
    assert jobs.get("push_oa_menu") is oa_tasks.push_oa_menu
    assert jobs.get("sync_oa_followers") is oa_tasks.sync_oa_followers
    assert jobs.get("run_platform_import_task") is order_tasks.run_platform_import_task


def test_an_unknown_name_says_which_and_a_name_cannot_be_taken_twice() -> None:
    with pytest.raises(KeyError, match="no_such_task"):
        jobs.get("no_such_task")
    with pytest.raises(ValueError, match="already registered"):
        jobs.register("run_wecom_call")(object())
    assert jobs.register("run_wecom_call")(wecom_tasks.run_wecom_call) is wecom_tasks.run_wecom_call
