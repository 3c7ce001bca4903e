"""The owner timer (HD-20): an active chat whose end user has waited the partner's N minutes
for an answer goes back to Unanswered, so no follower waits on an agent who has left.

The worker finds due chats with one indexed query and returns each in its own transaction,
deciding again under the chat's lock (`chat.service.return_unattended`), so a reply at the
same moment either ends the wait first or comes after and takes the chat.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from relaydesk.chat.models import Conversation, ConversationStatus
from relaydesk.chat.service import return_unattended
from relaydesk.clock import now
from relaydesk.db import Database, UTCDateTime
from relaydesk.tenancy.models import Partner

# Chats returned per pass; a full batch makes the worker go round again at once.
BATCH = 200


def _waited_long_enough(dialect: str, at: datetime) -> sa.ColumnElement[bool]:
    """The end user has waited the partner's timer at `at`, in the database's date arithmetic."""
    minutes = Partner.owner_timer_minutes
    if dialect == "postgresql":
        return Conversation.waiting_since + func.make_interval(0, 0, 0, 0, 0, minutes) <= at
    # SQLite keeps timestamps as text; julianday turns them into days.
    return func.julianday(Conversation.waiting_since) + minutes / 1440.0 <= func.julianday(
        sa.literal(at, UTCDateTime())
    )


def due_conversations(dialect: str, at: datetime) -> sa.Select[tuple[uuid.UUID]]:
    return (
        select(Conversation.id)
        .join(Partner, Partner.id == Conversation.partner_id)
        .where(
            Conversation.status == ConversationStatus.ACTIVE,
            Conversation.waiting_since.is_not(None),
            Partner.owner_timer_minutes.is_not(None),
            _waited_long_enough(dialect, at),
        )
        .order_by(Conversation.waiting_since)
        .limit(BATCH)
    )


async def return_unattended_chats(database: Database) -> bool:
    """Returns the chats due now; True when a whole batch was due (more may be)."""
    at = now()
    async with database.transaction() as session:
        due = list(await session.scalars(due_conversations(database.engine.dialect.name, at)))
    for conversation_id in due:
        async with database.transaction() as session:
            await return_unattended(session, conversation_id, at)
    return len(due) == BATCH
