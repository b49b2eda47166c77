from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "siyu.org"
    label = "org"

    def ready(self) -> None:
        from siyu.core.periodic import register_periodic
        from siyu.org import tasks

        register_periodic("org.purge_login_failures", tasks.purge_login_failures, every_s=600)
