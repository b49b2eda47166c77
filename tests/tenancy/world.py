"""Two brands side by side, each with a bit of everything: org (regions, stores, staff of every role), customers with
identities (one phone number is a customer of both brands), tags, events (one idempotency key used by both), catalog,
promotions, orders (with delivery addresses), an order import, WeCom and Official Account accounts with codes,
groups, transfers, mass sends, moments, outbox calls, callbacks, keywords, QR scenes, template sends, follower syncs,
and audit rows.

Every name a brand's pages could print carries the brand's marker (`mark`), and its phone numbers are its own (apart
from the shared one), so a response of one brand that contains the other's marker or phone has leaked it.

Rows a platform would have sent (groups, callbacks, outbox calls) are written with the ORM: no platform is running.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from django.utils import timezone

from siyu.catalog import services as catalog
from siyu.catalog.models import Sku
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount, InboundCallback
from siyu.channels.official_account import services as oa_services
from siyu.channels.official_account.models import Follower, FollowerSync, QrScene, TemplateSend
from siyu.channels.wecom.models import (
    ChannelCode,
    ChannelCodeDay,
    ChannelCodeStaff,
    CustomerGroup,
    GroupCode,
    GroupCodeDay,
    GroupCodeSlot,
    GroupMembership,
    GroupRoute,
    GroupSop,
    GroupSopRun,
    GroupTag,
    GroupTagging,
    GroupTransfer,
    GroupTransferItem,
    GroupWelcome,
    GroupWelcomeBinding,
    KeywordGroup,
    MassSend,
    MassSendRecipient,
    MassSendSender,
    MomentTask,
    OutboundCall,
    SyncJob,
    SyncRun,
    TransferItem,
    TransferJob,
)
from siyu.core.money import Money
from siyu.customers import member_import
from siyu.customers import services as customers
from siyu.customers.models import Customer, Tag, TagGroup
from siyu.customers.services import EventInput, IdentityInput
from siyu.exports import services as exports
from siyu.loyalty import services as loyalty_services
from siyu.orders.models import AfterSale, CartItem, Order, PlatformImport, Presale, StorefrontSession
from siyu.orders.services import after_sale as orders_after_sale
from siyu.orders.services import history_job, imports, states
from siyu.orders.services import presale as orders_presale
from siyu.org.models import Enterprise, Region, Role, Staff, Store
from siyu.org.scope import Scope, scope_for_staff
from siyu.org.services import create_api_token
from siyu.promotions import services as promotions
from siyu.promotions.models import CouponBatch, CouponTemplate, FlashSale, FullReduction, GroupBuy
from siyu.storefront.services import cart, checkout, design
from tests.factories import EnterpriseFactory, RegionFactory, StaffFactory, StoreFactory, UserFactory

SHARED_PHONE = "13933330000"  # a customer of both brands
SHARED_KEY = "shared-event-key-1"  # an event idempotency key both brands use
ROLES = ("hq", "region_manager", "store_manager", "store_staff")
IMPORT_HEADER = (
    "订单编号,买家会员名,买家ID,联系手机,宝贝标题,商家编码,宝贝总数量,总金额,买家实际支付金额,订单状态,订单创建时间,"
    "订单付款时间,收货人姓名"
)


@dataclass
class Brand:
    mark: str
    enterprise: Enterprise
    staff: dict[str, Staff]  # role -> a staff member of that role (all in the first store / region)
    phones: list[str]  # this brand's own full phone numbers (never used by the other brand)
    ids: dict[str, int]  # path parameter name (or "<prefix>:<name>") -> one of this brand's rows
    words: dict[str, str] = field(default_factory=dict)  # path parameters that are not row ids (share tokens)
    shopper_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # role -> API token secret

    @property
    def hq_scope(self) -> Scope:
        return Scope.hq(self.enterprise.pk)


def _exports(brand: Brand) -> None:
    """A finished export of the brand's HQ (the worker's step run here)."""
    hq = brand.staff["hq"]
    job = exports.start_export(scope=scope_for_staff(hq), actor=hq.user, kind="customers", file_format="csv",
                               filters={})
    exports.run_export(job_id=job.pk)
    brand.ids["export_id"] = job.pk


def _org(mark: str, code: str) -> tuple[Enterprise, dict[str, Staff], Store, Store]:
    ent = EnterpriseFactory.create(name=f"Brand {mark}", code=code, wecom_corp_id=f"ww{code}")
    north = RegionFactory.create(enterprise=ent, name=f"{mark} North", code="north")
    south = RegionFactory.create(enterprise=ent, name=f"{mark} South", code="south")
    first = StoreFactory.create(region=north, name=f"{mark} Store One", code="one")
    StoreFactory.create(region=south, name=f"{mark} Store Two", code="two")

    def staff(role: str, label: str = "", **kw: Any) -> Staff:
        name = f"{mark}-{label or role}"
        return StaffFactory.create(enterprise=ent, name=name, wecom_userid=name, role=role,
                                   user=UserFactory.create(username=name), mobile="", **kw)

    people = {
        "hq": staff(Role.HQ_ADMIN),
        "region_manager": staff(Role.REGION_MANAGER, region=north),
        "store_manager": staff(Role.STORE_MANAGER, region=north, store=first),
        "store_staff": staff(Role.STORE_STAFF, region=north, store=first),
    }
    second = Store.objects.get(enterprise=ent, code="two")
    south = Region.objects.get(enterprise=ent, code="south")
    people["other_staff"] = staff(Role.STORE_STAFF, "other_staff", region=south, store=second)
    return ent, people, first, second


def _customers(brand: Brand, store: Store, other_store: Store) -> list[Customer]:
    ent, mark, now = brand.enterprise.pk, brand.mark, timezone.now()
    first = customers.create_customer(
        enterprise_id=ent, name=f"{mark} Ada", phone=brand.phones[0], home_store_id=store.pk,
        identities=[
            IdentityInput(kind="wecom_external_userid", value=f"wm{mark}ada", account=f"ww{mark}"),
            IdentityInput(kind="unionid", value=f"oU{mark}ada"),
            IdentityInput(kind="oa_openid", value=f"oO{mark}ada", account=f"wx{mark}oa"),
        ],
        created_at=now - timedelta(days=2),
    )
    second = customers.create_customer(enterprise_id=ent, name=f"{mark} Bob", phone=SHARED_PHONE,
                                       home_store_id=store.pk, created_at=now - timedelta(days=1))
    third = customers.create_customer(enterprise_id=ent, name=f"{mark} Cai", phone=brand.phones[1],
                                      home_store_id=other_store.pk)
    for customer in (first, second):
        customers.add_relationship(customer=customer, staff=brand.staff["store_staff"], added_at=now,
                                   state=f"st{mark}")
    customers.add_relationship(customer=third, staff=brand.staff["other_staff"], added_at=now)
    group = customers.create_tag_group(enterprise_id=ent, name=f"{mark} Value")
    vip = customers.create_tag(group=group, name=f"{mark} VIP")
    customers.tag_customers(enterprise_id=ent, customer_ids=[first.pk, third.pk], tag_ids=[vip.pk])
    customers.ingest_events(enterprise_id=ent, batch=[
        EventInput(name="page_viewed", occurred_at=now - timedelta(hours=1), idempotency_key=SHARED_KEY,
                   customer_id=first.pk, campaign=f"{mark}camp", properties={"path": f"/{mark}"}),
    ])
    brand.ids.update(customer_id=first.pk, second_customer_id=second.pk, group_id=group.pk, tag_id=vip.pk)
    return [first, second, third]


def _catalog(brand: Brand, store: Store) -> tuple[Sku, Sku]:
    hq, mark = brand.hq_scope, brand.mark
    root = catalog.create_category(scope=hq, name=f"{mark} Home")
    leaf = catalog.create_category(scope=hq, name=f"{mark} Paper", parent_id=root.pk)
    product = catalog.create_product(scope=hq, data=catalog.ProductInput(
        name=f"{mark} Tissue", category_id=leaf.pk, status="on_sale",
        skus=[catalog.SkuInput(code=f"T-{mark}", price=Money(1990), stock=500)]))
    pan = catalog.create_product(scope=hq, data=catalog.ProductInput(
        name=f"{mark} Pan", category_id=leaf.pk, status="on_sale",
        skus=[catalog.SkuInput(code=f"P-{mark}", price=Money(29900), stock=500)]))
    tissue, pan_sku = Sku.objects.get(product=product), Sku.objects.get(product=pan)
    bundle = catalog.create_bundle(scope=hq, data=catalog.BundleInput(
        name=f"{mark} Bundle", price=Money(2990),
        items=[catalog.BundleItemInput(sku_id=tissue.pk, quantity=2)], status="on_sale"))
    brand.ids.update(category_id=leaf.pk, product_id=product.pk, sku_id=tissue.pk, bundle_id=bundle.pk)
    return tissue, pan_sku


def _promotions(brand: Brand, tissue: Sku, pan: Sku, buyer: Customer) -> None:
    hq, mark, now = brand.hq_scope, brand.mark, timezone.now()
    promotions.set_shipping_policy(scope=hq, free_over=Money(9900), fee=Money(1000))
    template = promotions.create_coupon_template(scope=hq, data=promotions.CouponTemplateInput(
        name=f"{mark} Coupon", kind="threshold", amount_off=Money(1000), threshold=Money(5000), valid_days=7,
        per_customer_limit=5, claimable=True))
    promotions.issue_coupon(enterprise_id=brand.enterprise.pk, template_id=template.pk, customer_id=buyer.pk,
                            idempotency_key=f"{mark}-coupon")
    reduction = promotions.create_full_reduction(scope=hq, data=promotions.FullReductionInput(
        name=f"{mark} Reduction", tiers=[(10000, 1000)], starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7)))
    flash = promotions.create_flash_sale(scope=hq, data=promotions.FlashSaleInput(
        name=f"{mark} Flash", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1),
        items=[promotions.FlashItemInput(sku_id=pan.pk, flash_price=Money(19900), flash_stock=10)]))
    group_buy = promotions.create_group_buy(scope=hq, data=promotions.GroupBuyInput(
        name=f"{mark} Group", sku_id=pan.pk, group_price=Money(25900), starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1)))
    batch = CouponBatch.objects.create(enterprise=brand.enterprise, template=template, key=f"{mark}-batch",
                                       source="tags", source_label=f"{mark} 标签", total=1)
    brand.ids.update(template_id=template.pk, reduction_id=reduction.pk, flash_sale_id=flash.pk,
                     group_buy_id=group_buy.pk, batch_id=batch.pk)
    reward = loyalty_services.save_reward(scope=hq, data=loyalty_services.RewardInput(
        kind="gift", name=f"{mark} Gift", points=100, sku_id=pan.pk))
    brand.ids.update(reward_id=reward.pk)
    # the mall's designed home page (store design): a published version and a draft, both with the brand's marker
    page = design.open_page(scope=hq, store_id=None)
    design.save_draft(scope=hq, page_id=page.pk, document={"schema": 1, "title": f"{mark} Home", "components": [
        {"type": "product_grid", "source": "products", "product_ids": [pan.product_id]},
        {"type": "coupon_strip", "template_ids": [template.pk]}]})
    design.publish(scope=hq, page_id=page.pk)
    brand.ids.update(page_id=page.pk)
    plan = loyalty_services.save_plan(scope=hq, data=loyalty_services.PlanInput(
        code="plus", name=f"{mark} Plus", price_fen=29900, period_days=365))
    brand.ids.update(membership_plan_id=plan.pk)


def _orders(brand: Brand, tissue: Sku, buyer: Customer, store: Store) -> None:
    ent, mark, now = brand.enterprise.pk, brand.mark, timezone.now()
    address = {"name": f"{mark} Receiver", "phone": brand.phones[2], "detail": f"{mark} Road 1"}
    order = checkout.place_order(enterprise_id=ent, customer_id=buyer.pk, data=checkout.CheckoutInput(
        lines=[cart.LineInput(quantity=6, sku_id=tissue.pk)], address=address, store_id=store.pk,
        buyer_note=f"{mark} note"), idempotency_key=f"{mark}-order-1")
    states.mark_paid(order_id=order.pk, paid_at=now, payment_ref=f"{mark}-pay-1")
    refunded = checkout.place_order(enterprise_id=ent, customer_id=buyer.pk, data=checkout.CheckoutInput(
        lines=[cart.LineInput(quantity=1, sku_id=tissue.pk)], address=address), idempotency_key=f"{mark}-order-2")
    states.mark_paid(order_id=refunded.pk, paid_at=now, payment_ref=f"{mark}-pay-2")
    after_sale = orders_after_sale.request_refund(enterprise_id=ent, customer_id=buyer.pk, order_id=refunded.pk,
                                       kind="refund_only", reason=f"{mark} reason")
    Order.objects.filter(pk__in=[order.pk, refunded.pk]).update(store=store)
    bought = loyalty_services.buy_membership(enterprise_id=ent, customer_id=buyer.pk,
                                             plan_id=brand.ids["membership_plan_id"], key=f"{mark}-plus")
    states.mark_paid(order_id=bought.order_id, paid_at=now, payment_ref=f"{mark}-plus")  # a paid member
    presale = orders_presale.create_presale(scope=brand.hq_scope, data=orders_presale.PresaleInput(
        name=f"{mark} Presale", sku_id=tissue.pk, price_fen=1500, deposit_fen=500,
        deposit_starts_at=now - timedelta(days=1), deposit_ends_at=now + timedelta(days=1),
        balance_starts_at=now + timedelta(days=2), balance_ends_at=now + timedelta(days=3)))
    rows = [
        f"T{mark}1,{mark}Nick,tb_{mark}1,{brand.phones[3]},{mark} Tissue,T-{mark},1,19.90,19.90,交易成功,"
        f"2026-03-01 10:00:00,2026-03-01 10:05:00,{mark} Buyer",
        f"T{mark}2,{mark}Ghost,tb_{mark}2,139****{brand.phones[4][-4:]},{mark} Tissue,T-{mark},1,19.90,19.90,交易成功,"
        f"2026-03-02 10:00:00,2026-03-02 10:05:00,{mark} Ghost",
    ]
    imp = imports.import_platform_orders(scope=brand.hq_scope, platform="tmall",
                                        content="\n".join([IMPORT_HEADER, *rows]) + "\n", filename=f"{mark}.csv")
    CartItem.objects.create(enterprise_id=ent, customer=buyer, line_key=f"sku:{tissue.pk}", sku=tissue, quantity=1,
                            added_at=now)
    token = f"sf_{mark}shoppertoken"
    StorefrontSession.objects.create(
        enterprise_id=ent, customer=buyer, app_id=f"wx{mark}mp", openid=f"oM{mark}ada",
        token_hash=hashlib.sha256(token.encode()).hexdigest(), created_at=now, expires_at=now + timedelta(days=1))
    brand.shopper_token = token
    members = member_import.upload_member_file(
        scope=brand.hq_scope, stream=f"手机号,姓名\n{brand.phones[0]},{mark} Member\n1390\n".encode(),
        filename=f"{mark}-members.csv")
    member_import.dry_run(scope=brand.hq_scope, import_id=members.pk)
    brand.ids["member_import_id"] = members.pk
    history = history_job.upload_history_file(
        scope=brand.hq_scope, stream=f"门店编码,小票号,交易时间,会员手机号,实收金额\n{store.code},{mark}P1,"
        f"2026-03-01 10:00:00,{brand.phones[0]},9.90\n".encode(), filename=f"{mark}-pos.csv")
    history_job.dry_run(scope=brand.hq_scope, import_id=history.pk)
    brand.ids["history_id"] = history.pk
    brand.ids.update(order_id=order.pk, after_sale_id=after_sale.pk, import_id=imp.pk, presale_id=presale.pk,
                     item_id=CartItem.objects.get(customer=buyer).pk)


def _wecom(brand: Brand, people: list[Customer], store: Store) -> None:
    ent, mark, now = brand.enterprise, brand.mark, timezone.now()
    sender, other = brand.staff["store_staff"], brand.staff["other_staff"]
    account = channel_services.ensure_account(
        enterprise_id=ent.pk, kind=AccountKind.WECOM, name=f"{mark} WeCom", app_id=f"ww{mark}", agent_id="1000002",
        secret="s", token="tok", encoding_aes_key="a" * 43, base_url="http://127.0.0.1:9/wecom")
    code = ChannelCode.objects.create(enterprise=ent, account=account, name=f"{mark} Poster", state=f"st{mark}",
                                      store=store, config_id=f"cfg{mark}", status="active",
                                      welcome_text=f"{mark} welcome")
    ChannelCodeStaff.objects.create(code=code, staff=sender)
    ChannelCodeDay.objects.create(code=code, day=timezone.localdate(), scans=3, adds=2)
    chat = CustomerGroup.objects.create(account=account, chat_id=f"wr{mark}", name=f"{mark} Chat",
                                        owner_userid=sender.wecom_userid, owner=sender, member_count=1,
                                        platform_created_at=now)
    GroupMembership.objects.create(group=chat, member_id=f"wm{mark}ada", customer=people[0], name=f"{mark} Ada",
                                   joined_at=now)
    group_code = GroupCode.objects.create(enterprise=ent, account=account, name=f"{mark} Group code", cap=100,
                                          state=f"gs{mark}", store=store, config_id=f"gcfg{mark}", status="active",
                                          current_group=chat, active_chat_ids=[chat.chat_id])
    GroupCodeSlot.objects.create(code=group_code, group=chat)
    GroupCodeDay.objects.create(code=group_code, day=timezone.localdate(), scans=4, joins=1)
    group_job = GroupTransfer.objects.create(enterprise=ent, account=account, handover=sender, takeover=other)
    GroupTransferItem.objects.create(transfer=group_job, group=chat, status="refused", errcode=90503,
                                     reason=f"{mark} refused")
    job = TransferJob.objects.create(enterprise=ent, account=account, kind="in_service", handover=sender,
                                     takeover=other, message=f"{mark} handover")
    TransferItem.objects.create(job=job, customer=people[0], external_userid=f"wm{mark}ada")
    call = OutboundCall.objects.create(account=account, method="add_msg_template", payload={"text": f"{mark} hi"},
                                       idempotency_key=f"{mark}-call")
    send = MassSend.objects.create(enterprise=ent, account=account, name=f"{mark} Send", text=f"{mark} text",
                                   customer_ids=[people[0].pk, people[2].pk], status="submitted",
                                   recipient_total=2, group_code=group_code)  # also a tag-built group
    mine = MassSendSender.objects.create(mass_send=send, staff=sender, userid=sender.wecom_userid, call=call)
    theirs = MassSendSender.objects.create(mass_send=send, staff=other, userid=other.wecom_userid)
    MassSendRecipient.objects.create(mass_send=send, sender=mine, customer=people[0], target=f"wm{mark}ada")
    MassSendRecipient.objects.create(mass_send=send, sender=theirs, customer=people[2], target=f"wm{mark}cai")
    moment = MomentTask.objects.create(enterprise=ent, account=account, text=f"{mark} moment")
    moment.staff.set([sender])
    run = SyncRun.objects.create(account=account, error=f"{mark} sync")
    sync_job = SyncJob.objects.create(account=account, kind="groups", status="failed", error=f"{mark} sync job")
    InboundCallback.objects.create(account=account, kind=AccountKind.WECOM, body=f"<xml>{mark}</xml>",
                                   plaintext=f"<xml>{mark}</xml>", event="change_external_contact",
                                   dedupe_key=f"{mark}-cb", status="processed")
    welcome = GroupWelcome.objects.create(enterprise=ent, account=account, name=f"{mark} 欢迎语",
                                          text=f"{mark} 欢迎 %NICKNAME%", status="active", template_id=f"msg{mark}")
    GroupWelcomeBinding.objects.create(welcome=welcome, group=chat)
    group_tag = GroupTag.objects.create(enterprise=ent, name=f"{mark} 快闪群")
    GroupTagging.objects.create(tag=group_tag, group=chat)
    sop = GroupSop.objects.create(enterprise=ent, account=account, name=f"{mark} SOP", group_tag=group_tag,
                                  text=f"{mark} 早安", time_of_day=time(9, 0), start_date=now.date())
    sop_run = GroupSopRun.objects.create(sop=sop, key=f"group_sop:{mark}", occurrence=now, status="done",
                                         group_ids=[chat.pk], owner_ids=[sender.pk])
    sop_run.mass_sends.set([send])
    brand.ids.update({"welcome_id": welcome.pk, "group_tag_id": group_tag.pk, "sop_id": sop.pk,
                      "sop_run_id": sop_run.pk})
    brand.ids.update({"wecom:account_id": account.pk, "code_id": code.pk, "config_id": code.pk,
                      "wecom:group_id": chat.pk, "job_id": job.pk, "mass_send_id": send.pk, "task_id": moment.pk,
                      "wecom:run_id": run.pk, "sync_job_id": sync_job.pk, "group_code_id": group_code.pk,
                      "group_transfer_id": group_job.pk, "tag_built_id": send.pk})


def _official_account(brand: Brand, buyer: Customer) -> None:
    ent, mark, now = brand.enterprise, brand.mark, timezone.now()
    account = oa_services.connect_account(enterprise_id=ent.pk, name=f"{mark} OA", app_id=f"wx{mark}oa",
                                          secret="s", token="tok123", base_url="http://127.0.0.1:9/oa")
    reply = oa_services.create_keyword_reply(enterprise_id=ent.pk, account_id=account.pk, keyword=f"{mark}kw",
                                             content=f"{mark} answer")
    oa_services.set_follow_reply(enterprise_id=ent.pk, account_id=account.pk, kind="text",
                                 content=f"{mark} hello")
    scene = QrScene.objects.create(account=account, name=f"{mark} Scene", scene=f"sc{mark}")
    Follower.objects.create(account=account, openid=f"oO{mark}ada", customer_id=buyer.pk, subscribed=True,
                            followed_at=now, subscribe_scene=f"sc{mark}")
    TemplateSend.objects.create(account=account, idempotency_key=f"{mark}-tpl", openid=f"oO{mark}ada",
                                customer_id=buyer.pk, template_id=f"tpl{mark}", data={"first": {"value": mark}})
    keyword_group = KeywordGroup.objects.create(enterprise=ent, oa_account=account, keyword=f"{mark}进群",
                                                reply_text=f"{mark} join {{link}}")
    GroupRoute.objects.create(keyword_group=keyword_group, group_code_id=brand.ids["group_code_id"])
    brand.ids["keyword_group_id"] = keyword_group.pk
    sync = FollowerSync.objects.create(account=account, error=f"{mark} follower sync")
    InboundCallback.objects.create(account=account, kind=AccountKind.OFFICIAL_ACCOUNT, body=f"<xml>{mark}</xml>",
                                   plaintext=f"<xml>{mark}</xml>", event="subscribe", dedupe_key=f"{mark}-oacb",
                                   status="processed")
    brand.ids.update({"account_id": account.pk, "oa:account_id": account.pk, "reply_id": reply.pk, "scene_pk": scene.pk,
                      "oa:run_id": sync.pk})


def _audiences(brand: Brand, store: Store) -> None:
    """A segment named with the brand's marker, and a rule tag (an event tag on the brand's VIP tag)."""
    from siyu.audiences import services as audiences
    from siyu.audiences import tag_rules

    hq = scope_for_staff(brand.staff["hq"])
    rule = {"version": 1, "root": {"type": "home_store", "store_ids": [store.pk]}}
    segment = audiences.create_segment(scope=hq, name=f"{brand.mark} 门店顾客", rule=rule, store_id=store.pk)
    # as the analytics process leaves it once built (reads of its members, e.g. its best sending hours, answer then)
    type(segment).objects.filter(pk=segment.pk).update(built_revision=segment.revision)
    tag_rule = tag_rules.create_tag_rule(scope=hq, tag_id=brand.ids["tag_id"], kind="event", event_name="check_in",
                                         expire_days=30)
    brand.ids.update(segment_id=segment.pk, rule_id=tag_rule.pk)


def _finance(brand: Brand, order_id: int) -> None:
    """A posted payment whose memo carries the brand's marker."""
    from siyu.finance import ledger

    entry = ledger.post_entry(enterprise_id=brand.enterprise.pk, kind="payment", key=f"payment:{brand.mark}",
                              currency="CNY", memo=f"{brand.mark} payment", order_id=order_id,
                              legs=[ledger.Leg("platform_clearing", "customer_prepaid", 990)])
    assert entry is not None
    brand.ids.update(entry_id=entry.pk)
    from siyu.finance import commissions

    rule = commissions.create_rule(scope=Scope.hq(brand.enterprise.pk), data=commissions.RuleInput(
        name=f"{brand.mark} rule", target="role", basis="percent", rate_bp=300, product_role="profit",
        valid_from=date(2026, 1, 1)))
    brand.ids.update(commission_rule_id=rule.pk)


def _reconciliation(brand: Brand) -> None:
    """A merchant account, a reconciled day and a difference whose product name carries the brand's marker."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from siyu.finance.models import PayMerchant, ReconciliationDifference, ReconciliationRun

    digits = str(int(hashlib.sha256(brand.mark.encode()).hexdigest(), 16) % 10**9).zfill(9)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant = PayMerchant(enterprise=brand.enterprise, name=f"{brand.mark} 商户", mch_id="1" + digits,
                           app_id="wx" + digits, merchant_serial_no="ABCDEF01", platform_key_id="PUB_KEY_ID_01",
                           base_url="http://127.0.0.1:9/pay", platform_public_key=key.public_key().public_bytes(
                               serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    merchant.apiv3_key = "k" * 32
    merchant.save()
    run = ReconciliationRun.objects.create(enterprise=brand.enterprise, merchant=merchant, status="done",
                                           bill_date=timezone.now().date() - timedelta(days=5), generation=1,
                                           missing_ours_count=1)
    diff = ReconciliationDifference.objects.create(enterprise=brand.enterprise, run=run, generation=1,
                                                   kind="missing_ours", subject="P", out_trade_no=f"{brand.mark}01",
                                                   product=f"{brand.mark} 商品", bill_fen=990, bill_currency="CNY")
    brand.ids.update(merchant_id=merchant.pk, run_id=run.pk, difference_id=diff.pk)


def _content(brand: Brand) -> None:
    """An image material and a script named with the brand's marker."""
    import io

    from PIL import Image

    from siyu.content import services as content

    hq = scope_for_staff(brand.staff["hq"])
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 30, 200)).save(picture, "PNG")
    size = picture.tell()
    picture.seek(0)
    material = content.create_material(scope=hq, data=content.MaterialInput(kind="image", title=f"{brand.mark} 海报"),
                                       upload=content.Upload(stream=picture, name=f"{brand.mark}.png", size=size))
    script = content.create_script(scope=hq, data=content.ScriptInput(
        title=f"{brand.mark} 欢迎", scenario="greeting", material_id=material.pk,
        steps=[content.StepInput(step="hook", text=f"{{customer_name}} 您好，{brand.mark}")]))
    plan = content.plan_moment(scope=hq, planned_at=timezone.now() + timedelta(days=1), text=f"{brand.mark} 上新")
    avatar = io.BytesIO()
    Image.new("RGB", (60, 60), (200, 200, 30)).save(avatar, "PNG")
    avatar_size = avatar.tell()
    avatar.seek(0)
    content.save_persona(scope=hq, staff_id=brand.staff["store_staff"].pk, nickname="小美", signature="您的护肤顾问",
                         persona_type="expert", avatar=content.Upload(stream=avatar, name="a.png", size=avatar_size))
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 200, 30)).save(photo, "PNG")
    photo_size = photo.tell()
    photo.seek(0)
    submission = content.submit_ugc(enterprise_id=hq.enterprise_id, customer_id=brand.ids["customer_id"],
                                    kind="photo", text=f"{brand.mark} 好评",
                                    upload=content.Upload(stream=photo, name="p.png", size=photo_size))
    brand.ids.update(material_id=material.pk, script_id=script.pk, plan_id=plan.pk, submission_id=submission.pk)


def _org_setup(brand: Brand) -> None:
    """A checked organisation sheet naming the brand, and a WeCom department seen by an address-book sync."""
    from siyu.org import sheets
    from siyu.org.models import DepartmentLink

    csv = f"type,code,name,region_code,city\nstore,sheet1,{brand.mark} Sheet Store,north,{brand.mark} City\n"
    sheet = sheets.preview_sheet(scope=brand.hq_scope, filename=f"{brand.mark}.csv", content=csv.encode())
    link = DepartmentLink.objects.create(enterprise=brand.enterprise, account_id=brand.ids["wecom:account_id"],
                                         department_id=2, parent_id=1, name=f"{brand.mark} Department")
    brand.ids.update(sheet_id=sheet.pk, link_id=link.pk)


def _referrals(brand: Brand, buyer: Customer) -> None:
    """A running task fission with the brand's marker, joined by the shopper."""
    from siyu.referrals import services as referrals

    now = timezone.now()
    campaign = referrals.save_campaign(scope=brand.hq_scope, data=referrals.CampaignInput(
        kind="task", name=f"{brand.mark} Fission", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=9),
        reward_points=100, target_count=3, window_days=7))
    referrals.join_campaign(enterprise_id=brand.enterprise.pk, campaign_id=campaign.pk, customer_id=buyer.pk)
    brand.ids["campaign_id"] = campaign.pk
    assist = referrals.save_campaign(scope=brand.hq_scope, data=referrals.CampaignInput(
        kind="assist", name=f"{brand.mark} Assist", conversion="help", starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=9),
        reward_points=50, target_count=3, window_hours=24))
    started = referrals.join_campaign(enterprise_id=brand.enterprise.pk, campaign_id=assist.pk, customer_id=buyer.pk)
    brand.words["assist_token"] = started.token


def _journeys(brand: Brand) -> None:
    """A draft journey with the brand's marker."""
    from siyu.automation import services as automation

    journey = automation.create_journey(scope=brand.hq_scope, name=f"{brand.mark} Journey", definition={
        "entry": {"kind": "event", "event": "order_paid"}, "nodes": [{"id": "bye", "kind": "exit"}]})
    brand.ids["journey_id"] = journey.pk


def _acquisition_costs(brand: Brand) -> None:
    """An acquisition cost whose code state and note carry the brand's marker (shown on the costs page)."""
    from siyu.analytics import services as analytics

    analytics.record_cost(scope=brand.hq_scope, day=timezone.localdate(), code_state=f"{brand.mark}-ad"[:64],
                          amount_fen=12300, note=f"{brand.mark} ads")


def _campaigns(brand: Brand, buyer: Customer) -> None:
    """A draft marketing campaign with the brand's marker, to the shopper."""
    from siyu.messaging import services as messaging

    brand.ids["messaging_campaign_id"] = messaging.create_campaign(scope=brand.hq_scope, data=messaging.CampaignInput(
        name=f"{brand.mark} Push", audience_kind="list", customer_ids=[buyer.pk], channels=["sms"],
        content={"sms": f"{brand.mark}"})).pk


def build_brand(mark: str, code: str, phone_prefix: str) -> Brand:
    """`phone_prefix` is 7 digits; the brand's own numbers are it plus 0001..0009."""
    ent, people, store, other_store = _org(mark, code)
    brand = Brand(mark=mark, enterprise=ent, staff=people,
                  phones=[f"{phone_prefix}{n:04d}" for n in range(1, 10)], ids={})
    who = _customers(brand, store, other_store)
    tissue, pan = _catalog(brand, store)
    _promotions(brand, tissue, pan, who[0])
    _orders(brand, tissue, who[0], store)
    _referrals(brand, who[0])
    _journeys(brand)
    _acquisition_costs(brand)
    _campaigns(brand, who[0])
    _wecom(brand, who, store)
    _official_account(brand, who[0])
    _audiences(brand, store)
    _finance(brand, brand.ids["order_id"])
    _reconciliation(brand)
    _content(brand)
    _org_setup(brand)
    _exports(brand)
    for role in ROLES:
        _token, secret = create_api_token(staff=people[role], name=f"{mark} {role}")
        brand.tokens[role] = secret
    brand.ids.update(token_id=_token.pk, store_id=store.pk, staff_id=people["store_staff"].pk,
                     region_id=store.region_id)
    return brand


def leaks(text: str, other: Brand) -> list[str]:
    """What of `other` appears in a response body: its marker or one of its own phone numbers."""
    found = [other.mark] if other.mark in text else []
    return found + [phone for phone in other.phones if phone in text]


MODELS_WITH_ROWS = (Customer, Tag, TagGroup, Order, AfterSale, PlatformImport, Presale, CouponTemplate, FullReduction,
                    FlashSale, GroupBuy, ChannelAccount)
