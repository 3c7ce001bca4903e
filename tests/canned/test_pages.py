"""The canned-responses settings page: its two tabs, read-only for agents, and changes made
through its forms with htmx and without."""

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from relaydesk.config import Settings
from tests.canned.conftest import CannedApi, canned_api
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.web.test_pages import alerts, csrf_from_body, redirect_target, signed_in

CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."
TITLE_HINT = "Give the response a title of at most 200 characters."
TEXT_HINT = "Write the response's text, at most 4,000 characters."
SHORTCUT_HINT = "A shortcut is up to 50 letters, digits, “-” or “_”."


def category_items(document: Element) -> list[Element]:
    return document.find_all("li", {"class": "canned-category"})


def category_names(document: Element) -> list[str]:
    return [
        item.find("span", {"class": "canned-category-name"}).text()
        for item in category_items(document)
    ]


def category_item(document: Element, name: str) -> Element:
    (item,) = [
        item
        for item in category_items(document)
        if item.find("span", {"class": "canned-category-name"}).text() == name
    ]
    return item


def response_items(element: Element) -> list[Element]:
    return element.find_all("li", {"class": "canned-response"})


def response_titles(element: Element) -> list[str]:
    return [
        item.find("p", {"class": "canned-response-title"}).find("strong").text()
        for item in response_items(element)
    ]


def labelled(element: Element, tag: str) -> dict[str, Element]:
    """`tag` elements by their aria-label."""
    return {e.attrs["aria-label"]: e for e in element.find_all(tag) if "aria-label" in e.attrs}


def post_forms(element: Element) -> list[Element]:
    return [form for form in element.find_all("form") if form.attrs.get("method") == "post"]


def form_values(form: Element) -> dict[str, str]:
    """What submitting `form` sends: its inputs' values, its textareas' text and the options
    selected."""
    values = {
        field.attrs["name"]: field.attrs.get("value", "")
        for field in form.find_all("input")
        if "name" in field.attrs
    }
    for textarea in form.find_all("textarea"):
        values[textarea.attrs["name"]] = "".join(c for c in textarea.children if isinstance(c, str))
    for select in form.find_all("select"):
        options = select.find_all("option")
        chosen = [o for o in options if "selected" in o.attrs] or options[:1]
        values[select.attrs["name"]] = chosen[0].attrs["value"]
    return values


class Desk:
    """A signed-in browser session on the settings page, posting as its forms do."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token = ""

    async def open(self, **params: str) -> Element:
        response = await self.client.get("/desk/canned", params=params)
        assert response.status_code == 200, response.text[:300]
        document = parse(response)
        self.token = csrf_from_body(document)
        return document

    async def htmx(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            path, data=data, headers={"X-CSRF-Token": self.token, "HX-Request": "true"}
        )

    async def fragment(self, path: str, data: dict[str, Any]) -> Element:
        """Posts like htmx does and returns the panel it answers with."""
        response = await self.htmx(path, data)
        assert response.status_code == 200, response.text[:300]
        assert not response.text.lstrip().startswith("<!doctype")
        fragment = parse(response)
        assert fragment.find_all("body") == []
        return fragment.find("div", {"id": "canned-panel"})


@pytest.fixture
async def library(editor: CannedApi) -> dict[str, dict[str, Any]]:
    billing = await editor.category("Billing")
    shipping = await editor.category("Shipping")
    await editor.category("Empty")
    return {
        "billing": billing,
        "shipping": shipping,
        "refund": await editor.response(
            billing,
            "Refund",
            "Hi {{end_user.name}}, your refund is on its way.",
            shortcode="refund",
        ),
        "invoice": await editor.response(billing, "Invoice", "Your invoice is attached."),
        "late": await editor.response(shipping, "Late parcel", "Sorry for the wait."),
    }


@pytest.fixture
async def admin_desk(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Desk:
    await signed_in(client, factory, settings, world.a.admin)
    return Desk(client)


@pytest.fixture
async def agent_desk(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Desk:
    await signed_in(client, factory, settings, world.a.agent)
    return Desk(client)


class TestCategoryTab:
    async def test_an_admin_sees_the_categories_in_order_with_their_responses(
        self, admin_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open()
        assert document.find("h1").text() == "Canned responses"
        tabs = document.find("nav", {"aria-label": "Canned responses"}).find_all("a")
        assert [(a.text(), a.attrs.get("aria-current")) for a in tabs] == [
            ("Category", "page"),
            ("Responses", None),
        ]
        assert category_names(document) == ["Billing", "Shipping", "Empty"]
        billing = category_item(document, "Billing")
        assert billing.find("summary").text() == "Billing 2 responses"
        assert response_titles(billing) == ["Invoice", "Refund"]
        refund = response_items(billing)[1]
        assert "Hi {{end_user.name}}, your refund is on its way." in refund.text()
        assert "Shortcut /refund" in refund.text()
        assert "No shortcut" in response_items(billing)[0].text()
        assert category_item(document, "Shipping").find("summary").text() == "Shipping 1 response"
        assert "No responses in this category yet." in category_item(document, "Empty").text()

    async def test_an_admin_gets_every_control(
        self, admin_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open()
        assert document.find("form", {"action": "/desk/canned/categories"})
        billing = category_item(document, "Billing")
        buttons = labelled(billing, "button")
        assert "disabled" in buttons["Move Billing up"].attrs
        assert "disabled" not in buttons["Move Billing down"].attrs
        assert buttons["Move Billing down"].attrs["value"] == "1"
        assert (
            "disabled"
            in labelled(category_item(document, "Empty"), "button")["Move Empty down"].attrs
        )
        delete = buttons["Delete Billing"].attrs
        assert delete["title"] == "Delete"
        confirm = [form.attrs.get("hx-confirm") for form in billing.find_all("form")]
        assert "Delete the category “Billing” and its 2 responses?" in confirm
        assert "Delete the response “Refund”?" in confirm
        empty = category_item(document, "Empty")
        assert "Delete the category “Empty”?" in [
            f.attrs.get("hx-confirm") for f in empty.find_all("form")
        ]
        summaries = labelled(billing, "summary")
        assert {"Rename Billing", "Edit Invoice", "Edit Refund"} <= set(summaries)
        assert "+ Add new response" in [s.text() for s in billing.find_all("summary")]

    async def test_an_agent_sees_the_same_lists_without_controls(
        self, agent_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await agent_desk.open()
        content = document.find("main")
        assert category_names(document) == ["Billing", "Shipping", "Empty"]
        assert response_titles(category_item(document, "Billing")) == ["Invoice", "Refund"]
        assert post_forms(content) == []
        assert labelled(content, "button") == {}
        assert labelled(content, "summary") == {}
        assert "+ Add new response" not in content.text()
        assert "A partner admin can change them." in content.text()

    async def test_only_the_own_partners_categories_show(
        self,
        admin_desk: Desk,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        library: dict[str, dict[str, Any]],
    ) -> None:
        other = await canned_api(client, factory, world.b.admin)
        await other.response(await other.category("Theirs"), "Secret", "Not for you")
        document = await admin_desk.open()
        assert category_names(document) == ["Billing", "Shipping", "Empty"]
        assert "Secret" not in document.find("main").text()

    async def test_without_categories_the_page_says_how_to_start(self, admin_desk: Desk) -> None:
        document = await admin_desk.open()
        assert category_items(document) == []
        assert "No categories yet. Create the first one above." in document.find("main").text()

    @pytest.mark.parametrize("who", ["tenant_admin", "tenant_staff"])
    async def test_tenant_staff_get_no_access(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        who: str,
    ) -> None:
        await signed_in(client, factory, settings, getattr(world, who))
        response = await client.get("/desk/canned")
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"


class TestResponsesTab:
    async def test_every_response_with_its_category(
        self, agent_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await agent_desk.open(tab="responses")
        tabs = document.find("nav", {"aria-label": "Canned responses"}).find_all("a")
        assert [a.attrs.get("aria-current") for a in tabs] == [None, "page"]
        results = document.find("div", {"id": "canned-results"})
        assert response_titles(results) == ["Invoice", "Late parcel", "Refund"]
        badges = [item.find("span", {"class": "badge"}).text() for item in response_items(results)]
        assert badges == ["Billing", "Shipping", "Billing"]
        assert results.find("p", {"role": "status"}).text() == "3 responses"
        options = document.find("select", {"name": "in_category"}).find_all("option")
        assert [o.text() for o in options] == ["All categories", "Billing", "Shipping", "Empty"]
        assert post_forms(document.find("main")) == []

    async def test_search_and_category_filter(
        self, agent_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await agent_desk.open(tab="responses", q="REF")
        assert response_titles(document.find("div", {"id": "canned-results"})) == ["Refund"]
        assert document.find("input", {"name": "q"}).attrs["value"] == "REF"

        shipping = str(library["shipping"]["id"])
        document = await agent_desk.open(tab="responses", in_category=shipping)
        assert response_titles(document.find("div", {"id": "canned-results"})) == ["Late parcel"]
        selected = document.find("option", {"value": shipping})
        assert "selected" in selected.attrs

        document = await agent_desk.open(tab="responses", q="nothing like it")
        results = document.find("div", {"id": "canned-results"})
        assert response_items(results) == []
        assert results.find("p", {"role": "status"}).text() == "No responses match."

    async def test_htmx_gets_the_panel_alone(
        self, agent_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        await agent_desk.open()
        response = await agent_desk.client.get(
            "/desk/canned", params={"tab": "responses", "q": "wait"}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200
        fragment = parse(response)
        assert fragment.find_all("body") == []
        assert response_titles(fragment.find("div", {"id": "canned-results"})) == ["Late parcel"]

    async def test_an_unknown_tab_or_filter_shows_the_categories(
        self, agent_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await agent_desk.open(tab="other", in_category="not-an-id")
        assert category_names(document) == ["Billing", "Shipping", "Empty"]


class TestCategoryChanges:
    async def test_creating_a_category(self, admin_desk: Desk, editor: CannedApi) -> None:
        await admin_desk.open()
        panel = await admin_desk.fragment("/desk/canned/categories", {"name": "  Billing  "})
        assert category_names(panel) == ["Billing"]
        assert alerts(panel) == []
        panel = await admin_desk.fragment("/desk/canned/categories", {"name": "Shipping"})
        assert category_names(panel) == ["Billing", "Shipping"]
        assert [c["name"] for c in await editor.categories()] == ["Billing", "Shipping"]

    async def test_a_taken_name_is_shown_in_the_form(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        panel = await admin_desk.fragment("/desk/canned/categories", {"name": "BILLING"})
        form = panel.find("form", {"action": "/desk/canned/categories"})
        assert alerts(form) == ["A category named “BILLING” already exists."]
        field = form.find("input", {"name": "name"})
        assert field.attrs["value"] == "BILLING"
        assert field.attrs["aria-invalid"] == "true"
        assert field.attrs["aria-describedby"] == form.find("p", {"role": "alert"}).attrs["id"]
        assert category_names(panel) == ["Billing", "Shipping", "Empty"]
        assert len(await editor.categories()) == 3

    @pytest.mark.parametrize("name", ["", "   ", "x" * 101])
    async def test_a_bad_name_is_explained_in_the_form(
        self, admin_desk: Desk, editor: CannedApi, name: str
    ) -> None:
        await admin_desk.open()
        panel = await admin_desk.fragment("/desk/canned/categories", {"name": name})
        form = panel.find("form", {"action": "/desk/canned/categories"})
        assert alerts(form) == ["Give the category a name of at most 100 characters."]
        assert await editor.categories() == []

    async def test_renaming_and_a_taken_name(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        shipping = f"/desk/canned/categories/{library['shipping']['id']}"
        panel = await admin_desk.fragment(shipping, {"name": "Delivery"})
        assert category_names(panel) == ["Billing", "Delivery", "Empty"]

        panel = await admin_desk.fragment(shipping, {"name": "billing"})
        (edit,) = [
            details
            for details in category_item(panel, "Delivery").find_all("details")
            if details.find("summary").attrs.get("aria-label") == "Rename Delivery"
        ]
        assert "open" in edit.attrs
        assert alerts(edit) == ["A category named “billing” already exists."]
        assert edit.find("input", {"name": "name"}).attrs["value"] == "billing"
        assert [c["name"] for c in await editor.categories()] == ["Billing", "Delivery", "Empty"]

    async def test_moving_up_and_down(
        self, admin_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open()
        down = labelled(category_item(document, "Billing"), "button")["Move Billing down"]
        move = f"/desk/canned/categories/{library['billing']['id']}/move"
        panel = await admin_desk.fragment(move, {"position": down.attrs["value"]})
        assert category_names(panel) == ["Shipping", "Billing", "Empty"]
        up = labelled(category_item(panel, "Empty"), "button")["Move Empty up"]
        empty = category_item(panel, "Empty")
        panel = await admin_desk.fragment(
            f"/desk/canned/categories/{empty.attrs['id'].removeprefix('category-')}/move",
            {"position": up.attrs["value"]},
        )
        assert category_names(panel) == ["Shipping", "Empty", "Billing"]

    async def test_deleting_takes_the_responses_along(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        path = f"/desk/canned/categories/{library['billing']['id']}/delete"
        panel = await admin_desk.fragment(path, {"confirmed": "true"})
        assert category_names(panel) == ["Shipping", "Empty"]
        assert [r["title"] for r in await editor.responses()] == ["Late parcel"]

    async def test_a_category_deleted_meanwhile_is_reported_above_the_lists(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        await editor.request("DELETE", f"categories/{library['billing']['id']}")
        panel = await admin_desk.fragment(
            f"/desk/canned/categories/{library['billing']['id']}", {"name": "Again"}
        )
        assert alerts(panel) == ["No such category."]
        assert category_names(panel) == ["Shipping", "Empty"]


class TestResponseChanges:
    async def test_adding_a_response_keeps_its_category_open(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open()
        form = category_item(document, "Shipping").find(
            "form", {"action": "/desk/canned/responses"}
        )
        data = form_values(form) | {
            "title": "Customs",
            "body": "Duties are on us.",
            "shortcode": "/Customs",
        }
        panel = await admin_desk.fragment("/desk/canned/responses", data)
        shipping = category_item(panel, "Shipping")
        assert "open" in shipping.find("details", {"class": "canned-expand"}).attrs
        assert "open" not in category_item(panel, "Billing").find("details").attrs
        assert response_titles(shipping) == ["Customs", "Late parcel"]
        assert shipping.find("summary").text() == "Shipping 2 responses"
        assert "Shortcut /customs" in shipping.text()
        assert [r["shortcode"] for r in await editor.responses(q="customs")] == ["customs"]

    @pytest.mark.parametrize(
        ("fields", "reason", "field"),
        [
            ({"title": "  "}, TITLE_HINT, "title"),
            ({"body": ""}, TEXT_HINT, "body"),
            ({"body": "x" * 4001}, TEXT_HINT, "body"),
            ({"shortcode": "two words"}, SHORTCUT_HINT, "shortcode"),
            ({"title": "refund"}, "This category already has a response titled “refund”.", "title"),
            (
                {"shortcode": "REFUND"},
                "The shortcut /refund belongs to another response.",
                "shortcode",
            ),
        ],
    )
    async def test_a_refused_response_is_shown_again_with_the_reason(
        self,
        admin_desk: Desk,
        editor: CannedApi,
        library: dict[str, dict[str, Any]],
        fields: dict[str, str],
        reason: str,
        field: str,
    ) -> None:
        document = await admin_desk.open()
        form = category_item(document, "Billing").find("form", {"action": "/desk/canned/responses"})
        data = form_values(form) | {"title": "New", "body": "Some text", "shortcode": ""} | fields
        panel = await admin_desk.fragment("/desk/canned/responses", data)
        billing = category_item(panel, "Billing")
        add = billing.find("details", {"class": "canned-add"})
        assert "open" in add.attrs
        assert "open" in billing.find("details", {"class": "canned-expand"}).attrs
        assert alerts(add) == [reason]
        shown = form_values(add.find("form"))
        assert {name: shown[name] for name in ("title", "body", "shortcode")} == {
            name: data[name] for name in ("title", "body", "shortcode")
        }
        invalid = [e.attrs["name"] for e in add.iter() if e.attrs.get("aria-invalid") == "true"]
        assert invalid == [field]
        assert len(await editor.responses()) == 3

    async def test_four_thousand_characters_are_accepted(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        data = {
            "category_id": library["billing"]["id"],
            "open_category": library["billing"]["id"],
            "title": "Long",
            "body": "x" * 4000,
        }
        panel = await admin_desk.fragment("/desk/canned/responses", data)
        assert alerts(panel) == []
        assert [len(r["body"]) for r in await editor.responses(q="Long")] == [4000]

    async def test_editing_a_response_and_moving_it(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open()
        refund = library["refund"]
        path = f"/desk/canned/responses/{refund['id']}"
        form = document.find("form", {"action": path})
        assert form.find("option", {"value": refund["category_id"]}).attrs.get("selected") == ""
        data = form_values(form) | {
            "category_id": library["shipping"]["id"],
            "title": "Refunds",
            "shortcode": "",
        }
        panel = await admin_desk.fragment(path, data)
        shipping = category_item(panel, "Shipping")
        assert "open" in shipping.find("details", {"class": "canned-expand"}).attrs
        assert response_titles(shipping) == ["Late parcel", "Refunds"]
        assert response_titles(category_item(panel, "Billing")) == ["Invoice"]
        (changed,) = await editor.responses(q="Refunds")
        assert changed | {"updated_at": None} == refund | {
            "category_id": library["shipping"]["id"],
            "title": "Refunds",
            "shortcode": None,
            "updated_at": None,
        }

    async def test_deleting_a_response(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        path = f"/desk/canned/responses/{library['invoice']['id']}/delete"
        panel = await admin_desk.fragment(
            path, {"confirmed": "true", "open_category": library["billing"]["id"]}
        )
        billing = category_item(panel, "Billing")
        assert response_titles(billing) == ["Refund"]
        assert "open" in billing.find("details", {"class": "canned-expand"}).attrs
        assert [r["title"] for r in await editor.responses()] == ["Late parcel", "Refund"]

    async def test_changes_on_the_responses_tab_answer_with_that_tab(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open(tab="responses", q="re")
        path = f"/desk/canned/responses/{library['refund']['id']}"
        form = document.find("form", {"action": path})
        assert (form_values(form)["tab"], form_values(form)["q"]) == ("responses", "re")
        panel = await admin_desk.fragment(path, form_values(form) | {"title": "Refund now"})
        results = panel.find("div", {"id": "canned-results"})
        assert response_titles(results) == ["Refund now"]
        assert panel.find("input", {"name": "q"}).attrs["value"] == "re"


class TestWithoutHtmx:
    async def test_a_change_redirects_back_to_the_tab(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        document = await admin_desk.open(tab="responses", q="late")
        form = document.find("form", {"action": f"/desk/canned/responses/{library['late']['id']}"})
        response = await admin_desk.client.post(
            form.attrs["action"], data=form_values(form) | {"title": "Delayed parcel"}
        )
        assert redirect_target(response) == "/desk/canned?tab=responses&q=late&in_category="
        assert [r["title"] for r in await editor.responses(q="parcel")] == ["Delayed parcel"]

    async def test_a_refused_change_shows_the_page_with_the_reason(
        self, admin_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        response = await admin_desk.client.post(
            "/desk/canned/categories", data={"name": "Billing", "csrf_token": admin_desk.token}
        )
        assert response.status_code == 422
        document = parse(response)
        assert document.find("h1").text() == "Canned responses"
        assert alerts(document) == ["A category named “Billing” already exists."]

    async def test_deleting_asks_on_a_page_first(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        path = f"/desk/canned/categories/{library['billing']['id']}/delete"
        response = await admin_desk.client.post(path, data={"csrf_token": admin_desk.token})
        assert response.status_code == 200
        document = parse(response)
        assert alerts(document) == ["Delete the category “Billing” and its 2 responses?"]
        assert len(await editor.categories()) == 3

        confirm = document.find("form", {"action": path})
        response = await admin_desk.client.post(path, data=form_values(confirm))
        assert redirect_target(response) == "/desk/canned?tab=categories"
        assert [c["name"] for c in await editor.categories()] == ["Shipping", "Empty"]

    async def test_deleting_a_response_asks_too(
        self, admin_desk: Desk, editor: CannedApi, library: dict[str, dict[str, Any]]
    ) -> None:
        await admin_desk.open()
        path = f"/desk/canned/responses/{library['refund']['id']}/delete"
        document = parse(await admin_desk.client.post(path, data={"csrf_token": admin_desk.token}))
        assert alerts(document) == ["Delete the response “Refund”?"]
        response = await admin_desk.client.post(
            path, data=form_values(document.find("form", {"action": path}))
        )
        assert redirect_target(response) == "/desk/canned?tab=categories"
        assert [r["title"] for r in await editor.responses()] == ["Invoice", "Late parcel"]


class TestRefusals:
    @pytest.mark.parametrize(
        ("path", "data"),
        [
            ("/desk/canned/categories", {"name": "Mine"}),
            ("/desk/canned/categories/{billing}", {"name": "Mine"}),
            ("/desk/canned/categories/{billing}/move", {"position": "2"}),
            ("/desk/canned/categories/{billing}/delete", {"confirmed": "true"}),
            ("/desk/canned/responses", {"category_id": "{billing}", "title": "T", "body": "B"}),
            ("/desk/canned/responses/{refund}", {"title": "Mine", "body": "B"}),
            ("/desk/canned/responses/{refund}/delete", {"confirmed": "true"}),
        ],
    )
    async def test_an_agent_may_change_nothing(
        self,
        agent_desk: Desk,
        editor: CannedApi,
        library: dict[str, dict[str, Any]],
        path: str,
        data: dict[str, str],
    ) -> None:
        ids = {"billing": library["billing"]["id"], "refund": library["refund"]["id"]}
        await agent_desk.open()
        response = await agent_desk.htmx(
            path.format(**ids), {name: value.format(**ids) for name, value in data.items()}
        )
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"
        assert [c["name"] for c in await editor.categories()] == ["Billing", "Shipping", "Empty"]
        assert [r["title"] for r in await editor.responses()] == [
            "Invoice",
            "Late parcel",
            "Refund",
        ]

    async def test_a_post_without_the_csrf_token_is_refused(
        self, admin_desk: Desk, editor: CannedApi
    ) -> None:
        response = await admin_desk.client.post(
            "/desk/canned/categories", data={"name": "Sneaky"}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 403
        assert CSRF_REFUSED in parse(response).find("main").text()
        assert await editor.categories() == []

    async def test_another_partners_category_is_not_found(
        self,
        admin_desk: Desk,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
    ) -> None:
        other = await canned_api(client, factory, world.b.admin)
        theirs = await other.category("Theirs")
        await admin_desk.open()
        response = await admin_desk.client.post(
            f"/desk/canned/categories/{theirs['id']}/delete", data={"csrf_token": admin_desk.token}
        )
        assert response.status_code == 404
        panel = await admin_desk.fragment(
            f"/desk/canned/categories/{theirs['id']}/delete", {"confirmed": "true"}
        )
        assert alerts(panel) == ["No such category."]
        assert [c["name"] for c in await other.categories()] == ["Theirs"]


class TestPageSafety:
    async def test_the_pages_use_no_inline_script_or_style(
        self, admin_desk: Desk, library: dict[str, dict[str, Any]]
    ) -> None:
        documents = [await admin_desk.open(), await admin_desk.open(tab="responses")]
        desk = await admin_desk.client.get("/desk")
        documents.append(parse(desk))
        assert parse(desk).find("button", {"id": "canned-toggle"}).attrs["aria-label"] == (
            "Canned responses"
        )
        for document in documents:
            for script in document.find_all("script"):
                source = urlsplit(script.attrs["src"])
                assert source.netloc in ("", "testserver"), script
                assert source.path.startswith("/static/"), script
                assert script.text() == ""
            assert document.find_all("style") == []
            assert not [e for e in document.iter() if "style" in e.attrs]
            assert not [e for e in document.iter() if any(a.startswith("on") for a in e.attrs)]

    async def test_user_text_is_shown_as_text(self, admin_desk: Desk, editor: CannedApi) -> None:
        category = await editor.category("<b>Bold</b>")
        await editor.response(category, "<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
        document = await admin_desk.open()
        assert category_names(document) == ["<b>Bold</b>"]
        item = category_item(document, "<b>Bold</b>")
        assert response_titles(item) == ["<script>alert(1)</script>"]
        assert item.find_all("img") == [] and item.find_all("b") == []
        assert [s for s in document.find_all("script") if "src" not in s.attrs] == []
