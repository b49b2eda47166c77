"""Picking a test's winner by the campaign's pre-declared primary metric.

The candidate is the variant with the best conversion rate (or revenue per recipient); it is the winner when it
beats the runner-up significantly: a pooled two-proportion z-test for conversion, Welch's t-test for revenue (both
two-sided at 5 %, from siyu.core.significance). Beating the runner-up means beating every other variant, so one test
is enough. An operator may name the variant; it is then tested against the best of the others the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from siyu.core import significance


class Group(Protocol):
    @property
    def variant(self) -> str: ...
    @property
    def recipients(self) -> int: ...
    @property
    def conversions(self) -> int: ...
    @property
    def revenue_fen(self) -> int: ...
    @property
    def revenue_sq(self) -> float: ...


@dataclass(frozen=True)
class Decision:
    winner: str
    against: str
    metric: str
    winner_value: float  # conversion rate, or revenue per recipient in fen
    against_value: float
    p_value: float
    significant: bool  # better than the runner-up, at 5 %


def _value(group: Group, metric: str) -> float:
    if not group.recipients:
        return 0.0
    return (group.revenue_fen if metric == "revenue" else group.conversions) / group.recipients


def decide(groups: Sequence[Group], metric: str, *, chosen: str = "") -> Decision | None:
    """None when there are not two variants with recipients (or `chosen` is not one of them)."""
    arms = sorted((g for g in groups if g.variant and g.recipients > 0),
                  key=lambda g: (-_value(g, metric), g.variant))
    if len(arms) < 2:
        return None
    best = next((g for g in arms if g.variant == chosen), None) if chosen else arms[0]
    if best is None:
        return None
    runner = next(g for g in arms if g is not best)
    if metric == "revenue":
        if best.recipients < 2 or runner.recipients < 2:
            p, better = 1.0, False
        else:
            welch = significance.welch_t(
                significance.RevenueArm(runner.recipients, runner.revenue_fen, runner.revenue_sq),
                significance.RevenueArm(best.recipients, best.revenue_fen, best.revenue_sq))
            p, better = welch.p_value, welch.significant and welch.difference > 0
    else:
        z = significance.two_proportion_z(significance.Arm(runner.conversions, runner.recipients),
                                          significance.Arm(best.conversions, best.recipients))
        p, better = z.p_value, z.significant and z.lift > 0
    return Decision(winner=best.variant, against=runner.variant, metric=metric, winner_value=_value(best, metric),
                    against_value=_value(runner, metric), p_value=p, significant=better)
