"""The chat pages as served: the agents' console shell, switching chat on and off on the partner
home (HD-1), and the end users' demo app."""

import httpx
import pytest

from relaydesk.auth.permissions import Role
from relaydesk.config import Settings
from relaydesk.tenancy.models import Channel
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.web.test_pages import alerts, csrf_from_body, hidden_input, redirect_target, signed_in

CHAT_WARNING = (
    "Once you enable chat you might start receiving many messages from your followers, "
    "especially if you have recently sent them a notification about free products, discounts "
    "or promotions. Finish necessary preparations (e.g. who will be responsible for responding "
    "to the end users) before you open chat to your followers."
)


def module_scripts(document: Element) -> list[str]:
    return [
        script.attrs["src"].rsplit("/", 1)[-1]
        for script in document.find_all("script")
        if script.attrs.get("type") == "module"
    ]


def assert_no_inline_code(document: Element) -> None:
    for script in document.find_all("script"):
        assert script.attrs.get("src"), script
        assert script.text() == "", script
    assert document.find_all("style") == []
    assert not [e for e in document.iter() if "style" in e.attrs]
    assert not [e for e in document.iter() if any(a.startswith("on") for a in e.attrs)]


def switch_form(document: Element, channel: Channel) -> Element:
    return document.find("form", {"action": f"/partner/channels/{channel.id}/chat"})


async def chat_enabled(client: httpx.AsyncClient, factory: Factory, world: World, channel) -> bool:
    response = await client.get(
        f"/api/v1/channels/{channel.id}", headers=await factory.headers(world.a.admin)
    )
    assert response.status_code == 200, response.text
    return response.json()["chat_enabled"]


class TestDesk:
    async def test_an_agent_gets_the_console_shell(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        response = await client.get("/desk")
        assert response.status_code == 200
        assert "no-store" in response.headers["cache-control"]
        document = parse(response)
        assert document.find("h1").text() == "Chat"
        desk = document.find("div", {"id": "desk"})
        assert desk.attrs["data-agent-id"] == str(world.a.agent.id)
        tabs = [tab.own_text() for tab in desk.find_all("button", {"role": "tab"})]
        assert tabs == ["My chats", "Unanswered", "Active", "Finished"]
        assert desk.find("input", {"id": "inbox-search"}).attrs["type"] == "search"
        assert desk.find("ul", {"id": "conversations"})
        assert desk.find("button", {"id": "finish"}).text() == "Finish conversation"
        assert desk.find("textarea", {"id": "composer-text"})
        assert module_scripts(document) == ["desk.js"]
        token = document.find("meta", {"name": "csrf-token"}).attrs["content"]
        assert token == csrf_from_body(document)
        assert_no_inline_code(document)

    async def test_the_channel_filter_lists_only_the_partners_channels(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        quiet = await factory.channel(world.a.partner)
        await signed_in(client, factory, settings, world.a.agent)
        response = await client.get("/desk")
        options = parse(response).find("select", {"id": "channel-filter"}).find_all("option")
        assert [(o.attrs["value"], o.text()) for o in options] == [
            ("", "All channels"),
            *sorted([(str(c.id), c.name) for c in (world.a.channel, quiet)], key=lambda o: o[1]),
        ]
        assert world.b.channel.name not in response.text
        assert world.other.channel.name not in response.text

    @pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.TENANT_STAFF])
    async def test_tenant_staff_get_403(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        response = await client.get("/desk")
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"

    async def test_without_a_session_it_asks_to_sign_in(self, client: httpx.AsyncClient) -> None:
        assert redirect_target(await client.get("/desk")) == "/login?next=/desk"


class TestChatSwitch:
    async def test_the_channel_list_offers_each_channel_the_other_state(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        quiet = await factory.channel(world.a.partner)
        await signed_in(client, factory, settings, world.a.admin)
        document = parse(await client.get("/partner"))

        disable = switch_form(document, world.a.channel)
        assert disable.find("button").text() == "Disable chat"
        assert hidden_input(disable, "enabled") == "false"
        assert "hx-confirm" not in disable.attrs

        enable = switch_form(document, quiet)
        assert enable.attrs["method"] == "post"
        assert enable.attrs["hx-post"] == enable.attrs["action"]
        assert enable.find("button").text() == "Enable chat"
        assert hidden_input(enable, "enabled") == "true"
        assert hidden_input(enable, "csrf_token") == csrf_from_body(document)
        assert enable.attrs["hx-confirm"] == CHAT_WARNING
        assert enable.attrs["hx-vals"] == '{"confirmed": "true"}'
        assert_no_inline_code(document)

    async def test_disabling_by_plain_form_goes_back_to_the_partner_home(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        form = switch_form(parse(await client.get("/partner")), world.a.channel)
        response = await client.post(
            form.attrs["action"],
            data={"enabled": "false", "csrf_token": hidden_input(form, "csrf_token")},
        )
        assert redirect_target(response) == "/partner"
        assert await chat_enabled(client, factory, world, world.a.channel) is False

    async def test_enabling_by_plain_form_shows_the_warning_first(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        quiet = await factory.channel(world.a.partner)
        await signed_in(client, factory, settings, world.a.admin)
        form = switch_form(parse(await client.get("/partner")), quiet)
        token = hidden_input(form, "csrf_token")

        response = await client.post(
            form.attrs["action"], data={"enabled": "true", "csrf_token": token}
        )
        assert response.status_code == 200
        page = parse(response)
        assert alerts(page) == [CHAT_WARNING]
        confirm = page.find("form", {"action": form.attrs["action"]})
        assert hidden_input(confirm, "confirmed") == "true"
        assert confirm.find("button").text() == "Enable chat"
        assert await chat_enabled(client, factory, world, quiet) is False

        response = await client.post(
            confirm.attrs["action"],
            data={
                "enabled": "true",
                "confirmed": "true",
                "csrf_token": hidden_input(confirm, "csrf_token"),
            },
        )
        assert redirect_target(response) == "/partner"
        assert await chat_enabled(client, factory, world, quiet) is True

    async def test_htmx_gets_the_updated_channel_list(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        quiet = await factory.channel(world.a.partner)
        await signed_in(client, factory, settings, world.a.admin)
        token = csrf_from_body(parse(await client.get("/partner")))
        response = await client.post(
            f"/partner/channels/{quiet.id}/chat",
            data={"enabled": "true", "confirmed": "true"},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert response.status_code == 200
        fragment = parse(response)
        assert fragment.find_all("body") == []
        form = switch_form(fragment.find("section", {"id": "channels"}), quiet)
        assert form.find("button").text() == "Disable chat"
        assert await chat_enabled(client, factory, world, quiet) is True

    async def test_an_agent_may_not_switch_chat(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        token = csrf_from_body(parse(await client.get("/desk")))
        response = await client.post(
            f"/partner/channels/{world.a.channel.id}/chat",
            data={"enabled": "false", "csrf_token": token},
        )
        assert response.status_code == 403
        assert "chat.manage" in parse(response).find("main").text()
        assert await chat_enabled(client, factory, world, world.a.channel) is True

    async def test_another_partners_channel_is_not_found(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.b.admin)
        token = csrf_from_body(parse(await client.get("/partner")))
        response = await client.post(
            f"/partner/channels/{world.a.channel.id}/chat",
            data={"enabled": "false", "csrf_token": token},
        )
        assert response.status_code == 404
        assert await chat_enabled(client, factory, world, world.a.channel) is True

    async def test_without_the_csrf_token_nothing_changes(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        response = await client.post(
            f"/partner/channels/{world.a.channel.id}/chat", data={"enabled": "false"}
        )
        assert response.status_code == 403
        assert await chat_enabled(client, factory, world, world.a.channel) is True


class TestEndUserApp:
    async def test_it_renders_without_signing_in(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/app")
        assert response.status_code == 200
        document = parse(response)
        assert document.find("h1").text() == "Your app"
        assert document.find("form", {"id": "token-form"}).find("textarea")
        assert document.find("ul", {"id": "followed"})
        assert document.find("p", {"id": "chat-unavailable"}).text() == "Chat is unavailable"
        assert document.find_all("nav") == []
        assert document.find_all("meta", {"name": "csrf-token"}) == []
        assert module_scripts(document) == ["enduser.js"]
        assert_no_inline_code(document)

    async def test_a_staff_session_changes_nothing(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        document = parse(await client.get("/app"))
        assert document.find_all("nav") == []
        assert world.a.agent.name not in document.text()

    @pytest.mark.parametrize(
        "module",
        [
            "desk.js",
            "desk-inbox.js",
            "desk-thread.js",
            "enduser.js",
            "chat-api.js",
            "chat-socket.js",
            "chat-thread.js",
            "chat-dom.js",
        ],
    )
    async def test_the_scripts_are_served_as_javascript(
        self, client: httpx.AsyncClient, module: str
    ) -> None:
        response = await client.get(f"/static/{module}")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        assert "innerHTML" not in response.text
