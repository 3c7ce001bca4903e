"""Canned responses and chat attachments

Revision ID: d995fe5e4a01
Revises: 81c22d8b71fc
Create Date: 2026-11-21 13:52:36.568786
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d995fe5e4a01"
down_revision: str | None = "81c22d8b71fc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "canned_category",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_canned_category_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_canned_category_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_category")),
        sa.UniqueConstraint("partner_id", "name", name=op.f("uq_canned_category_partner_id_name")),
    )
    with op.batch_alter_table("canned_category", schema=None) as batch_op:
        batch_op.create_index("ix_canned_category_order", ["partner_id", "position"], unique=False)

    op.create_table(
        "canned_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("shortcode", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["canned_category.id"],
            name=op.f("fk_canned_response_category_id_canned_category"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_canned_response_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_canned_response_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_response")),
        sa.UniqueConstraint(
            "partner_id", "shortcode", name=op.f("uq_canned_response_partner_id_shortcode")
        ),
    )
    with op.batch_alter_table("canned_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_canned_response_category_id"), ["category_id"], unique=False
        )
        batch_op.create_index(
            "uq_canned_response_title", ["category_id", sa.text("lower(title)")], unique=True
        )

    op.create_table(
        "attachment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("uploader_type", sa.String(length=8), nullable=False),
        sa.Column("uploader_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=100), nullable=False),
        sa.Column("preview_key", sa.String(length=100), nullable=True),
        sa.Column("preview_size", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("end_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_attachment_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"], ["end_user.id"], name=op.f("fk_attachment_end_user_id_end_user")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_attachment_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_attachment_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_attachment_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_attachment_storage_key")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index("ix_attachment_message", ["message_id", "position"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index("ix_attachment_message")

    op.drop_table("attachment")
    with op.batch_alter_table("canned_response", schema=None) as batch_op:
        batch_op.drop_index("uq_canned_response_title")
        batch_op.drop_index(batch_op.f("ix_canned_response_category_id"))

    op.drop_table("canned_response")
    with op.batch_alter_table("canned_category", schema=None) as batch_op:
        batch_op.drop_index("ix_canned_category_order")

    op.drop_table("canned_category")
