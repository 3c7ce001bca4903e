"""Canned responses over HTTP (HD-14): categories and their order, responses, search, who may
do what, and the text filled in for a conversation."""

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from relaydesk.canned.models import CannedResponse
from relaydesk.db import Database
from tests.canned.conftest import CannedApi, canned_api
from tests.chat.conftest import new_follower
from tests.factories import Factory, World


def names(categories: list[dict[str, Any]]) -> list[str]:
    return [category["name"] for category in categories]


def positions(categories: list[dict[str, Any]]) -> list[int]:
    return [category["position"] for category in categories]


def titles(responses: list[dict[str, Any]]) -> list[str]:
    return [response["title"] for response in responses]


def problem_code(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["code"]


async def stored_responses(database: Database) -> int:
    async with database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(CannedResponse))


async def conversation_with(
    client: httpx.AsyncClient, world: World, name: str, side: str = "a"
) -> str:
    """A conversation an end user called `name` started with the partner's channel."""
    channel = getattr(world, side).channel
    tenant = world.other_tenant if side == "other" else world.tenant
    follower = await new_follower(client, tenant, channel, name=name)
    response = await follower.write("Hello")
    assert response.status_code == 201, response.text
    return response.json()["conversation_id"]


class TestCategoryOrder:
    async def test_new_categories_go_last_in_order(self, editor: CannedApi) -> None:
        created = [await editor.category(name) for name in ("Billing", "Shipping", "Returns")]
        assert positions(created) == [0, 1, 2]
        listed = await editor.categories()
        assert names(listed) == ["Billing", "Shipping", "Returns"]
        assert positions(listed) == [0, 1, 2]
        assert set(listed[0]) == {"id", "name", "position", "response_count", "created_at"}
        assert listed[0]["response_count"] == 0

    async def test_a_position_inserts_there_and_moves_the_rest_down(
        self, editor: CannedApi
    ) -> None:
        for name in ("Billing", "Shipping"):
            await editor.category(name)
        first = await editor.category("Greetings", position=0)
        middle = await editor.category("Orders", position=2)
        assert (first["position"], middle["position"]) == (0, 2)
        listed = await editor.categories()
        assert names(listed) == ["Greetings", "Billing", "Orders", "Shipping"]
        assert positions(listed) == [0, 1, 2, 3]

    async def test_a_position_past_the_end_means_last(self, editor: CannedApi) -> None:
        await editor.category("Billing")
        created = await editor.category("Shipping", position=99)
        assert created["position"] == 1
        assert names(await editor.categories()) == ["Billing", "Shipping"]

    async def test_moving_renumbers_the_others(self, editor: CannedApi) -> None:
        ids = {name: (await editor.category(name))["id"] for name in ("A", "B", "C", "D")}
        moved = await editor.request("PATCH", f"categories/{ids['D']}", json={"position": 1})
        assert moved.status_code == 200
        assert (moved.json()["name"], moved.json()["position"]) == ("D", 1)
        listed = await editor.categories()
        assert names(listed) == ["A", "D", "B", "C"]
        assert positions(listed) == [0, 1, 2, 3]

        to_end = await editor.request("PATCH", f"categories/{ids['A']}", json={"position": 50})
        assert to_end.json()["position"] == 3
        listed = await editor.categories()
        assert names(listed) == ["D", "B", "C", "A"]
        assert positions(listed) == [0, 1, 2, 3]

    async def test_renaming_keeps_the_place(self, editor: CannedApi) -> None:
        await editor.category("Billing")
        shipping = await editor.category("Shipping")
        renamed = await editor.request(
            "PATCH", f"categories/{shipping['id']}", json={"name": "  Delivery  "}
        )
        assert renamed.status_code == 200
        assert (renamed.json()["name"], renamed.json()["position"]) == ("Delivery", 1)
        assert names(await editor.categories()) == ["Billing", "Delivery"]

    async def test_rename_and_move_at_once(self, editor: CannedApi) -> None:
        await editor.category("Billing")
        shipping = await editor.category("Shipping")
        changed = await editor.request(
            "PATCH", f"categories/{shipping['id']}", json={"name": "Delivery", "position": 0}
        )
        assert (changed.json()["name"], changed.json()["position"]) == ("Delivery", 0)
        assert names(await editor.categories()) == ["Delivery", "Billing"]

    async def test_pages_follow_the_order(self, editor: CannedApi) -> None:
        for name in ("A", "B", "C", "D", "E"):
            await editor.category(name)
        await editor.category("First", position=0)
        seen, cursor = [], None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await editor.request("GET", "categories", params=params)).json()
            assert len(page["items"]) <= 2
            seen += names(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["First", "A", "B", "C", "D", "E"]

    async def test_a_bad_cursor_is_a_validation_error(self, editor: CannedApi) -> None:
        response = await editor.request("GET", "categories", params={"cursor": "nonsense"})
        assert problem_code(response) == (422, "validation_error")


class TestDeletingCategories:
    async def test_its_responses_go_with_it_and_the_gap_closes(
        self, editor: CannedApi, database: Database
    ) -> None:
        billing = await editor.category("Billing")
        shipping = await editor.category("Shipping")
        returns = await editor.category("Returns")
        for title in ("Invoice", "Refund", "VAT"):
            await editor.response(shipping, title)
        kept = await editor.response(billing, "Prices")

        response = await editor.request("DELETE", f"categories/{shipping['id']}")
        assert response.status_code == 204
        assert response.content == b""
        listed = await editor.categories()
        assert [(c["id"], c["position"]) for c in listed] == [
            (billing["id"], 0),
            (returns["id"], 1),
        ]
        assert await editor.responses() == [kept]
        assert await stored_responses(database) == 1
        gone = await editor.request("PATCH", f"categories/{shipping['id']}", json={"name": "X"})
        assert problem_code(gone) == (404, "not_found")

    async def test_response_count_follows_adds_and_deletes(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        invoice = await editor.response(billing, "Invoice")
        await editor.response(billing, "Refund")
        assert [c["response_count"] for c in await editor.categories()] == [2]
        await editor.request("DELETE", f"responses/{invoice['id']}")
        assert [c["response_count"] for c in await editor.categories()] == [1]
        renamed = await editor.request("PATCH", f"categories/{billing['id']}", json={"name": "B"})
        assert renamed.json()["response_count"] == 1


class TestCategoryValidation:
    @pytest.mark.parametrize(
        "body",
        [
            {"name": ""},
            {"name": "   "},
            {"name": "x" * 101},
            {},
            {"name": "Billing", "position": -1},
            {"name": "Billing", "colour": "red"},
        ],
    )
    async def test_bad_categories_are_refused(
        self, editor: CannedApi, body: dict[str, object]
    ) -> None:
        response = await editor.request("POST", "categories", json=body)
        assert problem_code(response) == (422, "validation_error")
        assert response.json()["errors"]
        assert await editor.categories() == []

    async def test_a_hundred_characters_are_enough(self, editor: CannedApi) -> None:
        assert (await editor.category("x" * 100))["name"] == "x" * 100

    async def test_renaming_to_null_is_refused(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        response = await editor.request("PATCH", f"categories/{billing['id']}", json={"name": None})
        assert problem_code(response) == (422, "validation_error")

    async def test_a_name_is_taken_in_any_case(self, editor: CannedApi) -> None:
        await editor.category("Billing")
        response = await editor.request("POST", "categories", json={"name": "BILLING"})
        assert problem_code(response) == (409, "canned_category_exists")
        assert names(await editor.categories()) == ["Billing"]

    async def test_renaming_onto_another_category_is_refused(self, editor: CannedApi) -> None:
        await editor.category("Billing")
        shipping = await editor.category("Shipping")
        response = await editor.request(
            "PATCH", f"categories/{shipping['id']}", json={"name": "billing"}
        )
        assert problem_code(response) == (409, "canned_category_exists")
        assert names(await editor.categories()) == ["Billing", "Shipping"]

    async def test_a_category_may_change_the_case_of_its_own_name(self, editor: CannedApi) -> None:
        billing = await editor.category("billing")
        response = await editor.request(
            "PATCH", f"categories/{billing['id']}", json={"name": "Billing"}
        )
        assert response.status_code == 200
        assert names(await editor.categories()) == ["Billing"]

    async def test_another_partner_may_use_the_same_name(
        self, editor: CannedApi, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await editor.category("Billing")
        other = await canned_api(client, factory, world.b.admin)
        assert (await other.category("Billing"))["position"] == 0


class TestResponses:
    async def test_a_new_response_is_stored_as_sent_tidied(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        created = await editor.response(
            billing, "  Refund  ", "  Your refund is on its way.\n  ", shortcode="/Refund-1"
        )
        assert set(created) == {
            "id", "category_id", "title", "body", "shortcode", "created_at", "updated_at",
        }  # fmt: skip
        assert (created["category_id"], created["title"]) == (billing["id"], "Refund")
        assert created["body"] == "Your refund is on its way."
        assert created["shortcode"] == "refund-1"
        assert await editor.responses() == [created]

    async def test_a_shortcut_is_optional(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        assert (await editor.response(billing, "Refund"))["shortcode"] is None
        assert (await editor.response(billing, "Invoice", shortcode=""))["shortcode"] is None

    async def test_a_change_touches_only_the_fields_sent(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        created = await editor.response(billing, "Refund", "Old text", shortcode="refund")
        response = await editor.request(
            "PATCH", f"responses/{created['id']}", json={"body": "New text"}
        )
        assert response.status_code == 200
        changed = response.json()
        assert changed == created | {"body": "New text", "updated_at": changed["updated_at"]}
        assert datetime.fromisoformat(changed["updated_at"]) > datetime.fromisoformat(
            created["updated_at"]
        )
        assert await editor.responses() == [changed]

    async def test_null_removes_the_shortcut(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        created = await editor.response(billing, "Refund", shortcode="refund")
        response = await editor.request(
            "PATCH", f"responses/{created['id']}", json={"shortcode": None}
        )
        assert response.json()["shortcode"] is None
        assert (await editor.response(billing, "Again", shortcode="refund"))["shortcode"]

    async def test_a_response_moves_to_another_category(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        shipping = await editor.category("Shipping")
        created = await editor.response(billing, "Refund")
        response = await editor.request(
            "PATCH", f"responses/{created['id']}", json={"category_id": shipping["id"]}
        )
        assert response.json()["category_id"] == shipping["id"]
        assert [c["response_count"] for c in await editor.categories()] == [0, 1]
        assert titles(await editor.responses(category_id=shipping["id"])) == ["Refund"]

    async def test_it_cannot_move_to_another_partners_category(
        self, editor: CannedApi, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        foreign = await (await canned_api(client, factory, world.b.admin)).category("Theirs")
        created = await editor.response(await editor.category("Billing"), "Refund")
        response = await editor.request(
            "PATCH", f"responses/{created['id']}", json={"category_id": foreign["id"]}
        )
        assert problem_code(response) == (404, "not_found")
        assert await editor.responses() == [created]

    async def test_an_unknown_category_is_not_found(self, editor: CannedApi) -> None:
        response = await editor.request(
            "POST",
            "responses",
            json={"category_id": "0190d3c8-0000-7000-8000-000000000000", "title": "T", "body": "B"},
        )
        assert problem_code(response) == (404, "not_found")

    async def test_a_deleted_response_is_gone(self, editor: CannedApi) -> None:
        created = await editor.response(await editor.category("Billing"), "Refund")
        assert (await editor.request("DELETE", f"responses/{created['id']}")).status_code == 204
        assert await editor.responses() == []
        again = await editor.request("DELETE", f"responses/{created['id']}")
        assert problem_code(again) == (404, "not_found")


class TestResponseValidation:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"title": "   "}, "title"),
            ({"title": ""}, "title"),
            ({"body": ""}, "body"),
            ({"body": " \n "}, "body"),
            ({"body": "x" * 4001}, "body"),
            ({"title": "x" * 201}, "title"),
            ({"shortcode": "two words"}, "shortcode"),
            ({"shortcode": "ä"}, "shortcode"),
            ({"shortcode": "x" * 51}, "shortcode"),
        ],
    )
    async def test_bad_responses_are_refused(
        self, editor: CannedApi, database: Database, fields: dict[str, str], field: str
    ) -> None:
        billing = await editor.category("Billing")
        data = {"category_id": billing["id"], "title": "Refund", "body": "Text"} | fields
        response = await editor.request("POST", "responses", json=data)
        assert problem_code(response) == (422, "validation_error")
        assert [error["loc"][-1] for error in response.json()["errors"]] == [field]
        assert await stored_responses(database) == 0

    async def test_four_thousand_characters_are_accepted(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        created = await editor.response(billing, "Long", "x" * 4000, shortcode="y" * 50)
        assert len(created["body"]) == 4000
        assert created["shortcode"] == "y" * 50

    async def test_a_change_is_validated_too(self, editor: CannedApi) -> None:
        created = await editor.response(await editor.category("Billing"), "Refund")
        for body in ({"body": "x" * 4001}, {"title": None}, {"title": " "}, {"category_id": None}):
            response = await editor.request("PATCH", f"responses/{created['id']}", json=body)
            assert problem_code(response) == (422, "validation_error"), body
        assert await editor.responses() == [created]

    async def test_a_title_is_taken_in_its_category_in_any_case(
        self, editor: CannedApi, database: Database
    ) -> None:
        billing = await editor.category("Billing")
        shipping = await editor.category("Shipping")
        await editor.response(billing, "Refund")
        again = await editor.request(
            "POST",
            "responses",
            json={"category_id": billing["id"], "title": "REFUND", "body": "Other"},
        )
        assert problem_code(again) == (409, "canned_title_taken")
        assert await stored_responses(database) == 1
        assert (await editor.response(shipping, "Refund"))["title"] == "Refund"

    async def test_renaming_or_moving_onto_a_taken_title_is_refused(
        self, editor: CannedApi
    ) -> None:
        billing = await editor.category("Billing")
        shipping = await editor.category("Shipping")
        await editor.response(billing, "Refund")
        invoice = await editor.response(billing, "Invoice")
        moving = await editor.response(shipping, "refund")
        renamed = await editor.request(
            "PATCH", f"responses/{invoice['id']}", json={"title": "Refund"}
        )
        assert problem_code(renamed) == (409, "canned_title_taken")
        moved = await editor.request(
            "PATCH", f"responses/{moving['id']}", json={"category_id": billing["id"]}
        )
        assert problem_code(moved) == (409, "canned_title_taken")
        kept = await editor.request(
            "PATCH", f"responses/{invoice['id']}", json={"title": "INVOICE", "body": "New"}
        )
        assert kept.status_code == 200

    async def test_a_shortcut_is_taken_across_the_partner(
        self, editor: CannedApi, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        billing = await editor.category("Billing")
        shipping = await editor.category("Shipping")
        await editor.response(billing, "Refund", shortcode="refund")
        again = await editor.request(
            "POST",
            "responses",
            json={
                "category_id": shipping["id"],
                "title": "Other",
                "body": "Text",
                "shortcode": "/REFUND",
            },
        )
        assert problem_code(again) == (409, "canned_shortcode_taken")
        other = await editor.response(shipping, "Other", shortcode="other")
        changed = await editor.request(
            "PATCH", f"responses/{other['id']}", json={"shortcode": "Refund"}
        )
        assert problem_code(changed) == (409, "canned_shortcode_taken")
        elsewhere = await canned_api(client, factory, world.b.admin)
        theirs = await elsewhere.response(await elsewhere.category("B"), "R", shortcode="refund")
        assert theirs["shortcode"] == "refund"


class TestSearch:
    @pytest.fixture
    async def library(self, editor: CannedApi) -> dict[str, dict[str, Any]]:
        billing = await editor.category("Billing")
        shipping = await editor.category("Shipping")
        return {
            "billing": billing,
            "shipping": shipping,
            "policy": await editor.response(billing, "Refund policy", "Within 30 days."),
            "steps": await editor.response(
                billing, "Returns", "Send it back.", shortcode="refund-steps"
            ),
            "late": await editor.response(
                shipping, "Late parcel", "Sorry, a REFUND of the fee follows."
            ),
            "sale": await editor.response(shipping, "Sale", "50% off, use code A_B."),
            "hello": await editor.response(shipping, "Hello", "Hi there."),
        }

    async def test_without_q_everything_by_title(
        self, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        assert titles(await editor.responses()) == [
            "Hello", "Late parcel", "Refund policy", "Returns", "Sale",
        ]  # fmt: skip

    async def test_q_matches_title_shortcut_and_text_prefixes_first(
        self, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        assert titles(await editor.responses(q="ref")) == [
            "Refund policy",
            "Returns",
            "Late parcel",
        ]
        assert titles(await editor.responses(q="REFUND")) == [
            "Refund policy", "Returns", "Late parcel",
        ]  # fmt: skip
        assert titles(await editor.responses(q="steps")) == ["Returns"]
        assert titles(await editor.responses(q="there")) == ["Hello"]
        assert await editor.responses(q="nothing like it") == []

    async def test_wildcards_in_q_are_plain_text(
        self, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        assert titles(await editor.responses(q="50%")) == ["Sale"]
        assert titles(await editor.responses(q="A_B")) == ["Sale"]
        assert await editor.responses(q="%") == [library["sale"]]
        assert await editor.responses(q="_") == [library["sale"]]

    async def test_category_filter(
        self, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        billing, shipping = library["billing"]["id"], library["shipping"]["id"]
        assert titles(await editor.responses(category_id=billing)) == ["Refund policy", "Returns"]
        assert titles(await editor.responses(category_id=shipping, q="refund")) == ["Late parcel"]

    async def test_pages_keep_the_order(
        self, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        for q in ("", "e"):
            expected = titles(await editor.responses(q=q))
            seen, cursor = [], None
            while True:
                params = {"q": q, "limit": 2} | ({"cursor": cursor} if cursor else {})
                page = (await editor.request("GET", "responses", params=params)).json()
                seen += titles(page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == expected, q
            assert len(seen) > 2

    async def test_a_title_holding_the_cursor_separator_pages_on(self, editor: CannedApi) -> None:
        billing = await editor.category("Billing")
        for title in ("a|b", "a|c", "a|d"):
            await editor.response(billing, title)
        first = (await editor.request("GET", "responses", params={"limit": 1})).json()
        second = (
            await editor.request(
                "GET", "responses", params={"limit": 5, "cursor": first["next_cursor"]}
            )
        ).json()
        assert titles(first["items"] + second["items"]) == ["a|b", "a|c", "a|d"]

    @pytest.mark.parametrize("path", ["categories", "responses"])
    async def test_a_list_takes_the_same_queries_however_long(
        self,
        app: FastAPI,
        editor: CannedApi,
        library: dict[str, dict[str, Any]],
        path: str,
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        event.listen(engine, "before_cursor_execute", count)
        try:
            await editor.request("GET", path, params={"limit": 1})
            one = len(statements)
            statements.clear()
            await editor.request("GET", path, params={"limit": 50})
            assert len(statements) == one
        finally:
            event.remove(engine, "before_cursor_execute", count)


class TestPermissions:
    @pytest.fixture
    async def billing(self, editor: CannedApi) -> dict[str, Any]:
        return await editor.category("Billing")

    @pytest.fixture
    async def refund(self, editor: CannedApi, billing: dict[str, Any]) -> dict[str, Any]:
        return await editor.response(billing, "Refund", shortcode="refund")

    async def test_an_agent_reads_everything(
        self, reader: CannedApi, billing: dict[str, Any], refund: dict[str, Any]
    ) -> None:
        assert [c["id"] for c in await reader.categories()] == [billing["id"]]
        assert await reader.responses() == [refund]

    async def test_an_agent_may_change_nothing(
        self,
        reader: CannedApi,
        editor: CannedApi,
        billing: dict[str, Any],
        refund: dict[str, Any],
    ) -> None:
        attempts = [
            ("POST", "categories", {"name": "Mine"}),
            ("PATCH", f"categories/{billing['id']}", {"name": "Mine"}),
            ("DELETE", f"categories/{billing['id']}", None),
            ("POST", "responses", {"category_id": billing["id"], "title": "T", "body": "B"}),
            ("PATCH", f"responses/{refund['id']}", {"title": "Mine"}),
            ("DELETE", f"responses/{refund['id']}", None),
        ]
        for method, path, body in attempts:
            response = await reader.request(method, path, json=body)
            assert problem_code(response) == (403, "permission_denied"), (method, path)
        assert names(await editor.categories()) == ["Billing"]
        assert await editor.responses() == [refund]

    @pytest.mark.parametrize("side", ["b", "other"])
    async def test_another_partners_staff_find_nothing(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        editor: CannedApi,
        billing: dict[str, Any],
        refund: dict[str, Any],
        side: str,
    ) -> None:
        stranger = await canned_api(client, factory, getattr(world, side).admin)
        assert await stranger.categories() == []
        assert await stranger.responses() == []
        assert await stranger.responses(category_id=billing["id"]) == []
        attempts = [
            ("PATCH", f"categories/{billing['id']}", {"name": "Mine"}),
            ("DELETE", f"categories/{billing['id']}", None),
            ("POST", "responses", {"category_id": billing["id"], "title": "T", "body": "B"}),
            ("PATCH", f"responses/{refund['id']}", {"title": "Mine"}),
            ("DELETE", f"responses/{refund['id']}", None),
        ]
        for method, path, body in attempts:
            response = await stranger.request(method, path, json=body)
            assert problem_code(response) == (404, "not_found"), (method, path)
        assert names(await editor.categories()) == ["Billing"]
        assert await editor.responses() == [refund]

    @pytest.mark.parametrize("who", ["tenant_admin", "tenant_staff"])
    async def test_tenant_staff_are_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        billing: dict[str, Any],
        who: str,
    ) -> None:
        staff = await canned_api(client, factory, getattr(world, who))
        for method, path, body in (
            ("GET", "categories", None),
            ("GET", "responses", None),
            ("POST", "categories", {"name": "Ours"}),
            ("DELETE", f"categories/{billing['id']}", None),
        ):
            response = await staff.request(method, path, json=body)
            assert problem_code(response) == (403, "permission_denied"), (method, path)

    async def test_end_users_and_strangers_are_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World, billing: dict[str, Any]
    ) -> None:
        end_user = CannedApi(client, factory.end_user_headers(world.tenant))
        assert problem_code(await end_user.request("GET", "categories")) == (
            403,
            "permission_denied",
        )
        assert (await end_user.request("POST", "categories", json={"name": "X"})).status_code == 403
        nobody = CannedApi(client, {})
        assert problem_code(await nobody.request("GET", "responses")) == (401, "unauthenticated")


class TestFilledText:
    @pytest.fixture
    async def billing(self, editor: CannedApi) -> dict[str, Any]:
        return await editor.category("Billing")

    async def filled(
        self, api: CannedApi, editor: CannedApi, conversation_id: str, body: str
    ) -> str:
        category = (await editor.categories())[0]
        created = await editor.response(category, f"T{len(await editor.responses())}", body)
        response = await api.filled(conversation_id, created["id"])
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"text"}
        return response.json()["text"]

    async def test_the_three_placeholders_are_filled_for_the_caller(
        self,
        client: httpx.AsyncClient,
        world: World,
        editor: CannedApi,
        reader: CannedApi,
        billing: dict[str, Any],
    ) -> None:
        conversation_id = await conversation_with(client, world, "Mia Jensen")
        body = "Hi {{end_user.name}}, I am {{ agent.name }} from {{channel.name  }}. {{agent.name}}"
        channel = world.a.channel.name
        for api, agent in ((reader, world.a.agent.name), (editor, world.a.admin.name)):
            text = await self.filled(api, editor, conversation_id, body)
            assert text == f"Hi Mia Jensen, I am {agent} from {channel}. {agent}"

    async def test_other_braces_stay_as_written(
        self,
        client: httpx.AsyncClient,
        world: World,
        editor: CannedApi,
        reader: CannedApi,
        billing: dict[str, Any],
    ) -> None:
        conversation_id = await conversation_with(client, world, "Mia")
        untouched = [
            "Order {{order.id}} for {{ end_user.email }}",
            "{{end_user.name} and {end_user.name}} and {{ end_user.name",
            "{{END_USER.NAME}} {{end_user name}} {{}} {{ }}",
            "{% if x %}{{ 7*7 }}{% endif %} ${agent.name} {agent.name}",
        ]
        for body in untouched:
            assert await self.filled(reader, editor, conversation_id, body) == body
        mixed = await self.filled(reader, editor, conversation_id, "{{{end_user.name}}}!")
        assert mixed == "{Mia}!"

    async def test_a_name_that_looks_like_a_placeholder_is_not_filled_again(
        self,
        client: httpx.AsyncClient,
        world: World,
        editor: CannedApi,
        reader: CannedApi,
        billing: dict[str, Any],
    ) -> None:
        conversation_id = await conversation_with(client, world, "{{agent.name}}")
        text = await self.filled(reader, editor, conversation_id, "Dear {{end_user.name}}")
        assert text == "Dear {{agent.name}}"

    async def test_another_partners_conversation_or_response_is_not_found(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        editor: CannedApi,
        reader: CannedApi,
        billing: dict[str, Any],
    ) -> None:
        ours = await conversation_with(client, world, "Mia")
        theirs = await conversation_with(client, world, "Noah", side="b")
        foreign_tenant = await conversation_with(client, world, "Olga", side="other")
        mine = await editor.response(billing, "Hello", "Hi {{end_user.name}}")
        elsewhere = await canned_api(client, factory, world.b.admin)
        their_response = await elsewhere.response(await elsewhere.category("B"), "Hi", "Hi")

        for conversation_id, response_id in (
            (theirs, mine["id"]),
            (foreign_tenant, mine["id"]),
            (ours, their_response["id"]),
            (ours, "0190d3c8-0000-7000-8000-000000000000"),
        ):
            response = await reader.filled(conversation_id, response_id)
            assert problem_code(response) == (404, "not_found"), (conversation_id, response_id)
        assert (await reader.filled(ours, mine["id"])).json() == {"text": "Hi Mia"}

    async def test_tenant_staff_and_end_users_are_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        editor: CannedApi,
        billing: dict[str, Any],
    ) -> None:
        conversation_id = await conversation_with(client, world, "Mia")
        created = await editor.response(billing, "Hello", "Hi")
        for headers in (
            await factory.headers(world.tenant_admin),
            factory.end_user_headers(world.tenant),
        ):
            response = await CannedApi(client, headers).filled(conversation_id, created["id"])
            assert problem_code(response) == (403, "permission_denied")


class TestContract:
    async def test_the_served_document_lists_the_routes_and_fields(
        self, client: httpx.AsyncClient
    ) -> None:
        document = (await client.get("/openapi.json")).json()
        paths = document["paths"]
        for path, methods in (
            ("/api/v1/canned/categories", {"get", "post"}),
            ("/api/v1/canned/categories/{category_id}", {"patch", "delete"}),
            ("/api/v1/canned/responses", {"get", "post"}),
            ("/api/v1/canned/responses/{response_id}", {"patch", "delete"}),
            ("/api/v1/conversations/{conversation_id}/canned/{response_id}", {"get"}),
        ):
            assert set(paths[path]) == methods, path
        schemas = document["components"]["schemas"]
        assert set(schemas["CannedCategory"]["properties"]) == {
            "id", "name", "position", "response_count", "created_at",
        }  # fmt: skip
        assert set(schemas["CannedCategoryCreate"]["properties"]) == {"name", "position"}
        assert set(schemas["CannedResponse"]["properties"]) == {
            "id", "category_id", "title", "body", "shortcode", "created_at", "updated_at",
        }  # fmt: skip
        assert set(schemas["CannedResponseCreate"]["properties"]) == {
            "category_id", "title", "body", "shortcode",
        }  # fmt: skip
        assert set(schemas["FilledText"]["properties"]) == {"text"}
        search = paths["/api/v1/canned/responses"]["get"]["parameters"]
        assert {p["name"] for p in search} == {"q", "category_id", "limit", "cursor"}
