"""Merges and resolves raced on PostgreSQL by threads with their own connections (SQLite serialises writers:
skipped there).

A→B and B→A at once: one merge wins, the other is a 409 already_merged; never a cycle, never a 500. Eight channel
callbacks resolving one new person at once: one customer, every caller gets it, nobody crashes.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.test import Client

from siyu.core.errors import DomainError
from siyu.customers import services
from siyu.customers.models import Customer, CustomerMerge, Identity
from siyu.customers.services import IdentityInput
from siyu.org.services import create_api_token
from tests.conftest import Org

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def race(n: int, work: Callable[[int], object]) -> tuple[Counter[str], list[object]]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    results: list[object] = []
    guard = threading.Lock()

    def run(i: int) -> None:
        outcome, result = "ok", None
        try:
            barrier.wait()
            result = work(i)
        except DomainError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001 - a crash shows in the counts and fails the test
            outcome = f"crash:{type(exc).__name__}:{exc}"
        finally:
            connections.close_all()
        with guard:
            outcomes.append(outcome)
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes), results


def _no_cycle(ids: list[int]) -> None:
    merged = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "merged_into_id"))
    for start in ids:
        seen: set[int] = {start}
        current: int | None = merged[start]
        while current is not None:
            assert current not in seen, f"merge cycle through {current}"
            seen.add(current)
            current = merged.get(current)


def test_opposite_merges_of_one_pair_one_wins_the_other_is_refused(org: Org) -> None:
    for _round in range(5):
        a = services.create_customer(enterprise_id=org.enterprise.pk, name="A")
        b = services.create_customer(enterprise_id=org.enterprise.pk, name="B")
        pairs = [(a.pk, b.pk), (b.pk, a.pk)]

        def merge(i: int, pairs: list[tuple[int, int]] = pairs) -> object:
            survivor, absorbed = (Customer.objects.get(pk=pk) for pk in pairs[i % 2])
            return services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")

        outcomes, _results = race(2, merge)

        assert outcomes == Counter({"ok": 1, "already_merged": 1})
        _no_cycle([a.pk, b.pk])
        assert [c.merged_into_id is None for c in Customer.objects.filter(pk__in=[a.pk, b.pk])].count(True) == 1
        assert CustomerMerge.objects.filter(absorbed_id__in=[a.pk, b.pk]).count() == 1


def test_opposite_merges_over_the_api_are_200_and_409(org: Org) -> None:
    _token, secret = create_api_token(staff=org.hq, name="race")
    a = services.create_customer(enterprise_id=org.enterprise.pk, name="A")
    b = services.create_customer(enterprise_id=org.enterprise.pk, name="B")
    bodies = [{"survivor_id": a.pk, "absorbed_id": b.pk}, {"survivor_id": b.pk, "absorbed_id": a.pk}]
    statuses: list[int] = []

    def post(i: int) -> object:
        response = Client().post("/api/customers/merge", json.dumps(bodies[i]), content_type="application/json",
                                 headers={"Authorization": f"Bearer {secret}"})
        statuses.append(response.status_code)
        assert response["Content-Type"].startswith("application/json")
        return response

    outcomes, _results = race(2, post)

    assert outcomes == Counter({"ok": 2})
    assert sorted(statuses) == [200, 404] or sorted(statuses) == [200, 409]
    _no_cycle([a.pk, b.pk])


def test_a_ring_of_merges_never_closes(org: Org) -> None:
    """A→B, B→C and C→A at once: at most two succeed and no cycle is left."""
    ids = [services.create_customer(enterprise_id=org.enterprise.pk, name=n).pk for n in "ABC"]

    def merge(i: int) -> object:
        survivor, absorbed = Customer.objects.get(pk=ids[(i + 1) % 3]), Customer.objects.get(pk=ids[i])
        return services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")

    outcomes, _results = race(3, merge)

    assert set(outcomes) <= {"ok", "already_merged", "merge_busy"} and outcomes["ok"] >= 1
    _no_cycle(ids)
    assert Customer.objects.filter(pk__in=ids, merged_into__isnull=True).count() == 3 - outcomes["ok"]


def test_eight_resolves_of_one_new_person_make_one_customer(org: Org) -> None:
    identities = [IdentityInput("wecom_external_userid", "wmNEW", "corp1"), IdentityInput("unionid", "U-NEW")]

    def resolve(i: int) -> object:
        return services.resolve_customer(enterprise_id=org.enterprise.pk, identities=identities).pk

    outcomes, results = race(8, resolve)

    assert outcomes == Counter({"ok": 8})
    assert len(set(results)) == 1
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 1
    assert set(Identity.objects.values_list("kind", "customer_id")) == {
        ("wecom_external_userid", results[0]), ("unionid", results[0])}


def test_resolves_joining_two_known_customers_from_both_sides_merge_once(org: Org) -> None:
    """An OA follower (openid + unionid) and a WeCom contact are one person; callbacks from both channels race."""
    ent = org.enterprise.pk
    oa = services.create_customer(enterprise_id=ent, identities=[IdentityInput("oa_openid", "oX", "wxoa1")])
    wecom = services.create_customer(
        enterprise_id=ent, identities=[IdentityInput("wecom_external_userid", "wmX", "c1")]
    )
    sides = [
        [IdentityInput("oa_openid", "oX", "wxoa1"), IdentityInput("unionid", "U-X")],
        [IdentityInput("wecom_external_userid", "wmX", "c1"), IdentityInput("unionid", "U-X")],
    ]

    outcomes, results = race(6, lambda i: services.resolve_customer(enterprise_id=ent, identities=sides[i % 2]).pk)

    assert outcomes == Counter({"ok": 6})
    # a caller that came first may have got the WeCom customer, merged into the older one right after
    assert set(results) <= {oa.pk, wecom.pk}
    assert Customer.objects.get(pk=wecom.pk).merged_into_id == oa.pk  # the older customer survives
    assert Customer.objects.get(pk=oa.pk).merged_into_id is None
    assert set(Identity.objects.values_list("value", "customer_id")) == {("oX", oa.pk), ("wmX", oa.pk), ("U-X", oa.pk)}
    assert CustomerMerge.objects.count() == 1
