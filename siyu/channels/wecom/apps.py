from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "siyu.channels.wecom"
    label = "wecom"
    verbose_name = "WeCom"

    def ready(self) -> None:
        from siyu.channels.wecom import events, group_inheritance, group_welcome, keyword_groups, seed, tags

        events.install()
        seed.install()
        tags.install()  # Siyu's tag renames and deletions reach the linked WeCom corp tags
        assert group_inheritance.REASONS  # its outbox hooks are registered on import
        assert group_welcome.TEMPLATES_PER_CORP  # so are the group welcome templates'
        keyword_groups.install()  # the OA answers keyword groups' words and refuses keyword replies over them

        from siyu.channels.wecom import tasks
        from siyu.core.periodic import register_periodic

        register_periodic("wecom.housekeeping", tasks.wecom_housekeeping, every_s=60, args=(False,))

        from siyu.channels.wecom.queries import code_names
        from siyu.customers.sections import register_namer

        register_namer("source", lambda scope, states: code_names(scope.enterprise_id, states))
