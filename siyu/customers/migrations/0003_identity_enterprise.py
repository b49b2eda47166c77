"""Identities carry their customer's enterprise: added nullable and filled from the customer in one set-based UPDATE
(the same statement on SQLite and PostgreSQL); 0004 then makes it required and unique per enterprise. Two migrations
because PostgreSQL refuses to ALTER a table with pending deferred foreign-key checks from an UPDATE in the same
transaction."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_enterprise(apps: Any, schema_editor: Any) -> None:
    identity = apps.get_model("customers", "Identity")
    customer = apps.get_model("customers", "Customer")
    owner = customer.objects.filter(pk=OuterRef("customer_id")).values("enterprise_id")[:1]
    identity.objects.using(schema_editor.connection.alias).filter(enterprise__isnull=True).update(
        enterprise_id=Subquery(owner)
    )


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0002_event_composite_indexes_only"),
        ("org", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="identity",
            name="enterprise",
            field=models.ForeignKey(
                db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="org.enterprise",
            ),
        ),
        migrations.RunPython(fill_enterprise, migrations.RunPython.noop, elidable=False),
    ]
