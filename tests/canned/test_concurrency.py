"""Races: the same name, title or shortcut written by requests at once ends as one row and 409s,
and categories created at once still get positions 0 … n-1."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import StaffPrincipal
from relaydesk.auth.service import principal_of
from relaydesk.canned import schemas, service
from relaydesk.db import Database
from relaydesk.errors import Conflict
from tests.canned.conftest import CannedApi
from tests.factories import World

RACERS = 8


def outcomes(responses: list[httpx.Response]) -> list[tuple[int, str | None]]:
    return sorted(
        (r.status_code, r.json().get("code") if r.status_code != 201 else None) for r in responses
    )


class TestRacingRequests:
    async def test_one_of_many_creations_of_a_name_wins(self, editor: CannedApi) -> None:
        responses = await asyncio.gather(
            *(
                editor.request("POST", "categories", json={"name": name})
                for name in ["Billing"] * (RACERS // 2) + ["BILLING"] * (RACERS // 2)
            )
        )
        assert outcomes(responses) == [(201, None)] + [(409, "canned_category_exists")] * (
            RACERS - 1
        )
        assert len(await editor.categories()) == 1

    async def test_categories_created_at_once_get_distinct_positions(
        self, editor: CannedApi
    ) -> None:
        responses = await asyncio.gather(
            *(editor.request("POST", "categories", json={"name": f"C{n}"}) for n in range(RACERS))
        )
        assert {r.status_code for r in responses} == {201}
        assert [c["position"] for c in await editor.categories()] == list(range(RACERS))

    async def test_one_of_many_uses_of_a_shortcut_wins(self, editor: CannedApi) -> None:
        categories = [await editor.category(f"C{n}") for n in range(RACERS)]
        responses = await asyncio.gather(
            *(
                editor.request(
                    "POST",
                    "responses",
                    json={
                        "category_id": category["id"],
                        "title": "Refund",
                        "body": "Text",
                        "shortcode": "refund",
                    },
                )
                for category in categories
            )
        )
        assert outcomes(responses) == [(201, None)] + [(409, "canned_shortcode_taken")] * (
            RACERS - 1
        )

    async def test_one_of_many_uses_of_a_title_wins(self, editor: CannedApi) -> None:
        category = await editor.category("Billing")
        responses = await asyncio.gather(
            *(
                editor.request(
                    "POST",
                    "responses",
                    json={"category_id": category["id"], "title": "Refund", "body": f"{n}"},
                )
                for n in range(RACERS)
            )
        )
        assert outcomes(responses) == [(201, None)] + [(409, "canned_title_taken")] * (RACERS - 1)
        assert len(await editor.responses()) == 1


async def lock_waits(database: Database) -> int:
    async with database.engine.connect() as connection:
        return await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )


@pytest.mark.only_backend("postgresql")
class TestAfterTheCheck:
    """The second writer checks before the first commits, then meets the unique key."""

    @pytest.fixture
    async def staff(self, world: World) -> StaffPrincipal:
        return principal_of(world.a.admin)

    @pytest.fixture
    async def category_id(self, database: Database, staff: StaffPrincipal) -> uuid.UUID:
        async with database.transaction() as session:
            data = schemas.CannedCategoryCreate(name="Billing")
            return (await service.create_category(session, staff, data)).id

    async def second_writer_refused(
        self, database: Database, write: Callable[[AsyncSession], Awaitable[object]]
    ) -> Conflict:
        async def in_own_transaction() -> None:
            async with database.transaction() as session:
                await write(session)

        async with database.transaction() as first:
            await write(first)
            second = asyncio.create_task(in_own_transaction())
            for _ in range(200):
                if await lock_waits(database):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the second writer never waited for the first")
        with pytest.raises(Conflict) as refused:
            await second
        return refused.value

    async def test_a_shortcut_taken_meanwhile_is_a_409(
        self, database: Database, staff: StaffPrincipal, category_id: uuid.UUID
    ) -> None:
        titles = iter(["First", "Second"])

        async def write(session: AsyncSession) -> object:
            data = schemas.CannedResponseCreate(
                category_id=category_id, title=next(titles), body="Text", shortcode="refund"
            )
            return await service.create_response(session, staff, data)

        refused = await self.second_writer_refused(database, write)
        assert refused.code == "canned_shortcode_taken"

    async def test_a_title_taken_meanwhile_is_a_409(
        self, database: Database, staff: StaffPrincipal, category_id: uuid.UUID
    ) -> None:
        async def write(session: AsyncSession) -> object:
            data = schemas.CannedResponseCreate(category_id=category_id, title="Refund", body="B")
            return await service.create_response(session, staff, data)

        refused = await self.second_writer_refused(database, write)
        assert refused.code == "canned_title_taken"

    async def test_a_title_taken_meanwhile_in_other_letter_case_is_a_409(
        self, database: Database, staff: StaffPrincipal, category_id: uuid.UUID
    ) -> None:
        titles = iter(["Refund", "REFUND"])

        async def write(session: AsyncSession) -> object:
            data = schemas.CannedResponseCreate(
                category_id=category_id, title=next(titles), body="B"
            )
            return await service.create_response(session, staff, data)

        refused = await self.second_writer_refused(database, write)
        assert refused.code == "canned_title_taken"

    async def test_a_category_name_taken_meanwhile_is_a_409(
        self, database: Database, staff: StaffPrincipal, category_id: uuid.UUID
    ) -> None:
        async def write(session: AsyncSession) -> object:
            data = schemas.CannedCategoryCreate(name="Shipping")
            return await service.create_category(session, staff, data)

        refused = await self.second_writer_refused(database, write)
        assert refused.code == "canned_category_exists"
