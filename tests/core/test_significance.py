"""siyu.core.significance against hand computations (math only) and published textbook examples."""

from __future__ import annotations

import math

import pytest

from siyu.core.significance import (
    Arm,
    RevenueArm,
    chi_square,
    compare_variants,
    minimum_detectable_effect,
    sample_size_per_arm,
    two_proportion_z,
    welch_t,
)


def _pooled_z_by_hand(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    p = (x1 + x2) / (n1 + n2)
    z = (x2 / n2 - x1 / n1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return z, math.erfc(abs(z) / math.sqrt(2))  # two-sided normal tail


def test_z_test_matches_the_hand_computation() -> None:
    result = two_proportion_z(Arm(200, 5000), Arm(260, 5000))
    z, p = _pooled_z_by_hand(200, 5000, 260, 5000)
    assert result.z == pytest.approx(z, rel=1e-12) and result.p_value == pytest.approx(p, rel=1e-9)
    assert result.lift == pytest.approx(0.012) and result.significant  # z = 2.86, p = 0.0042
    assert round(result.z, 2) == 2.86 and round(result.p_value, 4) == 0.0042


def test_the_aspirin_example_z_and_chi_square_agree() -> None:
    """Agresti, An Introduction to Categorical Data Analysis, the Physicians' Health Study: myocardial infarction in
    189 of 11,034 on placebo and 104 of 11,037 on aspirin; Pearson X² = 25.01 (z = 5.00 and z² = X² for 2 x 2)."""
    placebo, aspirin = Arm(189, 11034), Arm(104, 11037)
    z = two_proportion_z(aspirin, placebo)
    chi = chi_square([placebo, aspirin])
    assert round(z.z, 2) == 5.00 and round(chi.chi2, 2) == 25.01 and chi.dof == 1
    assert chi.chi2 == pytest.approx(z.z ** 2, rel=1e-9) and chi.p_value == pytest.approx(z.p_value, rel=1e-6)


def test_chi_square_of_three_arms_by_hand() -> None:
    arms = [(30, 1000), (45, 1000), (38, 1000)]
    total_x, total_n = sum(x for x, _ in arms), sum(n for _, n in arms)
    chi2 = 0.0
    for x, n in arms:
        for observed, share in ((x, total_x / total_n), (n - x, 1 - total_x / total_n)):
            expected = n * share
            chi2 += (observed - expected) ** 2 / expected
    result = chi_square([Arm(x, n) for x, n in arms])
    assert result.chi2 == pytest.approx(chi2, rel=1e-12) and result.dof == 2
    assert result.p_value == pytest.approx(math.exp(-chi2 / 2), rel=1e-9)  # chi-square with 2 df: p = e^(-x/2)


def test_variants_against_control_are_judged_at_alpha_over_k() -> None:
    control = Arm(100, 2000)
    results = compare_variants(control, [Arm(131, 2000), Arm(140, 2000)])
    by_hand = [_pooled_z_by_hand(100, 2000, 131, 2000)[1], _pooled_z_by_hand(100, 2000, 140, 2000)[1]]
    assert [r.p_value for r in results] == pytest.approx(by_hand, rel=1e-9)
    assert 0.025 < by_hand[0] < 0.05 and by_hand[1] < 0.025  # so only the second survives alpha / 2
    assert [r.significant for r in results] == [False, True]


def test_welch_from_sums_matches_the_published_example_and_the_hand_formula() -> None:
    """Wikipedia, "Welch's t-test", example 1: t = -2.46, ν = 24.9, p = 0.021 (ν is 24.99, printed truncated)."""
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    result = welch_t(RevenueArm(len(a2), sum(a2), sum(x * x for x in a2)),
                     RevenueArm(len(a1), sum(a1), sum(x * x for x in a1)))
    assert (round(result.t, 2), round(result.p_value, 3)) == (-2.46, 0.021) and 24.9 <= result.df < 25.0
    m1, m2 = sum(a1) / 15, sum(a2) / 15
    v1 = sum((x - m1) ** 2 for x in a1) / 14
    v2 = sum((x - m2) ** 2 for x in a2) / 14
    t = (m1 - m2) / math.sqrt(v1 / 15 + v2 / 15)
    df = (v1 / 15 + v2 / 15) ** 2 / ((v1 / 15) ** 2 / 14 + (v2 / 15) ** 2 / 14)
    assert result.t == pytest.approx(t, rel=1e-9) and result.df == pytest.approx(df, rel=1e-9)


def test_welch_on_large_arms_approaches_the_normal_tail() -> None:
    control = RevenueArm(n=20000, total=20000 * 1500.0, total_squares=20000 * (1500.0 ** 2 + 4000.0 ** 2))
    variant = RevenueArm(n=20000, total=20000 * 1600.0, total_squares=20000 * (1600.0 ** 2 + 4000.0 ** 2))
    result = welch_t(control, variant)
    se = math.sqrt(4000.0 ** 2 * 20000 / 19999 / 20000 * 2)
    assert result.t == pytest.approx(100 / se, rel=1e-9)
    assert result.p_value == pytest.approx(math.erfc(result.t / math.sqrt(2)), rel=1e-3)


def test_sample_size_and_minimum_detectable_effect() -> None:
    """Baseline 10 %, detect 15 % at alpha 0.05 two-sided with 80 % power: 686 per arm (Fleiss, by hand below)."""
    z_a, z_b = 1.959963984540054, 0.8416212335729143  # Φ⁻¹(0.975), Φ⁻¹(0.8)
    by_hand = (z_a * math.sqrt(2 * 0.125 * 0.875) + z_b * math.sqrt(0.1 * 0.9 + 0.15 * 0.85)) ** 2 / 0.05 ** 2
    assert sample_size_per_arm(0.10, 0.05) == math.ceil(by_hand) == 686
    assert minimum_detectable_effect(0.10, 686) == pytest.approx(0.05, abs=1e-4)
    assert sample_size_per_arm(0.10, 0.05, power=0.9) > 686 and sample_size_per_arm(0.10, 0.05, alpha=0.01) > 686
    assert minimum_detectable_effect(0.10, 10) > 0.3
    for bad in ((0.0, 0.05), (0.5, 0.0), (0.9, 0.2)):
        with pytest.raises(ValueError):
            sample_size_per_arm(*bad)
    with pytest.raises(ValueError):
        two_proportion_z(Arm(5, 4), Arm(1, 10))
