"""The audit log's text search reads the summary as each console language renders it: a column for those renderings,
filled for the rows written since summaries became messages (older rows have only their English, which stays searched).
"""

from typing import Any

from django.db import migrations, models

BATCH = 2000


def fill(apps: Any, schema_editor: Any) -> None:
    from siyu.core.audit import search_text

    entries = apps.get_model("core", "AuditEntry")
    rows = entries.objects.using(schema_editor.connection.alias).exclude(message="").order_by("pk")
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).only("pk", "message", "message_plural", "params")[:BATCH])
        if not batch:
            return
        for row in batch:
            row.search_text = search_text(row.message, row.message_plural,
                                          row.params if isinstance(row.params, dict) else {})
        entries.objects.using(schema_editor.connection.alias).bulk_update(batch, ["search_text"])
        last = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_audit_entry_message"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="search_text",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
