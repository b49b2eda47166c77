"""Tables the dashboards read beyond the engine's own: referral participants and invitations (the AARRR funnel's
"referred" step: a customer who brought a counted invitee). Registered by label, so the engine imports no app."""

from __future__ import annotations

from siyu.analytics.engine.tables import Col, TableSpec, register_table


def install() -> None:
    register_table(TableSpec(
        "referral_participants", "referrals.Participant",
        (Col("id", "BIGINT", nullable=False), Col("campaign_id", "BIGINT", nullable=False),
         Col("customer_id", "BIGINT", nullable=False), Col("joined_at", "TIMESTAMP")),
    ))
    register_table(TableSpec(
        "referral_invitations", "referrals.Invitation",
        (Col("id", "BIGINT", nullable=False), Col("campaign_id", "BIGINT", nullable=False),
         Col("inviter_id", "BIGINT", nullable=False), Col("invitee_id", "BIGINT", nullable=False),
         Col("status", "VARCHAR"), Col("occurred_at", "TIMESTAMP")),
        customer="invitee_id",
    ))
    # Products' names and roles (the products dashboard's tables and role matrix).
    register_table(TableSpec(
        "products", "catalog.Product",
        (Col("id", "BIGINT", nullable=False), Col("enterprise_id", "BIGINT", nullable=False),
         Col("name", "VARCHAR"), Col("role", "VARCHAR")),
        customer=None,
    ))
    # Staff tasks (the supervision dashboard: execution by region, store and staff).
    register_table(TableSpec(
        "staff_tasks", "automation.StaffTask",
        (Col("id", "BIGINT", nullable=False), Col("enterprise_id", "BIGINT", nullable=False),
         Col("staff_id", "BIGINT", nullable=False), Col("store_id", "BIGINT"),
         Col("customer_id", "BIGINT", nullable=False), Col("status", "VARCHAR"), Col("due_at", "TIMESTAMP"),
         Col("created_at", "TIMESTAMP"), Col("done_at", "TIMESTAMP")),
    ))
