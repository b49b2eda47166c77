from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.customers import services
from siyu.customers.models import Customer, Tag, TagGroup
from siyu.customers.services import IdentityInput
from tests.conftest import Org


@dataclass
class People:
    """Three customers, one per store staff member; Ada is tagged VIP, and she has a WeCom identity."""

    ada: Customer  # followed by n1_staff (store Beijing 1)
    bob: Customer  # followed by n2_staff (store Tianjin 1)
    cai: Customer  # followed by s1_staff (store Guangzhou 1)
    group: TagGroup
    vip: Tag
    newbie: Tag


@pytest.fixture
def people(org: Org) -> People:
    now = timezone.now()
    ent = org.enterprise.pk
    ada = services.create_customer(
        enterprise_id=ent,
        name="Ada Wang",
        phone="13800000001",
        created_source="wecom",
        home_store_id=org.store_n1.pk,
        identities=[IdentityInput(kind="wecom_external_userid", value="wmAda0001", account="wwtestcorp0001")],
        created_at=now - timedelta(hours=1),
    )
    bob = services.create_customer(
        enterprise_id=ent, name="Bob Li", created_source="official_account", home_store_id=org.store_n2.pk,
        created_at=now - timedelta(hours=2),
    )
    cai = services.create_customer(
        enterprise_id=ent, name="Cai Zhang", created_source="wecom", home_store_id=org.store_s1.pk,
        created_at=now - timedelta(hours=3),
    )
    services.add_relationship(customer=ada, staff=org.n1_staff, added_at=now, state="poster_sanlitun")
    services.add_relationship(customer=bob, staff=org.n2_staff, added_at=now)
    services.add_relationship(customer=cai, staff=org.s1_staff, added_at=now)
    group = services.create_tag_group(enterprise_id=ent, name="Value")
    vip = services.create_tag(group=group, name="VIP")
    newbie = services.create_tag(group=group, name="Newbie")
    services.tag_customers(enterprise_id=ent, customer_ids=[ada.pk], tag_ids=[vip.pk])
    return People(ada=ada, bob=bob, cai=cai, group=group, vip=vip, newbie=newbie)
