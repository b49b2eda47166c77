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
    # Campaigns and journeys (the campaigns dashboard): campaigns, their deliveries and attributed conversions,
    # journeys, enrollments and the steps each enrollment went through.
    register_table(TableSpec(
        "campaigns", "messaging.Campaign",
        (Col("id", "BIGINT", nullable=False), Col("enterprise_id", "BIGINT", nullable=False), Col("name", "VARCHAR"),
         Col("cost_fen", "BIGINT")),
        customer=None,
    ))
    register_table(TableSpec(
        "deliveries", "messaging.Delivery",
        (Col("id", "BIGINT", nullable=False), Col("enterprise_id", "BIGINT", nullable=False),
         Col("campaign_id", "BIGINT", nullable=False), Col("customer_id", "BIGINT", nullable=False),
         Col("channel", "VARCHAR"), Col("variant", "VARCHAR"), Col("status", "VARCHAR"), Col("staff_id", "BIGINT"),
         Col("created_at", "TIMESTAMP"), Col("sent_at", "TIMESTAMP"), Col("delivered_at", "TIMESTAMP")),
    ))
    register_table(TableSpec(
        "campaign_conversions", "messaging.Conversion",
        (Col("id", "BIGINT", nullable=False), Col("delivery_id", "BIGINT", nullable=False),
         Col("campaign_id", "BIGINT", nullable=False), Col("touch", "VARCHAR"), Col("revenue_fen", "BIGINT"),
         Col("paid_at", "TIMESTAMP")),
        customer=None, parent=("deliveries", "delivery_id"),
    ))
    register_table(TableSpec(
        "journeys", "automation.Journey",
        (Col("id", "BIGINT", nullable=False), Col("enterprise_id", "BIGINT", nullable=False), Col("name", "VARCHAR")),
        customer=None,
    ))
    register_table(TableSpec(
        "enrollments", "automation.Enrollment",
        (Col("id", "BIGINT", nullable=False), Col("journey_id", "BIGINT", nullable=False),
         Col("customer_id", "BIGINT", nullable=False), Col("entered_at", "TIMESTAMP")),
    ))
    register_table(TableSpec(
        "journey_steps", "automation.Step",
        (Col("id", "BIGINT", nullable=False), Col("enrollment_id", "BIGINT", nullable=False),
         Col("node", "VARCHAR"), Col("at", "TIMESTAMP")),
        customer=None, parent=("enrollments", "enrollment_id"), capture_deletes=False,
    ))
