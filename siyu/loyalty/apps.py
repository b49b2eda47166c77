from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "siyu.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty"

    def ready(self) -> None:
        from siyu.content.services import register_ugc_reward
        from siyu.content.sidebar import register_panel
        from siyu.core.periodic import register_periodic
        from siyu.customers.sections import register_profile_section
        from siyu.customers.services import register_merge_step
        from siyu.loyalty import demo, events, queries, services, tasks  # noqa: F401  (events registers its event types)
        from siyu.loyalty.views import profile_points
        from siyu.orders import hooks

        hooks.register_paid("loyalty.earn", services.earn_for_order)
        hooks.register_paid("loyalty.membership", services.activate_membership, virtual=services.MEMBERSHIP_ORDER_KIND)
        hooks.register_refunded("loyalty.reverse", services.reverse_for_refund)
        hooks.register_refunded("loyalty.membership", services.end_membership_for_refund)
        hooks.register_refunded("loyalty.checkout_return", services.return_for_refund)
        hooks.register_cancelled("loyalty.checkout_return", services.return_for_cancelled)
        hooks.register_checkout_points(
            "loyalty.checkout",
            lambda e, c, asked, now: queries.checkout_offer(enterprise_id=e, customer_id=c, requested=asked, now=now),
            lambda e, c, order_id, order_no, points, at: services.spend_at_checkout(
                enterprise_id=e, customer_id=c, order_id=order_id, order_no=order_no, points=points, at=at))
        hooks.register_checkout_member(
            "loyalty.membership",
            lambda e, c, now: queries.checkout_member_offer(enterprise_id=e, customer_id=c, now=now))
        register_merge_step("loyalty", services.merge_customer_points)
        demo.install()  # the demo's points, check-in, tiers and paid plan (a seed step, after finance's)
        register_ugc_reward("loyalty.points", services.reward_ugc)
        register_profile_section("points", profile_points)
        register_panel("points", lambda scope, customer_id: queries.points_summary(scope, customer_id, limit=5))
        register_panel("tier", lambda scope, customer_id: queries.tier_status(scope, customer_id, limit=0).tier)
        register_periodic("loyalty.unlock_points", tasks.unlock_points_task, every_s=600)
        register_periodic("loyalty.expire_points", tasks.expire_points_task, every_s=3600)
        register_periodic("loyalty.evaluate_tiers", tasks.evaluate_tiers_task, every_s=3600)
        register_periodic("loyalty.grant_interactions", tasks.grant_interactions_task, every_s=600)
        register_periodic("loyalty.expire_memberships", tasks.expire_memberships_task, every_s=600)
        register_periodic("loyalty.grant_member_coupons", tasks.grant_member_coupons_task, every_s=600)
