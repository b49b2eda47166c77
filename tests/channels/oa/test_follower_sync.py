"""Full follower sync: user/get pages + user/info/batchget, imported as customers and merged by unionid.

The dataset is built by hand so every figure below is counted here, not taken from the code:

- 25 WeCom customers already in Siyu, customer k holding unionid `ou_w_<k>` (k = 0..24);
- 250 followers on the platform, follower i with openid `o_sync_<i>`, subscribe time BASE + 60·i and, for i a
  multiple of 4, the QR scene `poster`:
  - i < 25 share WeCom customer i's unionid: 23 join that customer; i = 10 and 11 followed earlier while the
    account was not bound to an open platform, so Siyu already has an openid-only customer for each, which the sync
    merges into the WeCom customer (2 merges of existing customers);
  - 25 <= i < 50 have no unionid (not bound): 25 new customers;
  - 50 <= i < 250 have a unionid of their own: new customers, except i = 60..63 (followed earlier through the
    callback, already known) and i = 200, whose unionid the platform sent blank (only spaces): the customers
    service refuses it (fails); i = 201 shares its unionid with a customer of another enterprise, which is no
    obstacle (identities are per enterprise): a new customer here, the other brand's customer untouched;
- 3 followers who followed earlier (callbacks) and left without Siyu hearing of it.

So: listed 250; imported 250 - 4 - 2 - 1 = 243; new customers 243 - 23 = 220; merged 23 + 2 = 25;
failed 1; marked unfollowed 3. With 100 openids a page: 3 pages. (Ten times this world proves nothing more and cost
minutes a pass.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from simulator import oa as oa_sim
from simulator.state import current
from siyu.channels.official_account import services
from siyu.channels.official_account.client import TerminalError
from siyu.channels.official_account.models import Follower, FollowerSync
from siyu.channels.official_account.provider import client_for
from siyu.customers.models import Customer, Event, Identity
from siyu.customers.services import IdentityInput, create_customer
from siyu.org.services import create_api_token
from tests.channels.oa.conftest import DEMO, Platform
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db

BASE = 1_700_000_000  # 2023-11-14T22:13:20Z
FOLLOWERS = 250
WECOM_PEOPLE = 25
KNOWN = (60, 61, 62, 63)
LATE_BOUND = (10, 11)
CONFLICT = 200
OTHER_BRAND_PERSON = 201
GONE = ("o_gone_0", "o_gone_1", "o_gone_2")


def openid(i: int) -> str:
    return f"o_sync_{i:04d}"


def unionid(i: int) -> str:
    if i == CONFLICT:
        return "   "
    if i < WECOM_PEOPLE:
        return f"ou_w_{i}"
    return "" if i < 50 else f"ou_oa_{i}"


def _follow(platform: Platform, oid: str) -> None:
    platform.push(oa_sim.subscribe_xml(platform.sim_account, oid), openid=oid)


@pytest.fixture
def dataset(platform: Platform, org: Any) -> dict[int, int]:
    """Build the hand-made world above; returns WeCom customer id by k."""
    enterprise_id = org.enterprise.pk
    wecom = {}
    for k in range(WECOM_PEOPLE):
        customer = create_customer(
            enterprise_id=enterprise_id, created_source="wecom",
            identities=[IdentityInput("wecom_external_userid", f"wm_{k}", "wwcorp"),
                        IdentityInput("unionid", unionid(k))],
        )
        wecom[k] = customer.pk
    other = EnterpriseFactory.create(name="Other brand", code="other-brand", wecom_corp_id="wwother")
    create_customer(enterprise_id=other.pk, identities=[IdentityInput("unionid", unionid(OTHER_BRAND_PERSON))])
    state = current().oa
    for i in range(FOLLOWERS):
        state.add_follower(
            DEMO.app_id, openid=openid(i), unionid="" if i in LATE_BOUND else unionid(i),
            subscribe_time=BASE + 60 * i, subscribe_scene="ADD_SCENE_QR_CODE" if i % 4 == 0 else "ADD_SCENE_SEARCH",
            qr_scene_str="poster" if i % 4 == 0 else "",
        )
    for oid in GONE:
        state.add_follower(DEMO.app_id, openid=oid, unionid=f"ou_gone_{oid}")
    for i in (*KNOWN, *LATE_BOUND):
        _follow(platform, openid(i))
    for oid in GONE:
        _follow(platform, oid)
        state.app(DEMO.app_id).followers[oid].subscribed = False  # they leave; Siyu misses the callback
    for i in LATE_BOUND:  # the account gets bound to the open platform: their unionid appears
        state.app(DEMO.app_id).followers[openid(i)].unionid = unionid(i)
    state.app(DEMO.app_id).user_page_size = 100
    return wecom


def _sync(platform: Platform, org: Any, capture: Any) -> FollowerSync:
    with capture(execute=True):
        run = services.start_follower_sync(enterprise_id=org.enterprise.pk, account_id=platform.account.pk)
    return FollowerSync.objects.get(pk=run.pk)


def _figures(run: FollowerSync) -> dict[str, Any]:
    return {key: getattr(run, key) for key in ("status", "total", "pages_done", "seen", "imported", "created",
                                               "merged", "failed", "unfollowed")}


def _world(enterprise_id: int) -> tuple[int, int, int, int]:
    return (
        Customer.objects.filter(enterprise_id=enterprise_id).count(),
        Identity.objects.filter(customer__enterprise_id=enterprise_id).count(),
        Follower.objects.count(),
        Event.objects.filter(enterprise_id=enterprise_id).count(),
    )


def test_full_sync_imports_every_follower_and_merges_by_unionid(
    platform: Platform, org: Any, dataset: dict[int, int], django_capture_on_commit_callbacks: Any
) -> None:
    run = _sync(platform, org, django_capture_on_commit_callbacks)
    assert _figures(run) == {"status": "done", "total": 250, "pages_done": 3, "seen": 250, "imported": 243,
                             "created": 220, "merged": 25, "failed": 1, "unfollowed": 3}
    enterprise_id = org.enterprise.pk
    live = Customer.objects.filter(enterprise_id=enterprise_id, merged_into__isnull=True)
    assert live.count() == 25 + 4 + 3 + 220
    # every WeCom person now carries the follower's openid (the two late-bound ones by merging)
    openid_owner = dict(Identity.objects.filter(kind="oa_openid", value__startswith="o_sync_").values_list(
        "value", "customer_id"))
    assert {k: openid_owner[openid(k)] for k in range(WECOM_PEOPLE)} == dataset
    assert Customer.objects.filter(enterprise_id=enterprise_id, merged_into__isnull=False).count() == 2
    assert openid(CONFLICT) not in openid_owner
    assert len(openid_owner) == 249
    theirs = Customer.objects.exclude(enterprise_id=enterprise_id).get()
    assert list(theirs.identities.values_list("kind", "value")) == [("unionid", unionid(OTHER_BRAND_PERSON))]
    shared = Customer.objects.get(pk=openid_owner[openid(OTHER_BRAND_PERSON)])
    assert shared.enterprise_id == enterprise_id and shared.merged_into_id is None
    assert set(shared.identities.values_list("kind", "value")) == {
        ("oa_openid", openid(OTHER_BRAND_PERSON)), ("unionid", unionid(OTHER_BRAND_PERSON))}
    # new customers carry both identities where there is a unionid, and were created at their follow time
    newcomer = Customer.objects.get(identities__value=openid(123))
    assert set(newcomer.identities.values_list("kind", "value")) == {("oa_openid", openid(123)),
                                                                     ("unionid", "ou_oa_123")}
    assert newcomer.created_at == datetime.fromtimestamp(BASE + 60 * 123, UTC)
    assert newcomer.created_source == "official_account"
    unbound = Customer.objects.get(identities__value=openid(30))
    assert list(unbound.identities.values_list("kind", flat=True)) == ["oa_openid"]

    followers = Follower.objects.filter(account=platform.account)
    assert followers.filter(subscribed=True).count() == 249
    gone = followers.filter(subscribed=False)
    assert sorted(gone.values_list("openid", flat=True)) == list(GONE)
    assert all(f.unfollowed_at is not None for f in gone)
    sample = followers.get(openid=openid(60))  # known before, refreshed from the platform
    assert (sample.followed_at, sample.subscribe_scene, sample.qr_scene, sample.unionid) == (
        datetime.fromtimestamp(BASE + 60 * 60, UTC), "ADD_SCENE_QR_CODE", "poster", "ou_oa_60")
    assert followers.get(openid=openid(7)).subscribe_scene == "ADD_SCENE_SEARCH"
    assert followers.get(openid=openid(7)).customer_id == dataset[7]
    assert followers.get(openid=openid(10)).customer_id == dataset[10]

    follows = Event.objects.filter(name="oa_followed", idempotency_key__startswith="oa_follow_sync:")
    assert follows.count() == 243
    event = follows.get(customer_id=dataset[8])
    assert (event.occurred_at, event.properties, event.channel) == (
        datetime.fromtimestamp(BASE + 60 * 8, UTC), {"scene": "poster"}, "official_account")


def test_a_second_run_creates_nothing_new(
    platform: Platform, org: Any, dataset: dict[int, int], django_capture_on_commit_callbacks: Any
) -> None:
    _sync(platform, org, django_capture_on_commit_callbacks)
    before = _world(org.enterprise.pk)
    again = _sync(platform, org, django_capture_on_commit_callbacks)
    assert _figures(again) == {"status": "done", "total": 250, "pages_done": 3, "seen": 250, "imported": 0,
                               "created": 0, "merged": 0, "failed": 1, "unfollowed": 0}
    assert _world(org.enterprise.pk) == before
    assert FollowerSync.objects.count() == 2


# -- the simulator's user/get and batchget ------------------------------------------------------------------------


def test_user_get_pages_by_next_openid_with_the_documented_shape(account: Any) -> None:
    state = current().oa
    for i in range(5):
        state.add_follower(DEMO.app_id, openid=f"oL{i}", unionid=f"ou_l{i}", subscribed=i != 3)
    state.app(DEMO.app_id).user_page_size = 2
    client = client_for(account)
    pages, cursor = [], ""
    while True:
        page = client.user_list(cursor)
        pages.append((page.total, page.count, page.openids, page.next_openid))
        if not page.count:
            break
        cursor = page.next_openid
    assert pages == [
        (4, 2, ("oL0", "oL1"), "oL1"),
        (4, 2, ("oL2", "oL4"), "oL4"),  # oL3 left: not listed
        (4, 0, (), ""),
    ]
    with pytest.raises(TerminalError) as refused:
        client.user_list("o_never_followed")
    assert refused.value.errcode == 40003


def test_batchget_takes_at_most_100_openids(account: Any) -> None:
    for i in range(101):
        current().oa.add_follower(DEMO.app_id, openid=f"oB{i}", unionid="")
    client = client_for(account)
    infos = client.user_info_batch([f"oB{i}" for i in range(100)])
    assert len(infos) == 100
    assert infos[0].unionid == ""  # not bound to an open platform: no unionid field
    with pytest.raises(ValueError, match="100"):
        client.user_info_batch([f"oB{i}" for i in range(101)])


# -- starting: API, console, one run at a time --------------------------------------------------------------------


def test_starting_while_a_run_is_going_returns_that_run(platform: Platform, org: Any) -> None:
    first = services.start_follower_sync(enterprise_id=org.enterprise.pk, account_id=platform.account.pk)
    second = services.start_follower_sync(enterprise_id=org.enterprise.pk, account_id=platform.account.pk)
    assert first.pk == second.pk
    assert FollowerSync.objects.count() == 1


def _api(staff: Any) -> tuple[Client, dict[str, str]]:
    _token, secret = create_api_token(staff=staff, name="test")
    return Client(), {"Authorization": f"Bearer {secret}"}


def test_the_api_starts_a_sync_for_hq_and_shows_its_progress(
    platform: Platform, org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    for i in range(3):
        current().oa.add_follower(DEMO.app_id, openid=f"oApi{i}", unionid=f"ou_api{i}", subscribe_time=BASE + i)
    client, headers = _api(org.hq)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/oa/accounts/{platform.account.pk}/follower-sync", "{}",
                              content_type="application/json", headers=headers)
    assert started.status_code == 202
    run_id = started.json()["id"]
    shown = client.get(f"/api/oa/follower-syncs/{run_id}", headers=headers).json()
    assert {k: shown[k] for k in ("status", "seen", "imported", "created", "merged", "percent")} == {
        "status": "done", "seen": 3, "imported": 3, "created": 3, "merged": 0, "percent": 100}
    listed = client.get(f"/api/oa/accounts/{platform.account.pk}/follower-syncs", headers=headers).json()
    assert [r["id"] for r in listed] == [run_id]
    staff_client, staff_headers = _api(org.n1_staff)
    refused = staff_client.post(f"/api/oa/accounts/{platform.account.pk}/follower-sync", json.dumps({}),
                                content_type="application/json", headers=staff_headers)
    assert refused.status_code == 403


def test_the_console_button_starts_the_sync_and_the_page_shows_progress(
    platform: Platform, org: Any, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oConsole", unionid="ou_console", subscribe_time=BASE)
    client.force_login(org.hq.user)
    page = client.get("/oa/followers/")
    assert page.status_code == 200
    assert b'data-action="follower-sync"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post("/oa/followers/", {"account": platform.account.pk})
    assert posted.status_code == 302
    run = FollowerSync.objects.get()
    assert (run.status, run.imported) == ("done", 1)
    shown = client.get(f"/oa/followers/?account={platform.account.pk}")
    assert b'data-status="done"' in shown.content
    assert f'data-run="{run.pk}"'.encode() in shown.content
    partial = client.get(f"/oa/followers/?account={platform.account.pk}", headers={"HX-Request": "true"})
    assert partial.content.lstrip().startswith(b'<section class="card" id="follower-sync"')


def test_store_staff_cannot_start_a_sync_from_the_console(platform: Platform, org: Any, client: Client) -> None:
    client.force_login(org.n1_staff.user)
    assert client.post("/oa/followers/", {"account": platform.account.pk}).status_code == 403
    assert not FollowerSync.objects.exists()
