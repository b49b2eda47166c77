"""The organisation of a demo enterprise: regions, stores, staff and tag groups, written through the ORM (a hundred
rows), so the bulk generator only has ids to point at.

The seed app sits above the domain apps, so it imports their models directly; `model()` maps the generator's table
labels ("customers.Event") to models for the bulk writer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction

from siyu.customers.models import Tag, TagGroup
from siyu.org.models import Enterprise, Region, Staff, Store
from siyu.seed import vocab
from siyu.seed.columns import IntArray

DEMO_WECOM_CORP_ID = "ww5iyudemo0000001"  # the simulator's demo corp (siyu.channels.demo_accounts)
DEMO_OA_APP_ID = "wx5iyudemo000001"
DEMO_MP_APP_ID = "wx5iyudemomp00001"


def model(label: str) -> Any:
    app_label, name = label.split(".")
    return apps.get_model(app_label, name)


@dataclass(frozen=True)
class OrgPlan:
    enterprise_id: int
    code: str
    wecom_corp_id: str
    oa_app_id: str
    mp_app_id: str
    store_ids: IntArray
    store_codes: list[str]
    store_places: list[str]  # "浙江省杭州市" / "上海市": the customer's region text
    store_region: IntArray  # region index of each store
    store_staff: IntArray  # (stores, max staff) staff ids; column 0 is the store manager; padded with 0
    store_staff_count: IntArray
    staff_count: int
    tag_ids: dict[str, list[int]]  # tag group name -> tag ids in vocab order


def _place(province: str, city: str) -> str:
    if province == city:
        return f"{city}市"
    return f"{province}省{city}市"


def _person(rng: random.Random, female: bool) -> str:
    surnames = [s for s, _w in vocab.SURNAMES]
    weights = [w for _s, w in vocab.SURNAMES]
    given = vocab.GIVEN_FEMALE if female else vocab.GIVEN_MALE
    return rng.choices(surnames, weights)[0] + "".join(rng.choice(given) for _ in range(rng.choice((1, 2, 2))))


def _mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


@transaction.atomic
def create_org(*, code: str, name: str, seed: int, created_at: datetime, accounts: tuple[str, str, str]) -> OrgPlan:
    enterprise_model, region_model, store_model = Enterprise, Region, Store
    staff_model, group_model, tag_model = Staff, TagGroup, Tag
    rng = random.Random(f"org:{seed}")  # noqa: S311 - demo data, not security
    corp_id, oa_app_id, mp_app_id = accounts
    enterprise = enterprise_model.objects.create(name=name, code=code, wecom_corp_id=corp_id)
    admin = get_user_model().objects.filter(username="admin").first()
    if admin is not None and staff_model.objects.filter(user=admin).exists():
        admin = None  # already the admin of another enterprise
    staff_rows: list[Any] = [
        staff_model(enterprise=enterprise, user=admin, name=_person(rng, True), wecom_userid="hq-admin",
                    mobile=_mobile(rng), role="hq_admin")
    ]
    store_ids, store_codes, store_places, store_region = [], [], [], []
    members: list[list[Any]] = []
    for region_index, (region_code, region_name, stores) in enumerate(vocab.REGIONS):
        region = region_model.objects.create(enterprise=enterprise, name=region_name, code=region_code)
        staff_rows.append(
            staff_model(enterprise=enterprise, name=_person(rng, rng.random() < 0.5), region=region,
                        wecom_userid=f"{region_code}-manager", mobile=_mobile(rng), role="region_manager")
        )
        for store_code, city, address, province in stores:
            store = store_model.objects.create(enterprise=enterprise, region=region, code=store_code, city=city,
                                               name=f"{city}{address[:address.index('区') + 1]}店", address=address)
            team = [staff_model(enterprise=enterprise, name=_person(rng, rng.random() < 0.6), region=region,
                                store=store, wecom_userid=f"{store_code}-manager", mobile=_mobile(rng),
                                role="store_manager")]
            team += [
                staff_model(enterprise=enterprise, name=_person(rng, rng.random() < 0.75), region=region, store=store,
                            wecom_userid=f"{store_code}-{k:02d}", mobile=_mobile(rng), role="store_staff")
                for k in range(1, rng.randint(2, 4) + 1)
            ]
            staff_rows += team
            members.append(team)
            store_ids.append(store.pk)
            store_codes.append(store_code)
            store_places.append(_place(province, city))
            store_region.append(region_index)
    staff_model.objects.bulk_create(staff_rows)
    staff_model.objects.filter(enterprise=enterprise).update(created_at=created_at)
    width = max(len(team) for team in members)
    matrix = np.zeros((len(members), width), dtype=np.int64)
    for row, team in enumerate(members):
        matrix[row, : len(team)] = [member.pk for member in team]
    tag_ids: dict[str, list[int]] = {}
    for sort, (group_name, exclusive, kind, tags) in enumerate(vocab.TAG_GROUPS):
        group = group_model.objects.create(enterprise=enterprise, name=group_name, exclusive=exclusive, sort=sort)
        made = tag_model.objects.bulk_create(
            [tag_model(group=group, name=tag, kind=kind, sort=i) for i, tag in enumerate(tags)]
        )
        tag_ids[group_name] = [tag.pk for tag in made]
    return OrgPlan(
        enterprise_id=enterprise.pk,
        code=code,
        wecom_corp_id=corp_id,
        oa_app_id=oa_app_id,
        mp_app_id=mp_app_id,
        store_ids=np.asarray(store_ids, dtype=np.int64),
        store_codes=store_codes,
        store_places=store_places,
        store_region=np.asarray(store_region, dtype=np.int64),
        store_staff=matrix,
        store_staff_count=np.asarray([len(team) for team in members], dtype=np.int64),
        staff_count=len(staff_rows),
        tag_ids=tag_ids,
    )
