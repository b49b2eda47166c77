"""The journeys console: HQ starts the welcome series from its SOP template, activates it, and sees the per-node
counts move (table and funnel data) after a customer enters; in Chinese, at the phone layout's markup."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.automation import services
from siyu.automation.models import Journey
from tests.automation.helpers import added, build_world, customer
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def test_hq_starts_a_sop_activates_it_and_sees_counts(org: Org) -> None:
    world = build_world(org)
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    assert "新好友欢迎序列" in client.get("/journeys/").content.decode()
    made = client.post("/journeys/", {"sop": "welcome"})
    journey = Journey.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/journeys/{journey.pk}/"
    assert client.post(f"/journeys/{journey.pk}/status/", {"status": "live"}).status_code == 302
    person = customer(world, "甲", timezone.now() - timedelta(seconds=1))
    added(person, timezone.now() - timedelta(seconds=1))
    services.tick()
    page = client.get(f"/journeys/{journey.pk}/").content.decode()
    assert re.search(r'id="c-entered">1<', page) and "已生效" in page and "欢迎新好友" in page
    found = re.search(r'id="funnel-data" type="application/json">(.*?)</script>', page)
    assert found is not None
    funnel = json.loads(found.group(1))
    # day 0 task passed; the customer waits at the first wait (1 day); nothing further yet
    assert funnel["values"][:3] == [1, 1, 0] and funnel["entered"] == 1
    assert client.post("/journeys/", {"sop": "nope"}).status_code == 302
    assert Journey.objects.count() == 1
