"""Staff tasks and HQ supervision against a hand-made dataset: nine tasks with chosen deadlines and completion times,
the four states (done on time, done late, overdue, open) and the rates computed by hand, per region, store and staff;
scoping (a region manager sees their region's stores, a store manager their store, store staff are refused);
HQ's assignment fanned out to the staff of the stores it names (audited, field errors, another enterprise's store
unknown); completing with a note; reminders once per task per Shanghai day; the Excel export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from django.test import Client
from openpyxl import load_workbook

from siyu.automation import staff_tasks, supervision
from siyu.automation.models import StaffTask, TaskKind, TaskReminder, TaskStatus
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom.models import OutboundCall
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.org.models import Staff
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import CustomerFactory, EnterpriseFactory, RegionFactory, StoreFactory

pytestmark = pytest.mark.django_db

T = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
DAY = timedelta(days=1)


def _task(org: Org, staff: Staff, name: str, due: datetime, done: datetime | None = None) -> StaffTask:
    return StaffTask.objects.create(
        enterprise=org.enterprise, staff=staff, store=staff.store, kind=TaskKind.CALL, title=name, key=name,
        status=TaskStatus.DONE if done else TaskStatus.OPEN, due_at=due, done_at=done, created_at=due - 3 * DAY)


def _dataset(org: Org) -> dict[str, StaffTask]:
    """n1: A on time, B late, C overdue, D open (n1_staff); E on time (n1_manager). n2: F overdue, G open.
    s1: H on time; I done long ago (deadline 40 days back, outside the 30-day window)."""
    rows = {
        "A": (org.n1_staff, T - 2 * DAY, T - 3 * DAY), "B": (org.n1_staff, T - 2 * DAY, T - DAY),
        "C": (org.n1_staff, T - timedelta(hours=1), None), "D": (org.n1_staff, T + DAY, None),
        "E": (org.n1_manager, T - DAY, T - DAY - timedelta(hours=1)),
        "F": (org.n2_staff, T - DAY, None), "G": (org.n2_staff, T + 2 * DAY, None),
        "H": (org.s1_staff, T - DAY, T - 2 * DAY), "I": (org.s1_staff, T - 40 * DAY, T - 41 * DAY),
    }
    return {name: _task(org, staff, name, due, done) for name, (staff, due, done) in rows.items()}


def _counts(rows: list[supervision.Execution]) -> dict[str, tuple[int, int, int, int, int, float]]:
    return {r.name: (r.total, r.on_time, r.late, r.overdue, r.open, r.rate) for r in rows}


def test_execution_rates_by_region_store_and_staff_match_the_hand_count(org: Org) -> None:
    _dataset(org)
    hq = scope_for_staff(org.hq)
    stores = _counts(supervision.execution(hq, by="store", now=T))
    assert stores == {"Beijing 1": (5, 2, 1, 1, 1, 0.4), "Tianjin 1": (2, 0, 0, 1, 1, 0.0),
                      "Guangzhou 1": (1, 1, 0, 0, 0, 1.0)}
    regions = _counts(supervision.execution(hq, by="region", now=T))
    assert regions == {"North": (7, 2, 1, 2, 2, 0.2857), "South": (1, 1, 0, 0, 0, 1.0)}
    staff = supervision.execution(hq, by="staff", now=T)
    by_name = _counts(staff)
    assert by_name[org.n1_staff.name] == (4, 1, 1, 1, 1, 0.25)
    assert by_name[org.n2_staff.name] == (2, 0, 0, 1, 1, 0.0)
    # the leaderboard: both perfect staff first, the one with nothing done on time last
    assert {staff[0].name, staff[1].name} == {org.n1_manager.name, org.s1_staff.name}
    assert staff[-1].name == org.n2_staff.name
    # a wider window takes I in: Guangzhou 1 has two tasks, both on time
    assert _counts(supervision.execution(hq, by="store", now=T, days=60))["Guangzhou 1"] == (2, 2, 0, 0, 0, 1.0)
    assert [t.title for t in supervision.overdue(hq, now=T)] == ["F", "C"]


def test_supervision_is_scoped_and_refused_to_store_staff(org: Org) -> None:
    _dataset(org)
    north = _counts(supervision.execution(scope_for_staff(org.north_manager), by="store", now=T))
    assert set(north) == {"Beijing 1", "Tianjin 1"}
    n1 = _counts(supervision.execution(scope_for_staff(org.n1_manager), by="staff", now=T))
    assert set(n1) == {org.n1_staff.name, org.n1_manager.name}
    with pytest.raises(PermissionDenied):
        supervision.execution(scope_for_staff(org.n1_staff), by="store", now=T)
    with pytest.raises(ValidationFailed):
        supervision.execution(scope_for_staff(org.hq), by="brand", now=T)


def test_reminders_go_once_per_task_per_shanghai_day(org: Org) -> None:
    tasks = _dataset(org)
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="WeCom", app_id="wwcorp", agent_id="1000002",
        secret="s", token="t", base_url="http://127.0.0.1:9/wecom")
    north = scope_for_staff(org.north_manager)
    first = staff_tasks.remind_overdue(scope=north, now=T)
    assert (first.tasks, first.staff, first.messages) == (2, 2, 2)  # C (n1_staff) and F (n2_staff)
    assert set(TaskReminder.objects.values_list("task__title", flat=True)) == {"C", "F"}
    calls = OutboundCall.objects.filter(account=account, method="send_app_message")
    assert sorted(c.payload["userids"][0] for c in calls.all()) == sorted([org.n1_staff.wecom_userid,
                                                                     org.n2_staff.wecom_userid])
    again = staff_tasks.remind_overdue(scope=north, now=T + timedelta(hours=11))  # 23:00 Shanghai: same day
    assert again.tasks == 0 and calls.all().count() == 2
    tomorrow = staff_tasks.remind_overdue(scope=north, now=T + timedelta(hours=12), task_ids=[tasks["C"].pk])
    assert (tomorrow.tasks, tomorrow.messages) == (1, 1) and calls.all().count() == 3
    assert TaskReminder.objects.count() == 3
    with pytest.raises(PermissionDenied):
        staff_tasks.remind_overdue(scope=scope_for_staff(org.n1_staff), now=T)


def test_hq_assigns_to_stores_and_staff_complete_with_a_note(org: Org) -> None:
    hq = scope_for_staff(org.hq)
    now = datetime.now(UTC)
    data = staff_tasks.AssignmentIn(kind="post_moment", title="发新品朋友圈", target="store",
                                    target_ids=[org.store_n1.pk, org.store_s1.pk], due_at=now + DAY)
    made = staff_tasks.create_assignment(scope=hq, data=data)
    got = set(StaffTask.objects.filter(assignment=made).values_list("staff_id", flat=True))
    assert got == {org.n1_staff.pk, org.n1_manager.pk, org.s1_staff.pk} and made.task_count == 3
    assert AuditEntry.objects.filter(action="automation.task_assigned", target_id=str(made.pk)).exists()
    brand = EnterpriseFactory.create(name="Other", code="other-brand", wecom_corp_id="wwother")
    other = StoreFactory.create(region=RegionFactory.create(enterprise=brand, code="far"))
    with pytest.raises(ValidationFailed) as err:
        staff_tasks.create_assignment(scope=hq, data=staff_tasks.AssignmentIn(
            kind="call", title="x", target="store", target_ids=[org.store_n1.pk, other.pk], due_at=now + DAY))
    assert err.value.field == "target_ids.1"
    with pytest.raises(ValidationFailed) as err:
        staff_tasks.create_assignment(scope=hq, data=staff_tasks.AssignmentIn(
            kind="call", title="x", target="store", target_ids=[org.store_n1.pk], due_at=now - DAY))
    assert err.value.field == "due_at"
    with pytest.raises(PermissionDenied):
        staff_tasks.create_assignment(scope=scope_for_staff(org.north_manager), data=data)
    mine = StaffTask.objects.get(assignment=made, staff=org.n1_staff)
    with pytest.raises(Exception) as other_staff:
        staff_tasks.complete(scope=scope_for_staff(org.s1_staff), task_id=mine.pk, note="x")
    assert type(other_staff.value).__name__ == "NotFound"
    done = staff_tasks.complete(scope=scope_for_staff(org.n1_staff), task_id=mine.pk, note="已发")
    twice = staff_tasks.complete(scope=scope_for_staff(org.n1_staff), task_id=mine.pk, note="again")
    assert done.status == TaskStatus.DONE and twice.note == "已发" and twice.done_at == done.done_at
    assert AuditEntry.objects.filter(action="automation.task_done", target_id=str(mine.pk)).count() == 1


def test_pages_api_and_export(org: Org) -> None:
    _dataset(org)
    person = CustomerFactory.create(enterprise=org.enterprise, name="王女士")
    StaffTask.objects.filter(title="D").update(customer=person)
    staff_client, north_client, hq_client = Client(), Client(), Client()
    for c, s in ((staff_client, org.n1_staff), (north_client, org.north_manager), (hq_client, org.hq)):
        assert s.user is not None
        c.force_login(s.user)
    page = staff_client.get("/journeys/tasks/").content.decode()
    assert "王女士" in page and page.count('class="card form-stack my-task"') == 2  # C and D: n1_staff's open tasks
    d = StaffTask.objects.get(title="D")
    assert staff_client.post("/journeys/tasks/", {"task_id": d.pk, "note": "打过电话"}).status_code == 302
    d.refresh_from_db()
    assert d.status == TaskStatus.DONE and d.note == "打过电话"
    assert staff_client.get("/journeys/supervision/").status_code == 403
    sup = north_client.get("/journeys/supervision/").content.decode()
    assert "Beijing 1" in sup and "Guangzhou 1" not in sup
    api = north_client.get("/api/journeys/tasks/supervision", {"by": "region"}).json()
    assert [(r["name"], r["total"], r["overdue"]) for r in api] == [("North", 7, 2)]
    assert north_client.get("/api/journeys/tasks/supervision", {"by": "nope"}).status_code == 422
    task_c = StaffTask.objects.get(title="C")
    noted = staff_client.post(f"/api/journeys/tasks/{task_c.pk}/complete", {"note": "已联系"},
                              content_type="application/json")
    assert noted.status_code == 200 and noted.json()["note"] == "已联系" and noted.json()["status"] == "done"
    assert staff_client.post(f"/api/journeys/tasks/{task_c.pk}/complete", {"note": "x" * 501},
                             content_type="application/json").status_code == 422
    sheet = hq_client.get("/journeys/supervision/", {"format": "xlsx", "days": "30"})
    book = load_workbook(BytesIO(sheet.content))
    assert len(book.sheetnames) == 4
    assert sum(1 for _ in book[book.sheetnames[1]].iter_rows()) == 4  # a header and three stores
    assert hq_client.get("/journeys/tasks/all/").status_code == 200
    assert "D" in north_client.get("/journeys/tasks/all/").content.decode()
