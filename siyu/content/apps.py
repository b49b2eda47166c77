from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "siyu.content"
    label = "content"
    verbose_name = "Content"

    def ready(self) -> None:
        from siyu.channels.wecom.attachment_sources import register_attachment_source
        from siyu.content import links, queries, tasks, wecom_attachments
        from siyu.core.periodic import register_periodic
        from siyu.orders import hooks
        from siyu.storefront import product_sections

        register_periodic("content.run_due_moments", tasks.run_due_moments, every_s=60)
        register_periodic("content.refresh_moments_engagement", tasks.refresh_moments_engagement, every_s=1800)
        hooks.register_paid("content.conversions", links.credit_conversions)
        register_attachment_source("material", wecom_attachments.MaterialSource())
        product_sections.register("content.reviews", product_sections.Section(
            template="content/mall/_reviews.html",
            context=lambda enterprise_id, product_id: queries.product_reviews(enterprise_id=enterprise_id,
                                                                              product_id=product_id)))
