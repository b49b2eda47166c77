"""The standard SOP templates: each is a valid graph (the schema and the enterprise's references), and the birthday
wait lands where a hand count of the calendar says (Shanghai is UTC+8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time

from siyu.automation import graph, services
from siyu.automation.models import Enrollment, Timer
from siyu.core.errors import ValidationFailed
from tests.automation.helpers import added, build_world, customer, live, steps
from tests.conftest import Org

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("sop", services.SOPS)
def test_each_sop_is_a_valid_journey(org: Org, sop: str) -> None:
    world = build_world(org)
    name, definition = services.sop_definition(sop, world.enterprise_id)
    parsed = graph.parse(definition)
    assert name and parsed.nodes
    journey = services.create_from_sop(scope=world.hq, sop=sop)
    assert journey.current_version is not None and journey.current_version.definition == parsed.model_dump(
        mode="json")


def test_an_unknown_sop_is_refused(org: Org) -> None:
    world = build_world(org)
    with pytest.raises(ValidationFailed) as refused:
        services.create_from_sop(scope=world.hq, sop="nope")
    assert (refused.value.field, refused.value.code) == ("sop", "unknown_sop")


@pytest.mark.parametrize(("born", "offset", "due"), [
    (date(1990, 12, 20), -3, datetime(2026, 12, 17, 2, 0, tzinfo=UTC)),  # 17 Dec 10:00 Shanghai
    (date(1990, 12, 7), 0, datetime(2026, 12, 7, 2, 0, tzinfo=UTC)),  # today 10:00, still ahead
    (date(1990, 12, 1), 0, datetime(2027, 12, 1, 2, 0, tzinfo=UTC)),  # past this year: next year's
    (date(1992, 2, 29), 1, datetime(2027, 3, 1, 2, 0, tzinfo=UTC)),  # 28 Feb 2027 (no 29th) + 1 day
])
def test_a_wait_until_the_birthday(born: date, offset: int, due: datetime) -> None:
    node = graph.WaitNode(id="w", kind="wait", date_field="birthday", offset_days=offset, until="10:00")
    assert services.until_date(node, born, datetime(2026, 12, 7, 1, 0, tzinfo=UTC)) == due


def test_the_birthday_journey_waits_for_the_date_and_lets_those_without_one_go(org: Org) -> None:
    t0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    with freeze_time(t0) as clock:
        world = build_world(org)
        live(world, "生日", services.sop_definition("birthday", world.enterprise_id)[1])
        dated = customer(world, "有生日", t0)
        dated.birthday = date(1995, 12, 12)
        dated.save(update_fields=["birthday"])
        undated = customer(world, "无生日", t0)
        added(dated, t0)
        added(undated, t0)
        clock.move_to(t0 + timedelta(seconds=2))
        services.tick()
        assert steps(undated) == [("before", "skipped")]
        assert Enrollment.objects.get(customer=undated).status == "exited"
        timer = Timer.objects.get(enrollment__customer=dated, node="before", kind="step")
        assert timer.due_at == datetime(2026, 12, 9, 2, 0, tzinfo=UTC)  # 12 Dec - 3 days, 10:00 Shanghai
        clock.move_to(datetime(2026, 12, 9, 2, 0, 1, tzinfo=UTC))
        services.tick()
        assert steps(dated) == [("before", "done"), ("gift", "done")]
