"""One enterprise with one of everything the API and the console can name, for the permission matrix.

Every object a path parameter names sits in store n1 (Beijing 1, region north) and belongs to n1_staff where it has a
staff owner, so each role's outcome is decided by its role, not by its data scope: HQ, the north region manager, the
n1 store manager and n1 store staff can all *see* these objects. A second enterprise exists only to hold a
token and a console user of another brand. The platforms' base URLs point at a closed loopback port, so a call that
would reach WeCom or the Official Account fails at once instead of leaving the machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import time as dt_time
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from siyu.catalog.models import Bundle, Category, Product, Sku
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account import services as oa
from siyu.channels.official_account.models import FollowerSync, KeywordReply, QrScene
from siyu.channels.wecom import mass_sends, moments
from siyu.channels.wecom.models import (
    ChannelCode,
    CustomerGroup,
    GroupCode,
    GroupCodeSlot,
    GroupRoute,
    GroupSop,
    GroupSopRun,
    GroupTag,
    GroupTransfer,
    GroupWelcome,
    KeywordGroup,
    MassSend,
    MomentTask,
    SyncJob,
    SyncRun,
    TransferJob,
)
from siyu.core.money import Money
from siyu.customers import member_import
from siyu.customers import queries as customer_queries
from siyu.customers import services as customers
from siyu.customers.models import Customer, Tag, TagGroup
from siyu.exports import services as exports
from siyu.orders.models import AfterSale, Order, PlatformImport, Presale, StorefrontSession
from siyu.orders.services import after_sale, history_job, presale, states
from siyu.orders.services.imports import create_platform_import
from siyu.org.models import ApiToken, Enterprise, Role, Staff
from siyu.org.scope import Scope, scope_for_staff
from siyu.org.services import create_api_token
from siyu.promotions import services as promotions
from siyu.promotions.models import CouponTemplate, FlashSale, FullReduction, GroupBuy
from siyu.storefront.services import cart, checkout, design
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import EnterpriseFactory, RegionFactory, StaffFactory, StoreFactory, UserFactory

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a call is refused at once
WECOM_CORP = "wwmatrixcorp0001"
OA_APP = "wxmatrixoa000001"
MP_APP = "wxmatrixmall0001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ADDRESS = {"name": "张三", "phone": "13800138000", "detail": "上海市静安区南京西路1号"}
SHOPPER_TOKEN = "sf_matrix-shopper-token-0001"
IMPORT_CSV = (
    "订单编号,买家ID,联系手机,宝贝标题,商家编码,宝贝总数量,买家实际支付金额,订单状态,订单创建时间,订单付款时间\n"
    "T1001,tb_buyer_a,13900000001,抽纸,TISSUE-6,1,19.90,交易成功,2026-11-01 10:00:00,2026-11-01 10:01:00\n"
)

ORG_CSV = "type,code,name,region_code,city\nregion,east,华东,,\nstore,sh1,上海一店,east,上海\n"


@dataclass
class World:
    org: Org
    hq: Scope
    other_hq: Staff
    other_user: User
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=lambda: {"config_id": "cfg-matrix-1", "invitation_kind": "teams",
                                                                    "group_config_id": "gcfg-matrix-1"})

    def __getitem__(self, name: str) -> int:
        return self.ids[name]

    def in_path(self, name: str) -> str:
        return self.words[name] if name in self.words else str(self.ids[name])


def _other_enterprise() -> tuple[Staff, User]:
    other = EnterpriseFactory.create(name="别家品牌", code="other-brand")
    region = RegionFactory.create(enterprise=other, name="East", code="east")
    StoreFactory.create(region=region, name="Hangzhou 1", code="hz1")
    user = UserFactory.create(username="other_hq")
    staff = StaffFactory.create(enterprise=other, name="other_hq", wecom_userid="other_hq", role=Role.HQ_ADMIN,
                                user=user)
    return staff, user


def _channels(world: World) -> None:
    org, hq = world.org, world.hq
    ent = org.enterprise.pk
    wecom_account = channel_services.ensure_account(
        enterprise_id=ent, kind=AccountKind.WECOM, name="Matrix WeCom", app_id=WECOM_CORP, agent_id="1000002",
        secret="s", token="matrixToken", encoding_aes_key=AES_KEY, base_url=CLOSED)
    oa_account = oa.connect_account(enterprise_id=ent, name="Matrix OA", app_id=OA_APP, secret="s",
                                    token="matrixToken", encoding_aes_key=AES_KEY, base_url=CLOSED)
    mall = ChannelAccount(enterprise_id=ent, kind=AccountKind.MINIPROGRAM, name="商城", app_id=MP_APP,
                          callback_token="t", base_url=CLOSED)
    mall.secret = "s"
    mall.save()
    world.ids.update(wecom_account=wecom_account.pk, oa_account=oa_account.pk)

    code = ChannelCode.objects.create(enterprise_id=ent, account=wecom_account, name="门店海报", state="poster1",
                                      store=org.store_n1, config_id="cfg-matrix-1", status="active")
    world.ids["code"] = code.pk
    world.ids["sync_run"] = SyncRun.objects.create(account=wecom_account).pk
    world.ids["sync_job"] = SyncJob.objects.create(account=wecom_account, kind="groups", status="done").pk
    world.ids["group"] = CustomerGroup.objects.create(account=wecom_account, chat_id="wrmatrixchat1", name="北京一店群",
                                                      owner_userid=org.n1_staff.wecom_userid, owner=org.n1_staff).pk
    group_code = GroupCode.objects.create(enterprise_id=ent, account=wecom_account, name="快闪群码", state="flash1",
                                          store=org.store_n1, cap=150, config_id="gcfg-matrix-1", status="active")
    GroupCodeSlot.objects.create(code=group_code, group_id=world.ids["group"], sort=0)
    world.ids["group_code"] = group_code.pk
    world.ids["free_group"] = CustomerGroup.objects.create(
        account=wecom_account, chat_id="wrmatrixchat2", name="北京一店二群", owner_userid=org.n1_staff.wecom_userid,
        owner=org.n1_staff).pk
    world.ids["group_transfer"] = GroupTransfer.objects.create(
        enterprise_id=ent, account=wecom_account, handover=org.n1_staff, takeover=org.n1_manager).pk
    world.ids["transfer"] = TransferJob.objects.create(
        enterprise_id=ent, account=wecom_account, kind="in_service", handover=org.n1_staff,
        takeover=org.n1_manager).pk
    mass = mass_sends.create_mass_send(scope=hq, account_id=wecom_account.pk, kind="single",
                                  sender_ids=[org.n1_staff.pk], customer_ids=[world["customer"]], text="新品到店")
    world.ids["mass_send"] = mass.pk
    # A tag-built group needs a code with a join link and a tagged customer whom a staff member follows.
    GroupCode.objects.filter(pk=group_code.pk).update(qr_code="https://wecom.example/qr/gcfg-matrix-1")
    customers.tag_customers(enterprise_id=ent, customer_ids=[world["customer"]], tag_ids=[world["tag"]])
    built = mass_sends.create_mass_send(scope=hq, account_id=wecom_account.pk, kind="single",
                                        sender_ids=[org.n1_staff.pk], customer_ids=[world["customer"]],
                                        text="邀请入群", group_code_id=group_code.pk)
    world.ids["tag_built"] = built.pk
    moment = moments.create_moment_task(scope=hq, account_id=wecom_account.pk, text="周末特惠",
                                      staff_ids=[org.n1_staff.pk])
    world.ids["moment"] = moment.pk
    assert MassSend.objects.filter(pk=mass.pk).exists() and MomentTask.objects.filter(pk=moment.pk).exists()

    world.ids["keyword"] = KeywordReply.objects.create(account=oa_account, keyword="会员", content="欢迎").pk
    keyword_group = KeywordGroup.objects.create(enterprise_id=ent, oa_account=oa_account, keyword="进群")
    GroupRoute.objects.create(keyword_group=keyword_group, group_code_id=world.ids["group_code"])
    world.ids["keyword_group"] = keyword_group.pk
    world.ids["group_welcome"] = GroupWelcome.objects.create(
        enterprise_id=ent, account=wecom_account, name="快闪群欢迎语", text="欢迎 %NICKNAME%", status="active",
        template_id="msgmatrix1").pk
    world.ids["group_tag"] = GroupTag.objects.create(enterprise_id=ent, name="快闪群").pk
    sop_tag = GroupTag.objects.create(enterprise_id=ent, name="早安群")  # the deletable tag is another one
    sop = GroupSop.objects.create(enterprise_id=ent, account=wecom_account, name="早安", group_tag=sop_tag,
                                  text="早安", time_of_day=dt_time(9, 0), start_date=timezone.localdate())
    world.ids["group_sop"] = sop.pk
    world.ids["group_sop_run"] = GroupSopRun.objects.create(
        sop=sop, key="group_sop:matrix", occurrence=timezone.now(), status="done",
        group_ids=[world.ids["group"]], owner_ids=[org.n1_staff.pk]).pk
    world.ids["qr_scene"] = QrScene.objects.create(account=oa_account, name="门店台卡", scene="desk1",
                                                   permanent=True).pk
    world.ids["follower_sync"] = FollowerSync.objects.create(account=oa_account).pk


def _catalog(world: World) -> None:
    hq = world.hq
    category = leaf(hq, "日用消耗", "纸品清洁")
    tissue = product(hq, "抽纸", sku("TISSUE-6", 1990, stock=50, 规格="6包"), category=category)
    pan = product(hq, "不粘锅", sku("PAN-28", 29900, stock=50), category=leaf(hq, "家居耐用", "厨具"))
    empty = Category.objects.create(enterprise_id=hq.enterprise_id, name="空分类")
    world.ids.update(category=category.pk, empty_category=empty.pk, product=tissue.pk, product2=pan.pk,
                     sku=Sku.objects.get(product=tissue).pk, sku2=Sku.objects.get(product=pan).pk)
    from siyu.catalog import services as catalog

    bundle = catalog.create_bundle(scope=hq, data=catalog.BundleInput(
        name="居家组合", price=Money(29900), items=[catalog.BundleItemInput(sku_id=world["sku"], quantity=2),
                                                  catalog.BundleItemInput(sku_id=world["sku2"], quantity=1)]))
    world.ids["bundle"] = bundle.pk
    from siyu.loyalty import services as loyalty

    world.ids["reward"] = loyalty.save_reward(scope=hq, data=loyalty.RewardInput(
        kind="gift", name="积分换锅", points=100, sku_id=world["sku2"])).pk
    plan = loyalty.save_plan(scope=hq, data=loyalty.PlanInput(code="plus", name="PLUS 年卡", price_fen=29900,
                                                             period_days=365))
    world.ids["membership_plan"] = plan.pk
    assert Product.objects.count() >= 2 and Bundle.objects.filter(pk=bundle.pk).exists()


def design_document(world: World) -> dict[str, Any]:
    return {"schema": 1, "title": "首页", "components": [
        {"type": "product_grid", "source": "products", "product_ids": [world["product"]]},
        {"type": "coupon_strip", "template_ids": [world["template"]]}]}


def _promotions(world: World) -> None:
    hq, now = world.hq, timezone.now()
    template = promotions.create_coupon_template(scope=hq, data=promotions.CouponTemplateInput(
        name="满50减10", kind="threshold", amount_off=Money(1000), threshold=Money(5000), valid_days=7,
        per_customer_limit=5))
    reduction = promotions.create_full_reduction(scope=hq, data=promotions.FullReductionInput(
        name="满199减20", tiers=[(19900, 2000)], starts_at=now, ends_at=now + timedelta(days=7)))
    flash = promotions.create_flash_sale(scope=hq, data=promotions.FlashSaleInput(
        name="周末秒杀", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2),
        items=[promotions.FlashItemInput(sku_id=world["sku2"], flash_price=Money(19900), flash_stock=5)]))
    group_buy = promotions.create_group_buy(scope=hq, data=promotions.GroupBuyInput(
        name="两人团", sku_id=world["sku2"], group_price=Money(25900), starts_at=now,
        ends_at=now + timedelta(days=7)))
    promotions.set_shipping_policy(scope=hq, free_over=Money(9900), fee=Money(1000))
    manager = scope_for_staff(world.org.n1_manager)  # a batch is seen by HQ and by the manager who started it
    batch = promotions.start_coupon_batch(
        scope=manager, template_id=template.pk, batch_key="world", actor=world.org.n1_manager.user,
        targets=promotions.BatchTargets(source="tags", label="", params={},
                                        customers=customer_queries.customers(manager)))
    world.ids.update(template=template.pk, reduction=reduction.pk, flash_sale=flash.pk, group_buy=group_buy.pk,
                     coupon_batch=batch.pk)
    assert CouponTemplate.objects.filter(pk=template.pk).exists()
    assert FullReduction.objects.filter(pk=reduction.pk).exists() and FlashSale.objects.filter(pk=flash.pk).exists()
    assert GroupBuy.objects.filter(pk=group_buy.pk).exists()
    # store design: HQ's home page, published once, with a draft (publish and rollback then have something to do)
    page = design.open_page(scope=hq, store_id=None)
    design.save_draft(scope=hq, page_id=page.pk, document=design_document(world))
    design.publish(scope=hq, page_id=page.pk)
    world.ids["store_page"] = page.pk


def _orders(world: World) -> None:
    """Orders in each state an admin or shopper action starts from, all the shopper's, all in store n1."""
    org, hq, ent, customer = world.org, world.hq, world.org.enterprise.pk, world["customer"]
    now = timezone.now()

    def place(**kw: object) -> Order:
        data = checkout.CheckoutInput(lines=[cart.LineInput(quantity=1, sku_id=world["sku"])],
                                    store_id=org.store_n1.pk, address=ADDRESS, **kw)  # type: ignore[arg-type]
        return checkout.place_order(enterprise_id=ent, customer_id=customer, data=data)

    def paid(**kw: object) -> Order:
        order = place(**kw)
        return states.mark_paid(order_id=order.pk, paid_at=timezone.now(), payment_ref=f"pay-{order.pk}")

    world.ids["order_unpaid"] = place().pk
    world.ids["order_paid"] = paid().pk
    world.ids["order_pickup"] = paid(fulfillment="pickup").pk
    shipped = paid()
    states.ship_order(scope=hq, order_id=shipped.pk, carrier="SF", tracking_no="SF1")
    world.ids["order_shipped"] = shipped.pk
    requested = paid()
    world.ids["after_sale"] = after_sale.request_refund(enterprise_id=ent, customer_id=customer, order_id=requested.pk,
                                                    kind="refund_only", reason="不想要了").pk
    approved = paid()
    sale = after_sale.request_refund(enterprise_id=ent, customer_id=customer, order_id=approved.pk, kind="refund_only")
    after_sale.approve_refund(scope=hq, after_sale_id=sale.pk)
    world.ids["after_sale_approved"] = sale.pk
    returning = paid()
    states.ship_order(scope=hq, order_id=returning.pk, carrier="SF", tracking_no="SF3")
    back = after_sale.request_refund(enterprise_id=ent, customer_id=customer, order_id=returning.pk,
                                     kind="return_refund")
    after_sale.approve_refund(scope=hq, after_sale_id=back.pk)
    world.ids["return_approved"] = back.pk
    world.ids["presale"] = presale.create_presale(scope=hq, data=presale.PresaleInput(
        name="年货预售", sku_id=world["sku2"], price_fen=29900, deposit_fen=5000, deposit_starts_at=now,
        deposit_ends_at=now + timedelta(days=3), balance_starts_at=now + timedelta(days=4),
        balance_ends_at=now + timedelta(days=6))).pk
    world.ids["member_import"] = member_import.upload_member_file(
        scope=hq, stream="手机号,姓名,门店编码\n13900009999,矩阵会员,bj1\n".encode(), filename="members.csv").pk
    world.ids["history_import"] = history_job.upload_history_file(
        scope=hq, stream="门店编码,小票号,交易时间,会员手机号,实收金额\nbj1,900001,2026-03-01 10:00,13900009999,9.90\n"
        .encode(), filename="pos.csv").pk
    world.ids["order_import"] = create_platform_import(scope=hq, platform="tmall", content=IMPORT_CSV.encode(),
                                                       filename="tmall.csv", enqueue=False).pk
    StorefrontSession.objects.create(
        enterprise_id=ent, customer_id=customer, app_id=MP_APP, openid="o_matrix_shopper",
        token_hash=hashlib.sha256(SHOPPER_TOKEN.encode()).hexdigest(), created_at=now,
        expires_at=now + timedelta(days=1))
    world.ids["cart_item"] = cart.add_to_cart(enterprise_id=ent, customer_id=customer,
                                                line=cart.LineInput(quantity=1, sku_id=world["sku"])).pk
    from siyu.loyalty import services as loyalty

    world.ids["membership_purchase"] = loyalty.buy_membership(  # unpaid: a refund of it is 409 for HQ
        enterprise_id=ent, customer_id=customer, plan_id=world["membership_plan"], key="matrix").pk
    assert AfterSale.objects.count() == 3 and Presale.objects.count() == 1 and PlatformImport.objects.count() == 1


def _referrals(world: World) -> None:
    """A running task fission campaign the shopper has joined (their share token names the public pages)."""
    from siyu.referrals import services as referrals

    now = timezone.now()
    campaign = referrals.save_campaign(scope=world.hq, data=referrals.CampaignInput(
        kind="task", name="矩阵任务宝", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30),
        reward_points=100, target_count=3, window_days=7))
    joined = referrals.join_campaign(enterprise_id=world.org.enterprise.pk, campaign_id=campaign.pk,
                                     customer_id=world["customer"])
    world.ids["referral_campaign"] = campaign.pk
    world.words["referral_token"] = joined.token
    assist = referrals.save_campaign(scope=world.hq, data=referrals.CampaignInput(
        kind="assist", name="矩阵助力", conversion="help", starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        reward_points=50, target_count=3, window_hours=24))
    started = referrals.join_campaign(enterprise_id=world.org.enterprise.pk, campaign_id=assist.pk,
                                      customer_id=world["customer"])
    world.words["assist_token"] = started.token


def _journeys(world: World) -> None:
    """A draft journey (HQ's) and a staff task about the customer for n1's staff (a journey action made it)."""
    from siyu.automation import services as automation

    journey = automation.create_journey(scope=world.hq, name="矩阵旅程", definition={
        "entry": {"kind": "event", "event": "wecom_contact_added"},
        "nodes": [{"id": "hello", "kind": "action", "action": "create_task", "title": "打个招呼"}]})
    now = timezone.now()
    automation.create_task(enterprise_id=world.org.enterprise.pk, customer_id=world["customer"], title="打个招呼",
                           key="matrix-task", due_at=now + timedelta(days=1), now=now)
    from siyu.automation.queries import tasks

    world.ids["journey"] = journey.pk
    world.ids["staff_task"] = tasks(world.hq).get().pk


def _campaigns(world: World) -> None:
    """An HQ draft campaign (SMS to the world's customer): store roles do not see HQ's campaigns."""
    from siyu.messaging import services as messaging

    world.ids["messaging_campaign"] = messaging.create_campaign(scope=world.hq, data=messaging.CampaignInput(
        name="矩阵营销", audience_kind="list", customer_ids=[world["customer"]], channels=["sms"],
        content={"sms": "您好"})).pk
    # the customer is on the do-not-disturb list, so taking them off it is a real removal for HQ
    messaging.add_do_not_disturb(scope=world.hq, customer_id=world["customer"], reason="矩阵")
    _campaign_link(world)


def _campaign_link(world: World) -> None:
    """A sent delivery's tracked link (public: whoever holds the token is sent on to the campaign's URL)."""
    from siyu.messaging.models import CampaignLink, Delivery

    now = timezone.now()
    campaign_id, customer_id = world.ids["messaging_campaign"], world["customer"]
    delivery = Delivery.objects.create(campaign_id=campaign_id, enterprise=world.org.enterprise,
                                       customer_id=customer_id, key=f"campaign:{campaign_id}:customer:{customer_id}",
                                       channel="sms", status="sent", due_at=now, sent_at=now, created_at=now)
    link = CampaignLink.objects.create(enterprise=world.org.enterprise, campaign_id=campaign_id, delivery=delivery,
                                       position=0, url="https://brand.example.com/sale", token="MatrixLinkToken0",
                                       created_at=now)
    world.words["campaign_link"] = link.token


def _audiences(world: World) -> None:
    """A dynamic and a static segment of store n1 (so n1's managers may change them and its staff read them)."""
    from siyu.audiences import services as audiences

    store = world.org.store_n1.pk
    rule = {"version": 1, "root": {"type": "home_store", "store_ids": [store]}}
    world.ids["segment"] = audiences.create_segment(scope=world.hq, name="一店顾客", rule=rule, store_id=store).pk
    world.ids["static_segment"] = audiences.create_segment(
        scope=world.hq, name="一店名单", rule=rule, kind="static", store_id=store,
        members=[world["customer"], world["customer2"]]).pk
    from siyu.audiences import tag_rules

    world.ids["tag_rule"] = tag_rules.create_tag_rule(scope=world.hq, tag_id=world["spare_tag"], kind="event",
                                                      event_name="check_in", expire_days=30).pk


def _finance(world: World) -> None:
    """One posted payment, to read and to reverse; one commission rule."""
    from siyu.finance import commissions, ledger

    world.ids["commission_rule_id"] = commissions.create_rule(scope=world.hq, data=commissions.RuleInput(
        name="利润款 3%", target="role", basis="percent", rate_bp=300, product_role="profit",
        valid_from=timezone.localdate())).pk

    fact = ledger.Fact(enterprise_id=world.org.enterprise.pk, currency="CNY", order_id=world["order_paid"],
                       store_id=world.org.store_n1.pk)
    entry = ledger.post_payment(fact, key="payment:matrix-1", amount_fen=1990, at=timezone.now())
    assert entry is not None
    world.ids["journal_entry"] = entry.pk
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from siyu.finance.models import Payment, PayMerchant

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant = PayMerchant(enterprise=world.org.enterprise, name="直营", mch_id="1900000999", app_id=MP_APP,
                           merchant_serial_no="MATRIX", platform_key_id="PUB_KEY_ID_0001", base_url=CLOSED,
                           platform_public_key=key.public_key().public_bytes(
                               serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    merchant.private_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
    merchant.apiv3_key = "m" * 32
    merchant.save()
    world.words["mch_id"] = merchant.mch_id
    world.ids["pay_merchant"] = merchant.pk
    world.ids["payment"] = Payment.objects.create(
        enterprise=world.org.enterprise, merchant=merchant, order_id=world["order_paid"], out_trade_no="MATRIXPAY01",
        amount_fen=1990, openid="o_matrix", status="prepaid").pk


def _reconciliation(world: World) -> None:
    """A reconciled day of the world's merchant with one open difference (the day is not yesterday, so running
    yesterday from the matrix claims a day of its own)."""
    from datetime import timedelta

    from siyu.core.timeutil import local_day
    from siyu.finance.models import PayMerchant, ReconciliationDifference, ReconciliationRun

    merchant = PayMerchant.objects.get(mch_id=world.words["mch_id"])
    run = ReconciliationRun.objects.create(enterprise=world.org.enterprise, merchant=merchant, status="done",
                                           bill_date=local_day(timezone.now()) - timedelta(days=10), generation=1,
                                           missing_ours_count=1)
    diff = ReconciliationDifference.objects.create(enterprise=world.org.enterprise, run=run, generation=1,
                                                   kind="missing_ours", subject="P", out_trade_no="MATRIXBILL01",
                                                   bill_fen=990, bill_currency="CNY", bill_status="SUCCESS")
    world.ids.update(pay_merchant=merchant.pk, recon_run=run.pk, recon_diff=diff.pk)
    world.words["yesterday"] = (local_day(timezone.now()) - timedelta(days=1)).isoformat()


def _content(world: World) -> None:
    """A text material, an image material (with its stored file) and a script that uses the image."""
    import io

    from PIL import Image

    from siyu.content import services as content

    hq = world.hq
    text = content.create_material(scope=hq, data=content.MaterialInput(kind="text", title="开场白",
                                                                       text="{customer_name} 您好"))
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture, "PNG")
    size = picture.tell()
    picture.seek(0)
    image = content.create_material(scope=hq, data=content.MaterialInput(kind="image", title="新品海报"),
                                    upload=content.Upload(stream=picture, name="poster.png", size=size))
    script = content.create_script(scope=hq, data=content.ScriptInput(
        title="欢迎", scenario="greeting", material_id=image.pk,
        steps=[content.StepInput(step="hook", text="{customer_name} 您好，我是{staff_name}")]))
    plan = content.plan_moment(scope=hq, planned_at=timezone.now() + timedelta(days=1), text="周末上新",
                               store_id=world.org.store_n1.pk)
    avatar = io.BytesIO()
    Image.new("RGB", (60, 60), (200, 200, 30)).save(avatar, "PNG")
    avatar_size = avatar.tell()
    avatar.seek(0)
    content.save_persona(scope=hq, staff_id=world.org.n1_staff.pk, nickname="小美", signature="您的护肤顾问",
                         persona_type="expert", avatar=content.Upload(stream=avatar, name="a.png", size=avatar_size))
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 200, 30)).save(photo, "PNG")
    photo_size = photo.tell()
    photo.seek(0)
    submission = content.submit_ugc(enterprise_id=hq.enterprise_id, customer_id=world["customer"], kind="photo",
                                    text="很好用", upload=content.Upload(stream=photo, name="p.png", size=photo_size))
    world.ids.update(material=text.pk, image_material=image.pk, script=script.pk, moment_plan=plan.pk,
                     submission=submission.pk)


def _org_setup(world: World) -> None:
    """An organisation sheet checked but not applied, and a WeCom department seen by an address-book sync."""
    from siyu.org import sheets
    from siyu.org.models import DepartmentLink

    sheet = sheets.preview_sheet(scope=world.hq, filename="org.csv", content=ORG_CSV.encode())
    link = DepartmentLink.objects.create(enterprise=world.org.enterprise, account_id=world["wecom_account"],
                                         department_id=21, parent_id=1, name="北京一店")
    world.ids.update(org_sheet=sheet.pk, department=link.pk)


def _finished_export(scope: Scope, user: Any) -> int:
    """An export HQ asked for, written (the worker's step run here), so its download is there to be refused."""
    job = exports.start_export(scope=scope, actor=user, kind="customers", file_format="csv", filters={})
    exports.run_export(job_id=job.pk)
    return job.pk


def build_world(org: Org) -> World:
    other_staff, other_user = _other_enterprise()
    world = World(org=org, hq=scope_for_staff(org.hq), other_hq=other_staff, other_user=other_user)
    ent = org.enterprise.pk
    group = customers.create_tag_group(enterprise_id=ent, name="兴趣")
    tag = customers.create_tag(group=group, name="烘焙")
    spare = customers.create_tag_group(enterprise_id=ent, name="待删除")
    spare_tag = customers.create_tag(group=spare, name="旧标签")
    customer = customers.create_customer(
        enterprise_id=ent, name="顾客甲", phone="13800000001", home_store_id=org.store_n1.pk, created_source="wecom",
        identities=[customers.IdentityInput(kind="wecom_external_userid", value="wm_matrix_a", account=WECOM_CORP)])
    # The same person as a record from the mall (no WeCom identity), so the merge rows merge without a conflict.
    second = customers.create_customer(enterprise_id=ent, name="顾客乙", phone="13800000002",
                                       home_store_id=org.store_n1.pk, created_source="miniprogram")
    for person in (customer, second):
        customers.add_relationship(customer=person, staff=org.n1_staff, added_at=timezone.now(), channel="wecom")
    world.ids.update(tag_group=group.pk, tag=tag.pk, spare_group=spare.pk, spare_tag=spare_tag.pk,
                     customer=customer.pk, customer2=second.pk, store=org.store_n1.pk, region=org.north.pk,
                     staff=org.n1_staff.pk, manager=org.n1_manager.pk)
    assert TagGroup.objects.count() == 2 and Tag.objects.count() == 2 and Customer.objects.count() == 2

    _catalog(world)
    _promotions(world)
    _channels(world)
    _orders(world)
    _referrals(world)
    _journeys(world)
    _campaigns(world)
    _audiences(world)
    _finance(world)
    _reconciliation(world)
    _content(world)
    _org_setup(world)
    world.ids["export"] = _finished_export(world.hq, org.hq.user)

    for name, staff in (("hq", org.hq), ("region", org.north_manager), ("store_mgr", org.n1_manager),
                        ("staff", org.n1_staff), ("other", other_staff)):
        _token, secret = create_api_token(staff=staff, name=f"matrix {name}")
        world.tokens[name] = secret
    world.ids["token"] = ApiToken.objects.filter(staff=org.n1_staff).get().pk
    assert Enterprise.objects.count() == 2 and Staff.objects.filter(enterprise_id=ent).count() == 6
    return world
