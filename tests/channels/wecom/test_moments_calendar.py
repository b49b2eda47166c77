"""The moments calendar (siyu.content): a planned moment, once due, becomes a WeCom moment task through the existing
adapter (outbox, add_moment_task on the simulator), exactly once however often the scheduler runs; a store's plan is
published by that store's staff; a plan that cannot be handed over says why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import translation

from siyu.content import services
from siyu.content.models import MomentPlan
from siyu.core.errors import PermissionDenied
from siyu.core.timeutil import now
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_due_plan_becomes_one_moment_task_on_the_simulator(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    due = services.plan_moment(scope=hq, planned_at=now() - timedelta(minutes=1), text="周末新品上架",
                               store_id=wecom.org.store_n1.pk)
    later = services.plan_moment(scope=hq, planned_at=now() + timedelta(days=2), text="下周活动预告")
    assert services.run_due_moments() == 1
    assert services.run_due_moments() == 0  # the scheduler's next tick: nothing twice
    due.refresh_from_db()
    assert due.status == "created" and due.moment_task is not None
    jobs = list(wecom.platform.corps[CORP_ID].moments.values())
    assert len(jobs) == 1 and jobs[0]["text"] == "周末新品上架"
    assert sorted(jobs[0]["users"]) == ["n1_mgr", "n1_staff"]  # store n1's staff publish it
    assert MomentPlan.objects.get(pk=later.pk).status == "planned"
    assert services.run_due_moments(at=now() + timedelta(days=3)) == 1
    everyone = MomentPlan.objects.get(pk=later.pk)
    assert everyone.status == "created" and len(wecom.platform.corps[CORP_ID].moments) == 2


def test_only_hq_plans_and_a_store_without_staff_fails_visibly(wecom: Wecom) -> None:
    with pytest.raises(PermissionDenied):
        services.plan_moment(scope=scope_for_staff(wecom.org.n1_manager), planned_at=now(), text="店长自建")
    hq = Scope.hq(wecom.org.enterprise.pk)
    plan = services.plan_moment(scope=hq, planned_at=now() - timedelta(seconds=5), text="深圳店活动",
                                store_id=wecom.org.store_s2.pk)
    with translation.override("zh-hans"):  # the worker's language, the default (Chinese)
        assert services.run_due_moments() == 0
    plan.refresh_from_db()
    assert (plan.status, plan.error) == ("failed", "该门店没有在职员工")
    assert wecom.platform.corps[CORP_ID].moments == {}


def test_the_calendar_page(wecom: Wecom) -> None:
    assert wecom.org.hq.user is not None and wecom.org.n1_staff.user is not None
    client = Client()
    client.force_login(wecom.org.hq.user)
    page = client.get("/content/moments/")
    key = page.context["form"]["form_key"].value()
    when = (now() + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT10:00")
    response = client.post("/content/moments/", {"form_key": key, "planned_at": when, "text": "明日上新"})
    assert response.status_code == 302 and MomentPlan.objects.get().text == "明日上新"
    staff = Client()
    staff.force_login(wecom.org.n1_staff.user)
    assert "明日上新" in staff.get("/content/moments/").content.decode()
    assert staff.post("/content/moments/", {"text": "x"}).status_code == 403
