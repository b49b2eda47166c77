from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "siyu.audiences"
    label = "audiences"
    verbose_name = "Audiences"

    def ready(self) -> None:
        from siyu.audiences import copy_tables, events  # noqa: F401  (registers event types and copy tables)

        copy_tables.install()

        from siyu.analytics.engine.loop import register_after_refresh
        from siyu.audiences import membership, rfm, tag_rules

        register_after_refresh("audiences.membership", membership.after_refresh)
        register_after_refresh("audiences.rfm", rfm.after_refresh)
        register_after_refresh("audiences.tag_rules", tag_rules.after_refresh)

        from siyu.audiences.views import profile_scores
        from siyu.customers.sections import register_profile_section

        register_profile_section("audiences", profile_scores)

        from siyu.audiences.queries import segment_choices, segment_member_ids, segment_name
        from siyu.customers.queries import register_segment_members

        register_segment_members(segment_member_ids, segment_choices, segment_name)
