"""The event log's store and staff indexes hold only the rows that have one (most events have neither).

The field change is made in the state only: on SQLite an AlterField of a foreign key remakes the whole table, which on
the biggest table of an install would copy every event. The database side drops the two full indexes by their
generated names (the same on SQLite and PostgreSQL) and creates the partial ones.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = ("customers_event_store_id_5e72c660", "customers_event_staff_id_2e32ff13")


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0008_consent_erasure"),
        ("org", "0003_org_admin"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="staff",
                    field=models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                            to="org.staff"),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="store",
                    field=models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                            to="org.store"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX {name} ON customers_event ({column})",
                )
                for name, column in zip(DROPPED, ("store_id", "staff_id"), strict=True)
            ],
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(condition=models.Q(("store__isnull", False)), fields=["store"],
                               name="event_store_partial"),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(condition=models.Q(("staff__isnull", False)), fields=["staff"],
                               name="event_staff_partial"),
        ),
    ]
