"""Tenancy for the audit log: each entry names its enterprise (a plain column: the kernel does not import org).

Existing rows are attributed where that can be known: the acting user's staff record names the enterprise; what is left
(system actions) belongs to the only enterprise when there is exactly one. Anything still unknown stays NULL, which
no enterprise's audit page shows."""

from typing import Any

from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_enterprise(apps: Any, schema_editor: Any) -> None:
    alias = schema_editor.connection.alias
    entry = apps.get_model("core", "AuditEntry")
    staff = apps.get_model("org", "Staff")
    enterprise = apps.get_model("org", "Enterprise")
    acting = staff.objects.filter(user_id=OuterRef("actor_id")).values("enterprise_id")[:1]
    entry.objects.using(alias).filter(enterprise_id__isnull=True, actor__isnull=False).update(
        enterprise_id=Subquery(acting)
    )
    only = list(enterprise.objects.using(alias).values_list("id", flat=True)[:2])
    if len(only) == 1:
        entry.objects.using(alias).filter(enterprise_id__isnull=True).update(enterprise_id=only[0])


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        ("org", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="enterprise_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["enterprise_id", "-created_at"], name="audit_enterprise_created"),
        ),
        migrations.RunPython(fill_enterprise, migrations.RunPython.noop, elidable=False),
    ]
