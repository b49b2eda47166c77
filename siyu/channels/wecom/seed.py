"""The demo data step for WeCom: the demo app's ChannelAccount pointed at the simulator, a channel tag group and a
few channel codes (their contact ways are created on the simulator by the worker through the outbox)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

import httpx
from django.conf import settings

from siyu.channels import demo_accounts
from siyu.channels import queries as channel_queries
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom import channel_codes
from siyu.channels.wecom import queries as wecom_queries
from siyu.channels.wecom.accounts import wecom_account
from siyu.core.audit import Actor
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

DEMO_TAGS = ("门店扫码", "新客")
TAG_GROUP = "渠道来源"


def seed_wecom(enterprise_id: int, rng: Any, progress: Any) -> None:
    from siyu.core.errors import DomainError
    from siyu.customers import queries as customer_queries
    from siyu.customers import services as customer_services

    note = getattr(progress, "note", None)
    try:
        account = ensure_demo_account(enterprise_id)
    except DomainError as exc:  # the demo app already belongs to another enterprise in this database
        if callable(note):
            note(f"WeCom demo account skipped: {exc}")
        return
    scope = Scope.hq(enterprise_id)
    group = next((g for g in customer_queries.tag_library(scope) if g.name == TAG_GROUP), None)
    if group is None:
        group = customer_services.create_tag_group(enterprise_id=enterprise_id, name=TAG_GROUP)
    existing = {t.name: t.pk for t in customer_queries.tags(scope).filter(group_id=group.pk)}
    tag_ids = [
        existing.get(name) or customer_services.create_tag(group=group, name=name).pk for name in DEMO_TAGS
    ]
    made = demo_codes(enterprise_id=enterprise_id, account_id=account.pk, stores=_stores_with_wecom_staff(scope),
                      tag_ids=tag_ids)
    if callable(note):
        note(f"WeCom demo account #{account.pk}, {made} channel codes")


def install() -> None:
    try:
        from siyu.core.seed.hooks import register_seed_step
    except ImportError:  # the seed hooks are not there: ensure_demo_account is the way in
        return
    register_seed_step("channels.wecom", seed_wecom)


def simulator_base_url() -> str:
    return f"http://127.0.0.1:{settings.SIYU_SIMULATOR_PORT}/wecom"


def ensure_demo_account(enterprise_id: int, base_url: str = "", *, actor: Actor = None) -> ChannelAccount:
    """The demo's WeCom app (demo_accounts.WECOM) pointed at the simulator; created once, base URL kept current."""
    app = demo_accounts.WECOM
    return channel_services.ensure_account(
        enterprise_id=enterprise_id,
        kind=AccountKind.WECOM,
        name="企业微信 (模拟)",
        app_id=app.app_id,
        agent_id=app.agent_id,
        secret=app.secret,
        token=app.token,
        encoding_aes_key=app.encoding_aes_key,
        base_url=base_url or simulator_base_url(),
        actor=actor,
    )


def callback_url(account: ChannelAccount, siyu_base_url: str) -> str:
    return f"{siyu_base_url.rstrip('/')}/channels/wecom/callback/{account.pk}/"


def _stores_with_wecom_staff(scope: Scope) -> list[tuple[int, str, str]]:
    """(id, name, code) of the stores with an active staff member on WeCom: the ones a store code can serve."""
    with_staff = org_queries.staff(scope).filter(is_active=True).exclude(wecom_userid="").values("store_id")
    return list(org_queries.stores(scope).filter(pk__in=with_staff).order_by("id").values_list("id", "name", "code"))


def store_state(store_code: str) -> str:
    """The source state of a store's channel code: the one the demo generator gives customers who joined there."""
    return f"store_qr_{store_code}"[:30]


def demo_codes(
    *, enterprise_id: int, account_id: int, stores: list[tuple[int, str, str]], tag_ids: list[int]
) -> int:
    """The demo's channel codes: one per store (round robin among its staff, or all), with the demo tags, carrying
    the state the seeded relationships of that store have, so their source reads as the code's name."""
    scope = Scope.hq(enterprise_id)
    made = 0
    for index, (store_id, store_name, store_code) in enumerate(stores):
        state = store_state(store_code)
        if channel_codes.code_for_state(wecom_account(account_id), state) is not None:
            continue
        channel_codes.create_channel_code(
            scope=scope,
            account_id=account_id,
            name=f"{store_name} 门店活码"[:64],
            store_id=store_id,
            assign_mode="round_robin" if index % 2 == 0 else "all",
            tag_ids=tag_ids,
            state=state,
            welcome_text="{name}，您好！欢迎添加，我是您的专属顾问，有任何问题随时找我～",
            welcome_attachments=[
                {"msgtype": "link", "link": {"title": "新人礼包", "url": "https://example.com/welcome"}}
            ],
        )
        made += 1
    return made


# ---------------------------------------------------------------------------------------------------------------
# The simulator keeps its state in memory: a demo (re)started tells it everything Siyu holds for the demo corp, so
# every relationship an operator sees can be inherited, mass-sent to and tagged on the simulated platform.

Poster = Callable[[str, dict[str, Any]], dict[str, Any]]
IMPORT_BATCH = 2000


def _http_post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        url, content=json.dumps(body, ensure_ascii=False).encode(), timeout=httpx.Timeout(30.0, connect=2.0)
    )
    answer: dict[str, Any] = response.json()
    if response.status_code != 200 or answer.get("errcode"):
        raise RuntimeError(f"simulator import refused: {answer}")
    return answer


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def teach_simulator(account_id: int, *, post: Poster = _http_post, batch: int = IMPORT_BATCH) -> dict[str, int]:
    """POST the account's known state to its simulator's `/_sim/import` in batches (members and contact ways first,
    then follows, then groups). No database transaction is open while posting. Returns the rows sent per kind."""
    account = wecom_account(account_id)
    url = f"{account.base_url.rstrip('/')}/_sim/import"
    sent: dict[str, int] = {}
    for kind, rows in wecom_queries.simulator_known_state(account).items():
        sent[kind] = 0
        for chunk in _chunks(rows, batch):
            post(url, {"corp_id": account.app_id, kind: chunk})
            sent[kind] += len(chunk)
    return sent


def campaign_codes(enterprise_id: int, campaigns: Sequence[tuple[str, str]]) -> int:
    """Channel codes for the demo's campaign sources ((state, name) pairs, e.g. ("package_card", "包裹卡")), served by
    the first store with WeCom staff; none when the enterprise has no demo WeCom account. Made once."""
    account = channel_queries.find_account(kind=AccountKind.WECOM, app_id=demo_accounts.WECOM.app_id)
    if account is None or account.enterprise_id != enterprise_id:
        return 0
    scope = Scope.hq(enterprise_id)
    stores = _stores_with_wecom_staff(scope)
    if not stores:
        return 0
    made = 0
    for state, name in campaigns:
        if channel_codes.code_for_state(wecom_account(account.pk), state) is not None:
            continue
        channel_codes.create_channel_code(
            scope=scope, account_id=account.pk, name=name[:64], store_id=stores[0][0], assign_mode="round_robin",
            state=state,
        )
        made += 1
    return made
