"""The audiences' tables in the analytics copy: segment membership (for "member of a static segment" and the diffs
of dynamic membership) and per-customer scores (RFM cell, scores, lifecycle stage)."""

from __future__ import annotations

from siyu.analytics.engine.tables import Col, TableSpec, register_table


def install() -> None:
    register_table(TableSpec(
        "segment_members", "audiences.SegmentMembership",
        (Col("id", "BIGINT", nullable=False), Col("segment_id", "BIGINT", nullable=False),
         Col("customer_id", "BIGINT", nullable=False), Col("entered_at", "TIMESTAMP"), Col("left_at", "TIMESTAMP")),
    ))
    register_table(TableSpec(
        "customer_scores", "audiences.CustomerScore",
        (Col("id", "BIGINT", nullable=False), Col("customer_id", "BIGINT", nullable=False),
         Col("enterprise_id", "BIGINT"), Col("recency_days", "BIGINT"), Col("frequency", "BIGINT"),
         Col("monetary_fen", "BIGINT"), Col("r", "BIGINT"), Col("f", "BIGINT"), Col("m", "BIGINT"),
         Col("cell", "VARCHAR"), Col("stage", "VARCHAR"), Col("stage_since", "TIMESTAMP"),
         Col("super_score", "DOUBLE")),
    ))
