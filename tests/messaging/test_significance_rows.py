"""A campaign's A/B report: each variant's conversion against the holdout, with the p-value a hand computation gives.

Holdout 10 of 200 converted (5 %), A 40 of 400 (10 %), B 28 of 400 (7 %). Pooled two-proportion z-test by hand:
A: p = 50/600, se = sqrt(p(1-p)(1/200 + 1/400)), z = 0.05 / se ≈ 2.089, two-sided p = erfc(z/√2) ≈ 0.0367: below 5 %
but not below 5 % / 2 (two comparisons), so not yet significant. B: p = 38/600, z = 0.02 / se ≈ 0.948, p ≈ 0.343."""

from __future__ import annotations

import math

import pytest

from siyu.messaging.queries import VariantResult, significance_of


def _by_hand(c_conv: int, c_n: int, v_conv: int, v_n: int) -> tuple[float, float]:
    pooled = (c_conv + v_conv) / (c_n + v_n)
    z = (v_conv / v_n - c_conv / c_n) / math.sqrt(pooled * (1 - pooled) * (1 / c_n + 1 / v_n))
    return z, math.erfc(abs(z) / math.sqrt(2))


def test_each_variant_is_judged_against_the_holdout_at_alpha_over_k() -> None:
    groups = [VariantResult(variant="", recipients=200, conversions=10, revenue_fen=0),
              VariantResult(variant="A", recipients=400, conversions=40, revenue_fen=0),
              VariantResult(variant="B", recipients=400, conversions=28, revenue_fen=0)]
    rows = significance_of(groups)
    assert [(r.variant, r.against) for r in rows] == [("A", "holdout"), ("B", "holdout")]
    for row, (conv, n) in zip(rows, [(40, 400), (28, 400)], strict=True):
        z, p = _by_hand(10, 200, conv, n)
        assert row.z == pytest.approx(z, rel=1e-9) and row.p_value == pytest.approx(p, rel=1e-9)
    assert rows[0].z == pytest.approx(2.0889, abs=1e-4) and rows[0].p_value == pytest.approx(0.0367, abs=1e-4)
    assert [r.significant for r in rows] == [False, False]  # 0.0367 > 0.05 / 2
    alone = significance_of(groups[:2])  # one comparison: judged at 5 %
    assert alone[0].significant is True


def test_without_a_holdout_the_first_variant_is_the_control_and_empty_groups_are_left_out() -> None:
    groups = [VariantResult(variant="A", recipients=300, conversions=30, revenue_fen=0),
              VariantResult(variant="B", recipients=300, conversions=45, revenue_fen=0),
              VariantResult(variant="C", recipients=0, conversions=0, revenue_fen=0)]
    (row,) = significance_of(groups)
    z, p = _by_hand(30, 300, 45, 300)
    assert (row.variant, row.against) == ("B", "A")
    assert row.p_value == pytest.approx(p, rel=1e-9) and row.lift == pytest.approx(0.05)
    assert significance_of([]) == []
