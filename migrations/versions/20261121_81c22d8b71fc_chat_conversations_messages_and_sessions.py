"""Chat: conversations, messages, chat sessions, and full-text search over them

Revision ID: 81c22d8b71fc
Revises: 6ce7ee280c6b
Create Date: 2026-11-21 07:48:50.425835
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Full-text search lives outside the models: FTS5 tables kept by triggers on SQLite, GIN indexes
# on PostgreSQL. The queries in relaydesk.chat.search use exactly these expressions.
# The FTS5 rows share the rowid of their source row; relaydesk never runs VACUUM, which is the
# one thing that renumbers the rowids of tables without an INTEGER PRIMARY KEY.
SQLITE_SEARCH = (
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        body, conversation_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER message_fts_insert AFTER INSERT ON message WHEN new.kind <> 'activity'
    BEGIN
        INSERT INTO message_fts (rowid, body, conversation_id)
        VALUES (new.rowid, new.body, new.conversation_id);
    END""",
    """CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
        DELETE FROM message_fts WHERE rowid = old.rowid;
    END""",
    """CREATE VIRTUAL TABLE end_user_fts USING fts5(
        name, email, phone, external_id, end_user_id UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER end_user_fts_insert AFTER INSERT ON end_user BEGIN
        INSERT INTO end_user_fts (rowid, name, email, phone, external_id, end_user_id)
        VALUES (new.rowid, new.name, coalesce(new.email, ''), coalesce(new.phone, ''),
                new.external_id, new.id);
    END""",
    """CREATE TRIGGER end_user_fts_update AFTER UPDATE ON end_user BEGIN
        DELETE FROM end_user_fts WHERE rowid = old.rowid;
        INSERT INTO end_user_fts (rowid, name, email, phone, external_id, end_user_id)
        VALUES (new.rowid, new.name, coalesce(new.email, ''), coalesce(new.phone, ''),
                new.external_id, new.id);
    END""",
    """CREATE TRIGGER end_user_fts_delete AFTER DELETE ON end_user BEGIN
        DELETE FROM end_user_fts WHERE rowid = old.rowid;
    END""",
    """INSERT INTO end_user_fts (rowid, name, email, phone, external_id, end_user_id)
    SELECT rowid, name, coalesce(email, ''), coalesce(phone, ''), external_id, id
    FROM end_user""",
)
POSTGRESQL_SEARCH = (
    "CREATE INDEX ix_message_search ON message USING gin (to_tsvector('simple'::regconfig, body))",
    """CREATE INDEX ix_end_user_search ON end_user USING gin (to_tsvector('simple'::regconfig,
    (regexp_replace(coalesce(name, '') || ' ' || coalesce(email, '') || ' '
     || coalesce(phone, '') || ' ' || external_id, '[^[:alnum:]]+', ' ', 'g'))))""",
)

revision: str = "81c22d8b71fc"
down_revision: str | None = "6ce7ee280c6b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("end_user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("finished_by_id", sa.Uuid(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_conversation_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"], ["end_user.id"], name=op.f("fk_conversation_end_user_id_end_user")
        ),
        sa.ForeignKeyConstraint(
            ["finished_by_id"],
            ["staff_user.id"],
            name=op.f("fk_conversation_finished_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["staff_user.id"], name=op.f("fk_conversation_owner_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_conversation_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_conversation_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
        sa.UniqueConstraint(
            "channel_id", "end_user_id", name=op.f("uq_conversation_channel_id_end_user_id")
        ),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_channel",
            ["channel_id", "status", "last_message_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_end_user_id"), ["end_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_conversation_inbox", ["partner_id", "status", "last_message_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_conversation_owner", ["owner_id", "status", "last_message_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_conversation_recent", ["partner_id", "last_message_at", "id"], unique=False
        )

    op.create_table(
        "chat_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_responder_id", sa.Uuid(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channel.id"], name=op.f("fk_chat_session_channel_id_channel")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_chat_session_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finished_by_id"],
            ["staff_user.id"],
            name=op.f("fk_chat_session_finished_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["first_responder_id"],
            ["staff_user.id"],
            name=op.f("fk_chat_session_first_responder_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_chat_session_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_chat_session_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_session")),
    )
    with op.batch_alter_table("chat_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_session_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            "ix_chat_session_finished", ["partner_id", "finished_at"], unique=False
        )
        batch_op.create_index("ix_chat_session_opened", ["partner_id", "opened_at"], unique=False)

    op.create_table(
        "message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("sender_type", sa.String(length=8), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_message_id", sa.String(length=100), nullable=True),
        sa.Column("activity", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_message_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_message_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint(
            "conversation_id",
            "sender_id",
            "client_message_id",
            name=op.f("uq_message_conversation_id_sender_id_client_message_id"),
        ),
        sa.UniqueConstraint("conversation_id", "seq", name=op.f("uq_message_conversation_id_seq")),
    )
    op.create_table(
        "conversation_read",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("reader_id", sa.Uuid(), nullable=False),
        sa.Column("last_read_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_read_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "reader_id", name=op.f("pk_conversation_read")),
    )
    search = SQLITE_SEARCH if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_SEARCH
    for statement in search:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("end_user_fts_insert", "end_user_fts_update", "end_user_fts_delete"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE end_user_fts")
        op.execute("DROP TABLE message_fts")
    else:
        op.execute("DROP INDEX ix_end_user_search")
    op.drop_table("conversation_read")
    op.drop_table("message")
    with op.batch_alter_table("chat_session", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_session_opened")
        batch_op.drop_index("ix_chat_session_finished")
        batch_op.drop_index(batch_op.f("ix_chat_session_conversation_id"))

    op.drop_table("chat_session")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_recent")
        batch_op.drop_index("ix_conversation_owner")
        batch_op.drop_index("ix_conversation_inbox")
        batch_op.drop_index(batch_op.f("ix_conversation_end_user_id"))
        batch_op.drop_index("ix_conversation_channel")

    op.drop_table("conversation")
