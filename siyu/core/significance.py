"""Significance tests for A/B campaigns, from aggregates (counts, sums, sums of squares) so SQL can feed them.

- Conversion rates: a pooled two-proportion z-test of each variant against the control, and Pearson's chi-square
  (no continuity correction) over all arms at once.
- Revenue per recipient: Welch's t-test (unequal variances) from each arm's n, sum and sum of squares.
- Planning: the minimum sample size per arm to detect a given absolute lift over a baseline rate (the normal
  approximation with the pooled variance under the null, Fleiss), and its inverse, the minimum detectable effect.

The distributions come from scipy (a maintained statistics library); the arithmetic around them is written out here
so each figure can be checked by hand. Not a money path: floats are fine (revenue comes in as integer fen).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Arm:
    """One arm's conversions out of its recipients."""

    conversions: int
    recipients: int

    @property
    def rate(self) -> float:
        return self.conversions / self.recipients if self.recipients else 0.0


@dataclass(frozen=True)
class ZTest:
    control_rate: float
    variant_rate: float
    lift: float  # absolute: variant - control
    z: float
    p_value: float  # two-sided
    significant: bool


@dataclass(frozen=True)
class ChiSquare:
    chi2: float
    dof: int
    p_value: float
    significant: bool


@dataclass(frozen=True)
class RevenueArm:
    """One arm's revenue per recipient as SQL aggregates: COUNT, SUM(x), SUM(x*x) (x in fen, 0 for no purchase)."""

    n: int
    total: float
    total_squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (n - 1), never negative (rounding in the sums)."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.total_squares - self.total * self.total / self.n) / (self.n - 1))


@dataclass(frozen=True)
class WelchTest:
    control_mean: float
    variant_mean: float
    difference: float
    t: float
    df: float
    p_value: float  # two-sided
    significant: bool


def _check_arm(arm: Arm) -> None:
    if arm.recipients < 1 or not 0 <= arm.conversions <= arm.recipients:
        raise ValueError("an arm needs recipients and 0 <= conversions <= recipients")


def two_proportion_z(control: Arm, variant: Arm, *, alpha: float = ALPHA) -> ZTest:
    """Pooled two-proportion z-test, two-sided. Equal rates of 0 or 1 everywhere give z = 0 and p = 1."""
    _check_arm(control)
    _check_arm(variant)
    pooled = (control.conversions + variant.conversions) / (control.recipients + variant.recipients)
    se = math.sqrt(pooled * (1 - pooled) * (1 / control.recipients + 1 / variant.recipients))
    lift = variant.rate - control.rate
    z = lift / se if se > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    return ZTest(control.rate, variant.rate, lift, z, p, p < alpha)


def compare_variants(control: Arm, variants: Sequence[Arm], *, alpha: float = ALPHA) -> list[ZTest]:
    """Each variant against the control; with k variants each is judged at alpha / k (Bonferroni), so promoting "the
    best of k" keeps the family-wise error at alpha."""
    per_test = alpha / max(1, len(variants))
    return [two_proportion_z(control, v, alpha=per_test) for v in variants]


def chi_square(arms: Sequence[Arm], *, alpha: float = ALPHA) -> ChiSquare:
    """Pearson's chi-square over a k x 2 table (converted, not converted), without continuity correction."""
    if len(arms) < 2:
        raise ValueError("a chi-square needs at least two arms")
    for arm in arms:
        _check_arm(arm)
    table = [[a.conversions, a.recipients - a.conversions] for a in arms]
    if all(row[0] == 0 for row in table) or all(row[1] == 0 for row in table):
        return ChiSquare(0.0, len(arms) - 1, 1.0, False)
    chi2, p, dof, _expected = stats.chi2_contingency(table, correction=False)
    return ChiSquare(float(chi2), int(dof), float(p), float(p) < alpha)


def welch_t(control: RevenueArm, variant: RevenueArm, *, alpha: float = ALPHA) -> WelchTest:
    """Welch's t-test on the means, two-sided, with the Welch-Satterthwaite degrees of freedom."""
    if control.n < 2 or variant.n < 2:
        raise ValueError("each arm needs at least two recipients")
    a, b = control.variance / control.n, variant.variance / variant.n
    difference = variant.mean - control.mean
    if a + b == 0:
        return WelchTest(control.mean, variant.mean, difference, 0.0, float(control.n + variant.n - 2),
                         1.0 if difference == 0 else 0.0, difference != 0)
    t = difference / math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (control.n - 1) + b * b / (variant.n - 1))
    p = float(2 * stats.t.sf(abs(t), df))
    return WelchTest(control.mean, variant.mean, difference, t, df, p, p < alpha)


def _z(alpha: float, power: float) -> tuple[float, float]:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power are between 0 and 1")
    return float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))


def _n_for(baseline: float, lift: float, z_alpha: float, z_power: float) -> float:
    p1, p2 = baseline, baseline + lift
    mean = (p1 + p2) / 2
    top = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return top * top / (lift * lift)


def sample_size_per_arm(baseline: float, lift: float, *, alpha: float = ALPHA, power: float = POWER) -> int:
    """Recipients per arm to detect an absolute `lift` over `baseline` (two-sided test at `alpha`, with `power`)."""
    if not 0 < baseline < 1 or lift == 0 or not 0 < baseline + lift < 1:
        raise ValueError("baseline and baseline + lift are rates strictly between 0 and 1, lift is not 0")
    z_alpha, z_power = _z(alpha, power)
    return math.ceil(_n_for(baseline, lift, z_alpha, z_power))


def minimum_detectable_effect(baseline: float, per_arm: int, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest absolute lift over `baseline` that `per_arm` recipients per arm detect (upwards)."""
    if not 0 < baseline < 1 or per_arm < 2:
        raise ValueError("baseline is a rate strictly between 0 and 1 and each arm needs recipients")
    z_alpha, z_power = _z(alpha, power)
    ceiling = 1 - baseline - 1e-12
    if _n_for(baseline, ceiling, z_alpha, z_power) > per_arm:
        return ceiling  # not even the largest lift is detectable with so few
    return float(optimize.brentq(lambda d: _n_for(baseline, d, z_alpha, z_power) - per_arm, 1e-9, ceiling,
                                 xtol=1e-12))
