"""A journey's send step goes through the campaigns' delivery path: a Delivery row keyed by the step, the contact
budget checked when the step runs (blocked: the step says why and the journey takes `on_blocked`), quiet hours delay
the send, and the campaigns' sender sends it once whatever is retried. Expectations are written out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from siyu.automation import services
from siyu.automation.models import Enrollment, Timer, TimerStatus
from siyu.core.errors import ValidationFailed
from siyu.messaging import queries as messaging_queries
from siyu.messaging import senders
from siyu.messaging import services as messaging
from siyu.messaging.models import Campaign, Delivery
from siyu.org.scope import Scope
from tests.automation.helpers import World, added, build_world, live, steps, tasks
from tests.conftest import Org
from tests.messaging.helpers import make_customer, past_contacts

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai (default quiet hours 21:00-09:00)


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(T0 - timedelta(minutes=5)) as frozen:
        assert isinstance(frozen, FrozenDateTimeFactory)
        yield frozen


@pytest.fixture
def world(org: Org, clock: FrozenDateTimeFactory) -> World:
    built = build_world(org)
    clock.move_to(T0)
    return built


@pytest.fixture
def sim(settings: Any) -> Iterator[Simulator]:
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state


def _send_journey(on_blocked: bool = False) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "hello", "kind": "action", "action": "send", "channels": ["sms"],
         "content": {"sms": "{name}，{store}欢迎您"}, "sms_sign": "品牌",
         **({"on_blocked": "call"} if on_blocked else {})},
        {"id": "done", "kind": "exit"},
    ]
    if on_blocked:
        nodes.append({"id": "call", "kind": "action", "action": "create_task", "title": "电话问候"})
    return {"entry": {"kind": "event", "event": "wecom_contact_added"}, "nodes": nodes}


def _start(person: Any, at: datetime) -> None:
    added(person, at)


def test_a_send_step_reaches_the_simulator_once(world: World, clock: FrozenDateTimeFactory, sim: Simulator) -> None:
    journey = live(world, "欢迎短信", _send_journey())
    person = make_customer(world.org, name="王芳", phone=True, sms_consent=True)
    _start(person, T0)
    clock.move_to(T0 + timedelta(seconds=2))
    services.tick()
    enrollment = Enrollment.objects.get(customer=person)
    row = Delivery.objects.get(customer=person)
    assert (row.key, row.status, row.channel, row.target) == (f"journey:{enrollment.pk}:hello", "planned", "sms",
                                                              person.phone)
    assert steps(person) == [("hello", "done"), ("done", "done")]
    assert messaging.send_due() == 1
    services.tick()
    assert messaging.send_due() == 0
    assert sim.sms.messages(person.phone) == ["【品牌】王芳，Beijing 1欢迎您"]
    row.refresh_from_db()
    assert row.status == "sent"
    # the hidden campaign carries the send: it is no campaign of the list, and it stays open for the next entrant
    hidden = Campaign.objects.get(pk=row.campaign_id)
    assert hidden.journey_node == "hello" and hidden.status == "sending"
    assert not messaging_queries.campaigns(Scope.hq(world.enterprise_id)).filter(pk=hidden.pk).exists()
    assert journey.pk  # (the journey made it)


def test_the_contact_budget_blocks_a_step_and_the_journey_takes_on_blocked(world: World,
                                                                          clock: FrozenDateTimeFactory,
                                                                          sim: Simulator) -> None:
    live(world, "欢迎短信", _send_journey(on_blocked=True))
    capped = make_customer(world.org, phone=True, sms_consent=True, wecom=world.org.n1_staff)
    past_contacts(world.org, capped, "sms", [T0 - timedelta(hours=1)])  # today's one contact (max 1 a day)
    quiet = make_customer(world.org, phone=True, sms_consent=True, dnd=True, wecom=world.org.n1_staff)
    withdrawn = make_customer(world.org, phone=True, wecom=world.org.n1_staff)  # no SMS consent
    fine = make_customer(world.org, phone=True, sms_consent=True, wecom=world.org.n1_staff)
    for person in (capped, quiet, withdrawn, fine):
        _start(person, T0)
    clock.move_to(T0 + timedelta(seconds=2))
    services.tick()
    assert steps(capped) == [("hello", "skipped"), ("call", "done")]
    assert steps(fine) == [("hello", "done"), ("done", "done")]
    codes = dict(Delivery.objects.filter(key__startswith="journey:").values_list("customer_id", "reason"))
    assert codes == {capped.pk: "daily_cap", quiet.pk: "dnd", withdrawn.pk: "opted_out", fine.pk: ""}
    from siyu.automation.models import Step  # noqa: PLC0415

    assert dict(Step.objects.filter(node="hello").values_list("enrollment__customer_id", "code")) == codes
    assert tasks(capped) == ["电话问候"] and tasks(fine) == []
    messaging.send_due()
    assert sim.sms.messages(capped.phone) == [] and sim.sms.messages(quiet.phone) == []
    assert len(sim.sms.messages(fine.phone)) == 1
    # the journey's own send counts toward the budget: a second entry the same day is blocked by the daily cap
    _start(fine, T0 + timedelta(minutes=1))
    clock.move_to(T0 + timedelta(minutes=1, seconds=2))
    services.tick()
    assert [s for s in steps(fine) if s[0] == "hello"] == [("hello", "done"), ("hello", "skipped")]
    assert len(sim.sms.messages(fine.phone)) == 1


def test_a_step_in_quiet_hours_is_sent_when_they_end(world: World, clock: FrozenDateTimeFactory,
                                                      sim: Simulator) -> None:
    live(world, "欢迎短信", _send_journey())
    person = make_customer(world.org, phone=True, sms_consent=True)
    night = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    clock.move_to(night)
    _start(person, night)
    services.tick()
    row = Delivery.objects.get(customer=person)
    assert row.due_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 09:00 the next morning in Shanghai
    assert messaging.send_due() == 0
    clock.move_to(datetime(2026, 12, 8, 1, 0, 1, tzinfo=UTC))
    assert messaging.send_due() == 1
    assert len(sim.sms.messages(person.phone)) == 1


def test_retries_never_double(world: World, clock: FrozenDateTimeFactory, sim: Simulator, settings: Any) -> None:
    live(world, "欢迎短信", _send_journey())
    person = make_customer(world.org, phone=True, sms_consent=True)
    _start(person, T0)
    clock.move_to(T0 + timedelta(seconds=2))
    services.tick()
    enrollment = Enrollment.objects.get(customer=person)
    # the step's timer runs again (a worker that lost its claim after committing): no second row, no second step
    timer = Timer.objects.get(enrollment=enrollment, node="hello")
    Timer.objects.filter(pk=timer.pk).update(status=TimerStatus.CLAIMED, claimed_by="again")
    Enrollment.objects.filter(pk=enrollment.pk).update(status="active", current_node="hello")
    assert services.run_timer(timer_id=timer.pk, token="again", now=T0 + timedelta(seconds=3))
    assert Delivery.objects.filter(customer=person).count() == 1
    assert steps(person).count(("hello", "done")) == 1
    # a sender worker that sent and died before recording it: its claim lapses, the retry finds the keyed SMS row
    settings.SIYU_CAMPAIGN_LEASE_S = 5
    token = messaging.claim_batch()
    row = Delivery.objects.get(claim=token)
    senders.send_sms(enterprise_id=world.enterprise_id, customer_id=person.pk, phone=row.target, sign="品牌",
                     text="x", key=row.key)
    clock.move_to(T0 + timedelta(seconds=30))
    assert messaging.send_due() == 1
    assert len(sim.sms.messages(person.phone)) == 1
    assert Delivery.objects.get(pk=row.pk).status == "sent"


def test_a_send_step_is_checked_like_a_campaign(world: World, org: Org) -> None:
    bad = _send_journey()
    bad["nodes"][0]["channels"] = ["official_account"]
    bad["nodes"][0]["content"] = {"official_account": "您好"}
    with pytest.raises(ValidationFailed) as refused:
        services.create_journey(scope=world.hq, name="x", definition=bad)
    assert (refused.value.field, refused.value.code) == ("definition.nodes.0.oa_template_id", "required")
    no_text = _send_journey()
    no_text["nodes"][0]["content"] = {}
    with pytest.raises(ValidationFailed) as invalid:
        services.create_journey(scope=world.hq, name="x", definition=no_text)
    assert invalid.value.code == "invalid_definition"
