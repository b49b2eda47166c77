"""The demo's channel data agrees with the simulator: after a small demo is seeded and the simulator told what Siyu
holds (POST /wecom/_sim/import, as `siyu demo` does at every start), every relationship the console shows is a follow
the simulated WeCom knows, and inheriting one staff member's customers succeeds for every one of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from simulator.server import SimulatorServer
from simulator.state import Simulator
from simulator.wecom import DAY, MassMessage, PendingCallback, WecomPlatform
from siyu.catalog.models import Product
from siyu.channels import demo_accounts
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom import inheritance
from siyu.channels.wecom import seed as wecom_seed
from siyu.channels.wecom.models import ChannelCode, TransferItem, TransferItemStatus
from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Event, Identity, IdentityKind, Relationship, RelationshipStatus
from siyu.orders.models import Order, OrderLine
from siyu.org.models import Staff
from siyu.org.scope import Scope
from siyu.seed.runner import seed_enterprise

pytestmark = pytest.mark.django_db(transaction=True)

CORP = demo_accounts.WECOM.app_id
UNTIL = datetime(2026, 11, 30, 12, tzinfo=SHANGHAI)


@pytest.fixture
def simulator() -> Iterator[tuple[Simulator, str]]:
    """A fresh simulator (as `siyu simulate` starts one: the demo corp and nothing else) on a loopback port."""
    sim = Simulator()
    sim.wecom.add_demo_corp(demo_accounts.WECOM)
    with SimulatorServer(port=0, simulator=sim) as server:
        yield sim, f"{server.base_url}/wecom"


@pytest.fixture
def demo(simulator: tuple[Simulator, str], settings: Any) -> ChannelAccount:
    """A small demo enterprise seeded as `siyu demo` seeds one, its WeCom account pointed at the simulator."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_enterprise(customers=400, events=800, seed=11, code="demo-sim", until=UNTIL)
    account = ChannelAccount.objects.get(kind=AccountKind.WECOM, app_id=CORP)
    account.base_url = simulator[1]
    account.save(update_fields=["base_url"])
    return account


def _siyu_pairs(account: ChannelAccount) -> set[tuple[str, str]]:
    """(staff userid, external_userid) of every active relationship Siyu holds, computed row by row here."""
    externals: dict[int, list[str]] = {}
    for customer_id, value in Identity.objects.filter(
        enterprise_id=account.enterprise_id, kind=IdentityKind.WECOM_EXTERNAL_USERID
    ).values_list("customer_id", "value"):
        externals.setdefault(customer_id, []).append(value)
    pairs = set()
    relationships = Relationship.objects.filter(
        status=RelationshipStatus.ACTIVE, customer__enterprise_id=account.enterprise_id
    ).select_related("staff", "customer")
    for rel in relationships:
        if rel.customer.merged_into_id is None and rel.staff.wecom_userid:
            pairs |= {(rel.staff.wecom_userid, ext) for ext in externals.get(rel.customer_id, [])}
    return pairs


def _simulator_pairs(sim: Simulator) -> set[tuple[str, str]]:
    corp = sim.wecom.corps[CORP]
    return {key for key, follow in corp.follows.items() if follow.active}


def test_every_relationship_siyu_holds_is_known_to_the_simulator(
    demo: ChannelAccount, simulator: tuple[Simulator, str]
) -> None:
    sim, base_url = simulator
    pairs = _siyu_pairs(demo)
    assert len(pairs) > 100  # the seed made relationships with external userids to check
    assert _simulator_pairs(sim) == set()
    left = Staff.objects.filter(enterprise_id=demo.enterprise_id).exclude(wecom_userid="").order_by("-id").first()
    assert left is not None
    Staff.objects.filter(pk=left.pk).update(is_active=False)  # a member who left: resigned on the platform too

    sent = wecom_seed.teach_simulator(demo.pk, batch=97)  # several batches per kind

    assert _simulator_pairs(sim) == pairs
    assert sent["follows"] == len(pairs)
    state = httpx.post(f"{base_url}/_sim/state", content=b"{}").json()
    assert state[CORP]["follows"] == len(pairs)
    staff = set(Staff.objects.filter(enterprise_id=demo.enterprise_id).exclude(wecom_userid="")
                .values_list("wecom_userid", flat=True))
    assert staff <= set(sim.wecom.corps[CORP].members)
    resigned = {u for u, m in sim.wecom.corps[CORP].members.items() if m.resigned}
    assert resigned == {left.wecom_userid}
    # Told again (a second `siyu demo` start against the same simulator): nothing doubles, nothing new.
    wecom_seed.teach_simulator(demo.pk)
    assert _simulator_pairs(sim) == pairs


def _post_to_siyu(client: Client) -> Any:
    def post(pending: PendingCallback) -> int:
        path = urlsplit(pending.url).path
        return client.post(f"{path}?{urlencode(pending.params)}", data=pending.body,
                           content_type="text/xml").status_code
    return post


def test_inheriting_one_staff_members_customers_succeeds_for_all(
    demo: ChannelAccount, simulator: tuple[Simulator, str], client: Client
) -> None:
    sim, _base_url = simulator
    wecom_seed.teach_simulator(demo.pk)
    corp = sim.wecom.corps[CORP]
    corp.callback_url = f"http://testserver/channels/wecom/callback/{demo.pk}/"
    by_staff = Counter(userid for userid, _ext in _siyu_pairs(demo))
    handover_userid, customers = by_staff.most_common(1)[0]
    assert customers >= 5
    handover = Staff.objects.get(enterprise_id=demo.enterprise_id, wecom_userid=handover_userid)
    takeover = Staff.objects.filter(enterprise_id=demo.enterprise_id, is_active=True).exclude(
        wecom_userid__in=["", handover_userid]).order_by("id").first()
    assert takeover is not None

    job = inheritance.start_transfer(
        scope=Scope.hq(demo.enterprise_id), account_id=demo.pk, kind="in_service",
        handover_id=handover.pk, takeover_id=takeover.pk, message="我的同事会继续为您服务",
    )
    items = TransferItem.objects.filter(job_id=job.pk)
    assert items.count() == customers
    assert Counter(items.values_list("status", flat=True)) == {TransferItemStatus.WAITING: customers}

    sim.wecom.advance(DAY + 1)
    sim.wecom.deliver(_post_to_siyu(client))

    assert Counter(items.values_list("status", flat=True)) == {TransferItemStatus.SUCCEEDED: customers}
    assert Relationship.objects.filter(staff=takeover, status=RelationshipStatus.ACTIVE,
                                       customer__identities__value__in=items.values("external_userid")).count() \
        >= customers


def test_demo_staff_confirm_mass_messages_after_the_delay() -> None:
    """In demo mode the sender confirms a mass message by itself once `mass_auto_confirm_s` has passed; never before,
    and never when the limit is unset (tests confirm by hand)."""
    platform = WecomPlatform(seed=3)
    corp = platform.add_demo_corp(demo_accounts.WECOM)
    platform.import_known(CORP, {"follows": [{"userid": "s1", "external_userid": "wm1", "name": "王芳"}]})
    corp.messages["m1"] = MassMessage(
        "m1", "single", "s1", "hi", ["wm1"], platform.now(), results={"wm1": ("s1", 0, 0)}
    )
    platform.process_due()
    assert not corp.messages["m1"].confirmed  # no auto-confirm configured

    platform.limits.mass_auto_confirm_s = 60
    platform.advance(59)
    assert not corp.messages["m1"].confirmed
    platform.advance(2)
    assert corp.messages["m1"].confirmed
    assert corp.messages["m1"].results["wm1"][1] == 1  # delivered to the one customer the sender follows


def test_demo_sources_and_product_views_point_at_what_exists(demo: ChannelAccount, client: Client) -> None:
    """Every source state the seeded relationships carry is a channel code (shown by its name on the profile), every
    product view names a product of the catalog, and an order event lists its items and amount."""
    enterprise_id = demo.enterprise_id
    states = set(Relationship.objects.filter(customer__enterprise_id=enterprise_id).exclude(state="")
                 .values_list("state", flat=True))
    assert len(states) >= 3
    codes = dict(ChannelCode.objects.filter(enterprise_id=enterprise_id).values_list("state", "name"))
    assert states <= set(codes)
    products = dict(Product.objects.filter(enterprise_id=enterprise_id).values_list("id", "name"))
    viewed = [e.properties["product_id"] for e in Event.objects.filter(customer__enterprise_id=enterprise_id,
                                                                        name="product_viewed")]
    assert viewed and set(viewed) <= set(products)

    user = get_user_model().objects.create_superuser("demo-admin", "a@example.com", "pw-demo-1")
    client.force_login(user)
    client.cookies["django_language"] = "zh-hans"
    rel = Relationship.objects.filter(customer__enterprise_id=enterprise_id, state__startswith="store_qr_").first()
    assert rel is not None
    profile = client.get(f"/customers/{rel.customer_id}/").content.decode()
    assert codes[rel.state] in profile

    view = Event.objects.filter(customer__enterprise_id=enterprise_id, name="product_viewed").first()
    assert view is not None
    entries = _timeline_with(client, view.customer_id, "product_viewed", view.pk)
    assert any(name in entries for name in products.values())
    assert "不在商品库中" not in entries and "not in the catalog" not in entries

    paid = (Event.objects.filter(customer__enterprise_id=enterprise_id, name="order_paid")
            .order_by("-occurred_at").first())
    assert paid is not None
    order_id = paid.properties["order_id"]
    lines = list(OrderLine.objects.filter(order_id=order_id).order_by("index", "id").values_list("name", "quantity"))
    html = _timeline_with(client, paid.customer_id, "order_paid", paid.pk)
    name, quantity = lines[0]
    assert f"{name} ×{quantity}" in html
    amount = Order.objects.get(pk=order_id).amount_fen
    assert f"¥{amount / 100:,.2f}" in html


def _timeline_with(client: Client, customer_id: int, name: str, event_id: int) -> str:
    """The timeline entry of one event, from whichever page of the customer's timeline holds it."""
    for page in range(1, 50):
        html = client.get(f"/customers/{customer_id}/?events_page={page}").content.decode()
        timeline = html[html.index('id="timeline"'):]
        entries = timeline.split('<li class="')
        found = [e for e in entries if f'data-event="{name}"' in e]
        if found:
            return "".join(found)
        if 'rel="next"' not in timeline:
            break
    raise AssertionError(f"event {event_id} not on the timeline")
