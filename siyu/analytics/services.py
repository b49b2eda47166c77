"""Writes of the analytics app: acquisition costs (what a source of customers cost on a day), entered by HQ."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from siyu.analytics.models import AcquisitionCost
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.customers.models import Channel
from siyu.org.scope import Scope

MAX_COST_FEN = 10**12  # ten billion yuan: more is a typo


def _check(*, channel: str, code_state: str, amount_fen: int) -> None:
    if not channel and not code_state:
        raise ValidationFailed(_("Name the channel or the channel code the money was spent on."), field="channel",
                               code="cost_source")
    if channel and channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel", code="choice")
    if len(code_state) > 64:
        raise ValidationFailed(_("A channel code state is at most 64 characters."), field="code_state",
                               code="too_long")
    if not 0 <= amount_fen <= MAX_COST_FEN:
        raise ValidationFailed(_("Give an amount from 0 to 10,000,000,000 yuan."), field="amount", code="amount")


@transaction.atomic
def record_cost(*, scope: Scope, day: date, channel: str = "", code_state: str = "", amount_fen: int,
                note: str = "", actor: Actor = None) -> AcquisitionCost:
    """One cost entry of the viewer's enterprise (HQ only: spend is the enterprise's, not a store's)."""
    if not scope.is_hq:
        raise PermissionDenied(_("Only HQ enters acquisition costs."))
    channel, code_state, note = channel.strip(), code_state.strip(), note.strip()[:120]
    _check(channel=channel, code_state=code_state, amount_fen=amount_fen)
    cost = AcquisitionCost.objects.create(enterprise_id=scope.enterprise_id, day=day, channel=channel,
                                          code_state=code_state, amount_fen=amount_fen, note=note)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="acquisition_cost.create",
                 target_type="acquisition_cost", target_id=cost.pk, summary=f"{day} {channel or code_state}",
                 changes={"day": day.isoformat(), "channel": channel, "code_state": code_state,
                          "amount_fen": amount_fen, "note": note})
    return cost
