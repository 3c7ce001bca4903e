"""Engagement deliveries and activity

Revision ID: c8e1d1f2533c
Revises: 39f338737c54
Create Date: 2026-11-21 14:59:14.277173
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c8e1d1f2533c"
down_revision: str | None = "39f338737c54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("end_user_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("sender_id", sa.Uuid(), nullable=True),
        sa.Column("engagement_type", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_engagement_delivery_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_engagement_delivery_conversation_id_conversation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"],
            ["end_user.id"],
            name=op.f("fk_engagement_delivery_end_user_id_end_user"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_engagement_delivery_engagement_id_engagement"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_engagement_delivery_message_id_message"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_engagement_delivery_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["staff_user.id"],
            name=op.f("fk_engagement_delivery_sender_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_engagement_delivery_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_delivery")),
    )
    with op.batch_alter_table("engagement_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engagement_delivery_end_user", ["end_user_id", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_engagement_delivery_engagement", ["engagement_id", "end_user_id"], unique=False
        )

    op.create_table(
        "engagement_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("end_user_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=13), nullable=False),
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("engagement_type", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["engagement_delivery.id"],
            name=op.f("fk_engagement_activity_delivery_id_engagement_delivery"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"],
            ["end_user.id"],
            name=op.f("fk_engagement_activity_end_user_id_end_user"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagement.id"],
            name=op.f("fk_engagement_activity_engagement_id_engagement"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_engagement_activity_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_engagement_activity_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_activity")),
    )
    with op.batch_alter_table("engagement_activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engagement_activity_end_user", ["end_user_id", "occurred_at"], unique=False
        )

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engagement", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("engagement")

    with op.batch_alter_table("engagement_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_engagement_activity_end_user")

    op.drop_table("engagement_activity")
    with op.batch_alter_table("engagement_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_engagement_delivery_engagement")
        batch_op.drop_index("ix_engagement_delivery_end_user")

    op.drop_table("engagement_delivery")
