"""Full-text search over end users and message text, one small function per dialect.

SQLite keeps FTS5 tables filled by triggers; PostgreSQL has GIN indexes on `to_tsvector`
expressions. Both are created by the migration; the queries here must use the same
expressions for the indexes to apply. Every word of the query matches as a prefix, all
words must match.
"""

import re
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.chat.models import Message, MessageKind
from relaydesk.tenancy.models import EndUser

# Schema objects that live outside the models (see the migration); schema comparison skips them.
SEARCH_TABLES = ("message_fts", "end_user_fts")
SEARCH_INDEXES = ("ix_message_search", "ix_end_user_search")

# Punctuation becomes spaces, so "lea@example.com" and "+49 170" split into words as FTS5 does.
END_USER_DOCUMENT = (
    "regexp_replace(coalesce(name, '') || ' ' || coalesce(email, '') || ' ' "
    "|| coalesce(phone, '') || ' ' || external_id, '[^[:alnum:]]+', ' ', 'g')"
)
SNIPPET_OPEN, SNIPPET_CLOSE = "[", "]"

_message_fts = sa.table(
    "message_fts", sa.column("body"), sa.column("conversation_id", sa.Uuid), sa.column("rowid")
)
_end_user_fts = sa.table("end_user_fts", sa.column("end_user_id", sa.Uuid))


def search_terms(query: str) -> list[str]:
    """The words of a search, lowercased; punctuation only separates them."""
    return [term.lower() for term in re.findall(r"\w+", query)][:8]


def _fts5_query(terms: Sequence[str]) -> str:
    return " ".join(f'"{term}"*' for term in terms)


# A literal, not a bind parameter: the GIN indexes apply only to the same expression.
_SIMPLE = sa.literal_column("'simple'::regconfig")


def _tsquery(terms: Sequence[str]) -> sa.ColumnElement[str]:
    return sa.func.to_tsquery(_SIMPLE, " & ".join(f"{term}:*" for term in terms))


def _is_sqlite(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "sqlite"


def matching_end_users(session: AsyncSession, terms: Sequence[str]) -> Select[tuple[uuid.UUID]]:
    """Ids of end users whose name, e-mail, phone or external id match."""
    if _is_sqlite(session):
        return select(_end_user_fts.c.end_user_id).where(
            sa.text("end_user_fts MATCH :end_user_query").bindparams(
                end_user_query=_fts5_query(terms)
            )
        )
    document = sa.func.to_tsvector(_SIMPLE, sa.literal_column(f"({END_USER_DOCUMENT})"))
    return select(EndUser.id).where(document.bool_op("@@")(_tsquery(terms)))


def matching_messages(session: AsyncSession, terms: Sequence[str]) -> Select[tuple[uuid.UUID]]:
    """Ids of conversations with a message whose text matches."""
    if _is_sqlite(session):
        return select(_message_fts.c.conversation_id).where(
            sa.text("message_fts MATCH :message_query").bindparams(message_query=_fts5_query(terms))
        )
    return select(Message.conversation_id).where(
        Message.kind != MessageKind.ACTIVITY,
        _message_document().bool_op("@@")(_tsquery(terms)),
    )


def _message_document() -> sa.ColumnElement[str]:
    return sa.func.to_tsvector(_SIMPLE, Message.body)


async def snippets(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID], terms: Sequence[str]
) -> dict[uuid.UUID, str]:
    """For each conversation, the newest matching message's text around the match."""
    if not conversation_ids:
        return {}
    if _is_sqlite(session):
        statement = (
            select(
                _message_fts.c.conversation_id,
                sa.text(f"snippet(message_fts, 0, '{SNIPPET_OPEN}', '{SNIPPET_CLOSE}', '…', 12)"),
            )
            .where(
                sa.text("message_fts MATCH :message_query").bindparams(
                    message_query=_fts5_query(terms)
                ),
                _message_fts.c.conversation_id.in_(conversation_ids),
            )
            .order_by(_message_fts.c.rowid.desc())
        )
    else:
        query = _tsquery(terms)
        statement = (
            select(
                Message.conversation_id,
                sa.func.ts_headline(
                    _SIMPLE,
                    Message.body,
                    query,
                    f"StartSel={SNIPPET_OPEN}, StopSel={SNIPPET_CLOSE}, MaxWords=24, MinWords=12",
                ),
            )
            .where(
                Message.conversation_id.in_(conversation_ids),
                Message.kind != MessageKind.ACTIVITY,
                _message_document().bool_op("@@")(query),
            )
            .order_by(Message.conversation_id, Message.seq.desc())
            .ext(distinct_on(Message.conversation_id))
        )
    found: dict[uuid.UUID, str] = {}
    for conversation_id, snippet in await session.execute(statement):
        found.setdefault(conversation_id, snippet)
    return found
