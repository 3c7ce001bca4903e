"""Search uses the full-text indexes on both backends, never a scan of every message."""

from sqlalchemy import Select, text

from relaydesk.chat import search
from relaydesk.db import Database


async def plan(database: Database, statement: Select) -> str:
    async with database.transaction() as session:
        dialect = session.bind.dialect
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            return "\n".join(str(row[-1]) for row in rows)
        # On a tiny table a sequential scan is cheapest; forbid it to see which index applies.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))


class TestIndexes:
    async def test_message_text_is_searched_through_its_index(self, database: Database) -> None:
        async with database.transaction() as session:
            statement = search.matching_messages(session, search.search_terms("refund parcel"))
        found = await plan(database, statement)
        assert "ix_message_search" in found or "VIRTUAL TABLE INDEX" in found, found

    async def test_end_users_are_searched_through_their_index(self, database: Database) -> None:
        async with database.transaction() as session:
            statement = search.matching_end_users(session, search.search_terms("lea@example"))
        found = await plan(database, statement)
        assert "ix_end_user_search" in found or "VIRTUAL TABLE INDEX" in found, found


class TestTerms:
    def test_words_are_lowercased_and_punctuation_only_separates(self) -> None:
        assert search.search_terms(' Lea@Example.com "NEAR(" a:* ') == [
            "lea",
            "example",
            "com",
            "near",
            "a",
        ]

    def test_at_most_eight_words_count(self) -> None:
        assert len(search.search_terms(" ".join("abcdefghij"))) == 8
