"""Tenancy: an identity is unique per (enterprise, kind, value) and an event's idempotency key per enterprise, so one
phone number may be a customer of two brands and one brand's key never collides with another's."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_identity_enterprise"),
        ("org", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="identity",
            name="enterprise",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="org.enterprise"
            ),
        ),
        migrations.AddConstraint(
            model_name="identity",
            constraint=models.UniqueConstraint(
                fields=("enterprise", "kind", "value"), name="uniq_identity_enterprise_kind_value"
            ),
        ),
        migrations.RemoveConstraint(model_name="identity", name="uniq_identity_kind_value"),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(fields=("enterprise", "idempotency_key"), name="uniq_event_enterprise_key"),
        ),
        migrations.AlterField(model_name="event", name="idempotency_key", field=models.CharField(max_length=128)),
    ]
