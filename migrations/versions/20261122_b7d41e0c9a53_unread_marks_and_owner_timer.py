"""unread marks and the owner timer

Revision ID: b7d41e0c9a53
Revises: f5aca9681fd6
Create Date: 2026-11-22 01:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d41e0c9a53"
down_revision: str | None = "f5aca9681fd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_end_user_seq", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_conversation_waiting", ["status", "waiting_since"], unique=False)
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_timer_minutes", sa.Integer(), nullable=True))
    _fill_in_conversations()


def _fill_in_conversations() -> None:
    """The end user's newest message, and since when an open chat has waited for an agent:
    the end user's messages after the last agent message."""
    conversation = sa.table(
        "conversation",
        sa.column("id"),
        sa.column("status"),
        sa.column("last_end_user_seq"),
        sa.column("waiting_since"),
    )
    message = sa.table(
        "message",
        sa.column("conversation_id"),
        sa.column("seq"),
        sa.column("sender_type"),
        sa.column("created_at"),
    )
    agent = message.alias("agent")
    of_this = message.c.conversation_id == conversation.c.id
    from_end_user = message.c.sender_type == "end_user"
    last_agent_seq = (
        sa.select(sa.func.coalesce(sa.func.max(agent.c.seq), 0))
        .where(agent.c.conversation_id == conversation.c.id, agent.c.sender_type == "agent")
        .scalar_subquery()
    )
    op.execute(
        conversation.update().values(
            last_end_user_seq=sa.select(sa.func.coalesce(sa.func.max(message.c.seq), 0))
            .where(of_this, from_end_user)
            .scalar_subquery()
        )
    )
    op.execute(
        conversation.update()
        .where(conversation.c.status != "finished")
        .values(
            waiting_since=sa.select(sa.func.min(message.c.created_at))
            .where(of_this, from_end_user, message.c.seq > last_agent_seq)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.drop_column("owner_timer_minutes")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_waiting")
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("last_end_user_seq")
