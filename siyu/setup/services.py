"""First run and channel-account connection: the only writes of the set-up app.

- `first_run`: the enterprise and its first HQ administrator, once. The FirstRun row is inserted first in the same
  transaction, so a second attempt (another browser on the wizard, a second `siyu setup`) fails on its primary key
  and writes nothing, whatever the timing.
- `save_channel_account` / `save_merchant`: HQ only, through the owning apps' services (sealed, write-only secrets,
  audited there).
- `check_channel_account` / `check_merchant`: read the credentials, call the platform with no transaction open, then
  record the result (and an audit row) in one short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels import queries as channel_queries
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, AccountType, ChannelAccount
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict
from siyu.finance import merchants
from siyu.finance import queries as finance_queries
from siyu.finance import services as finance_services
from siyu.finance.models import PayMerchant
from siyu.org import firstrun
from siyu.org.scope import Scope
from siyu.setup import checks
from siyu.setup.checks import Probe
from siyu.setup.models import CheckTarget, ConnectionCheck, FirstRun
from siyu.setup.queries import require_hq

SOURCES = ("command", "wizard")


def first_run(*, enterprise_name: str, admin_username: str, admin_password: str, admin_name: str = "",
              enterprise_code: str = "", source: str, allow_existing: bool = False) -> firstrun.FirstAdmin:
    """Create the enterprise and its first HQ administrator. Refused (Conflict, code `already_set_up`) once any
    enterprise exists, unless `allow_existing` (the command's --allow-existing, for a second brand on one install)."""
    assert source in SOURCES
    firstrun.check_admin(name=enterprise_name, username=admin_username, password=admin_password,
                         admin_name=admin_name or admin_username)
    try:
        with transaction.atomic():
            claimed = FirstRun.objects.filter(pk=1).exists()
            if not claimed:
                FirstRun.objects.create(pk=1, source=source)  # a concurrent first run fails here or at commit
            if (claimed or firstrun.any_enterprise()) and not allow_existing:
                raise Conflict(_("Siyu is already set up: sign in, or ask an HQ administrator for an account"),
                               code="already_set_up")
            made = firstrun.create_enterprise_with_admin(
                name=enterprise_name, code=enterprise_code, admin_username=admin_username,
                admin_password=admin_password, admin_name=admin_name, source=source)
            if not claimed:
                FirstRun.objects.filter(pk=1).update(enterprise_id=made.enterprise_id)
            return made
    except IntegrityError as exc:
        raise Conflict(_("Siyu is already set up: sign in, or ask an HQ administrator for an account"),
                       code="already_set_up") from exc


# ---------------------------------------------------------------------------------------------------------------
# Accounts


def save_channel_account(*, scope: Scope, account_id: int | None, data: channel_services.AccountInput,
                         actor: Actor = None) -> ChannelAccount:
    require_hq(scope)
    return channel_services.save_account(enterprise_id=scope.enterprise_id, account_id=account_id, data=data,
                                         actor=actor)


def save_merchant(*, scope: Scope, merchant_id: int | None, data: merchants.MerchantInput,
                  actor: Actor = None) -> PayMerchant:
    require_hq(scope)
    return merchants.save_merchant(enterprise_id=scope.enterprise_id, merchant_id=merchant_id, data=data,
                                   actor=actor)


@dataclass(frozen=True)
class CheckOutcome:
    check_id: int
    ok: bool
    probes: list[Probe]


def _probe_account(account: ChannelAccount) -> list[Probe]:
    secret = account.secret
    if account.kind == AccountKind.WECOM:
        return checks.check_wecom(checks.WecomTarget(account.base_url, account.app_id, secret))
    if account.kind == AccountKind.OFFICIAL_ACCOUNT:
        subscription = account.account_type == AccountType.SUBSCRIPTION
        return checks.check_official_account(checks.OaTarget(account.base_url, account.app_id, secret, subscription))
    return checks.check_miniprogram(checks.MiniProgramTarget(account.base_url, account.app_id, secret))


def _callback_probe(scope: Scope, account: ChannelAccount) -> list[Probe]:
    if account.kind == AccountKind.MINIPROGRAM:
        return []
    seen = channel_queries.callback_verifications(scope, [account.pk])[account.pk]
    if seen.ok:
        assert seen.verified_at is not None
        return [Probe("callback", True, "", seen.verified_at.isoformat())]
    if seen.refused_at is not None:
        return [Probe("callback", False, "refused", seen.refused_error[:200])]
    return [Probe("callback", None, "", "the platform has not checked the callback URL yet")]


def _record(scope: Scope, target: str, target_id: int, probes: list[Probe], actor: Actor, label: str
            ) -> CheckOutcome:
    ok = all(p.ok is not False for p in probes)
    with transaction.atomic():
        row = ConnectionCheck.objects.create(enterprise_id=scope.enterprise_id, target=target, target_id=target_id,
                                             ok=ok, results=[p.as_dict() for p in probes])
        failing = ", ".join(f"{p.key} {p.code}".strip() for p in probes if p.ok is False)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action=f"{target}.check", target_type=target,
                     target_id=target_id, summary=audit.text(N_("%(target)s: ok"), target=label) if ok else audit.text(
                         N_("%(target)s: failing: %(failing)s"), target=label, failing=failing))
    return CheckOutcome(row.pk, ok, probes)


def disable_channel_account(*, scope: Scope, account_id: int, actor: Actor = None) -> ChannelAccount:
    require_hq(scope)
    return channel_services.disable_account(enterprise_id=scope.enterprise_id, account_id=account_id, actor=actor)


def delete_channel_account(*, scope: Scope, account_id: int, actor: Actor = None) -> None:
    require_hq(scope)
    channel_services.delete_account(enterprise_id=scope.enterprise_id, account_id=account_id, actor=actor)


def disable_merchant(*, scope: Scope, merchant_id: int, actor: Actor = None) -> PayMerchant:
    require_hq(scope)
    return merchants.disable_merchant(enterprise_id=scope.enterprise_id, merchant_id=merchant_id, actor=actor)


def check_channel_account(*, scope: Scope, account_id: int, actor: Actor = None) -> CheckOutcome:
    require_hq(scope)
    account = channel_queries.get_account(scope, account_id)
    if not account.is_active:
        raise Conflict(_("the account is disabled: enable it with its secrets before checking it"),
                       field="account_id", code="account_disabled")
    probes = [*_probe_account(account), *_callback_probe(scope, account)]  # network: no transaction is open
    return _record(scope, CheckTarget.CHANNEL_ACCOUNT, account.pk, probes, actor, f"{account.kind} {account.app_id}")


def check_merchant(*, scope: Scope, merchant_id: int, actor: Actor = None) -> CheckOutcome:
    require_hq(scope)
    merchant = finance_queries.get_merchant(scope, merchant_id)
    probes = checks.check_pay(finance_services.pay_client(merchant))
    return _record(scope, CheckTarget.PAY_MERCHANT, merchant.pk, probes, actor, f"WeChat Pay {merchant.mch_id}")
