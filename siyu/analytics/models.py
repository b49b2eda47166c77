"""The analytics engine's own rows in the OLTP database: the change log its capture triggers write."""

from __future__ import annotations

from django.db import models


class Change(models.Model):
    """One UPDATE or DELETE of a row in a table the columnar copy mirrors, written by a database trigger the engine
    installs (siyu/analytics/engine/capture.py). Inserts need no row here: they are read by id watermark. Only the
    engine's process reads and prunes this table."""

    id = models.BigAutoField(primary_key=True)
    tbl = models.CharField(max_length=64)
    row_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.tbl}#{self.row_id}"
