"""Ids and timestamps behave the same on every backend."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from relaydesk.audit.models import AuditEntry
from relaydesk.db import Database, UTCDateTime, uuid7
from tests.factories import Factory


class TestUuid7:
    def test_is_version_7_with_the_rfc_variant(self) -> None:
        value = uuid7()
        assert value.version == 7
        assert value.variant == uuid.RFC_4122

    def test_embeds_the_current_millisecond(self) -> None:
        before = int(datetime.now(UTC).timestamp() * 1000)
        value = uuid7()
        after = int(datetime.now(UTC).timestamp() * 1000)
        assert before <= value.int >> 80 <= after

    def test_ids_of_later_milliseconds_sort_later(self) -> None:
        first = uuid7()
        while (second := uuid7()).int >> 80 == first.int >> 80:
            pass
        assert first < second

    def test_ids_do_not_repeat(self) -> None:
        assert len({uuid7() for _ in range(10_000)}) == 10_000


class TestTimestamps:
    async def test_come_back_timezone_aware_in_utc(
        self, factory: Factory, database: Database
    ) -> None:
        tenant = await factory.tenant()
        moment = datetime(2026, 11, 21, 12, 30, tzinfo=timezone(timedelta(hours=2)))
        async with database.transaction() as session:
            entry = await session.scalar(
                select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
            )
            entry.created_at = moment
        async with database.transaction() as session:
            stored = await session.scalar(
                select(AuditEntry.created_at).where(AuditEntry.id == entry.id)
            )
        assert stored == moment
        assert stored.utcoffset() == timedelta(0)

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)
