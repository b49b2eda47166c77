from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "siyu.promotions"
    label = "promotions"
    verbose_name = "Promotions"

    def ready(self) -> None:
        from siyu.catalog.services import DemoExtension, register_demo_extension
        from siyu.customers.services import register_merge_step
        from siyu.promotions import events  # noqa: F401  (registers coupon_* and group_buy_* event types)
        from siyu.promotions.services import demo_promotion_counts, merge_customer_promotions, seed_demo_promotions

        register_merge_step("promotions", merge_customer_promotions)
        from siyu.customers.sections import register_profile_section
        from siyu.promotions.views import profile_coupons

        register_profile_section("coupons", profile_coupons)
        # the promotions build on the demo catalog: coupon templates and full-reductions
        register_demo_extension("promotions", DemoExtension(seed=seed_demo_promotions, counts=demo_promotion_counts))

        from siyu.core.periodic import register_periodic
        from siyu.promotions import tasks

        register_periodic("promotions.expire_coupons", tasks.expire_coupons, every_s=300)
        register_periodic("promotions.requeue_lost_batches", tasks.requeue_lost_batches, every_s=60)
