"""Live chat in a real chromium: the agents' console at /desk and the end user's app at /app,
both against one live server, so every event travels over real sockets."""

import asyncio
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Dialog, Locator, Page, Route, WebSocketRoute, expect

from relaydesk.auth.models import StaffUser
from relaydesk.auth.service import end_user_token
from relaydesk.config import Settings
from relaydesk.tenancy.models import Channel
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

# The pages behave the same on every backend; the browser proves them once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

WARNING_START = "Once you enable chat you might start receiving many messages"


@dataclass
class Follower:
    """An end user following a channel, writing through the live server's API."""

    api: httpx.AsyncClient
    token: str
    channel: Channel

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def write(self, body: str) -> str:
        """Sends `body`; returns the conversation's id."""
        response = await self.api.post(
            f"/api/v1/channels/{self.channel.id}/chat/messages",
            json={"client_message_id": str(uuid.uuid4()), "body": body},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["conversation_id"]


async def new_follower(
    api: httpx.AsyncClient, world: World, name: str, channel: Channel | None = None
) -> Follower:
    channel = channel or world.a.channel
    token = end_user_token(
        world.tenant, sub=f"user-{uuid.uuid4().hex[:10]}", name=name, ttl_seconds=3600
    )
    follower = Follower(api, token, channel)
    response = await api.put(f"/api/v1/channels/{channel.id}/follow", headers=follower.headers)
    assert response.status_code == 204, response.text
    return follower


async def reply(
    api: httpx.AsyncClient, factory: Factory, agent: StaffUser, conversation_id: str, body: str
) -> None:
    response = await api.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_message_id": str(uuid.uuid4()), "body": body},
        headers=await factory.headers(agent),
    )
    assert response.status_code == 201, response.text


async def open_desk(
    page: Page, live_server: str, factory: Factory, settings: Settings, user: StaffUser
) -> None:
    await signed_in_browser(page, live_server, factory, settings, user)
    await page.goto(f"{live_server}/desk")
    await expect(page.get_by_role("status")).to_have_text("Live")


async def open_app(page: Page, live_server: str, follower: Follower) -> None:
    await page.goto(f"{live_server}/app#token={follower.token}")
    await expect(page.get_by_role("status")).to_have_text("Live")


def inbox(page: Page) -> Locator:
    return page.get_by_role("list", name="Conversations").get_by_role("listitem")


def tab(page: Page, label: str) -> Locator:
    return page.get_by_role("tab", name=re.compile(f"^{label}"))


def tab_count(page: Page, label: str) -> Locator:
    """How many chats the tab holds."""
    return tab(page, label).locator("[data-count]")


def tab_unread(page: Page, label: str) -> Locator:
    """How many of the tab's chats have messages the agent has not read (hidden at none)."""
    return tab(page, label).locator("[data-unread]")


def thread(page: Page) -> Locator:
    return page.get_by_role("region", name="Conversation")


def messages(page: Page) -> Locator:
    return page.get_by_role("list", name="Messages").get_by_role("listitem")


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


async def write(page: Page, text: str) -> None:
    await composer(page).fill(text)
    await composer(page).press("Enter")


async def started_chat(api: httpx.AsyncClient, world: World, name: str, body: str) -> Follower:
    follower = await new_follower(api, world, name)
    await follower.write(body)
    return follower


class TestLiveChat:
    async def test_a_new_chat_and_the_reply_travel_live_both_ways(
        self,
        page: Page,
        app_page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        agent_name = world.a.agent.name
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await expect(tab(page, "Unanswered")).to_have_attribute("aria-selected", "true")
        await expect(page.get_by_text("No chats here.")).to_be_visible()
        await expect(page.get_by_text("Pick a chat on the left")).to_be_visible()
        await expect(composer(page)).to_be_hidden()
        await expect(page.get_by_role("button", name="Finish conversation")).to_be_hidden()

        follower = await new_follower(api, world, "Mia")
        await open_app(app_page, live_server, follower)
        await expect(app_page.get_by_text("Signed in as Mia")).to_be_visible()
        await expect(app_page.get_by_label("End-user token")).to_be_hidden()
        assert "token=" not in app_page.url
        await app_page.get_by_role("button", name=world.a.channel.name).click()
        await write(app_page, "Is the shop open on Sunday?")

        chat = inbox(page).filter(has_text="Mia")
        await expect(chat).to_contain_text("Is the shop open on Sunday?")
        await expect(chat).to_contain_text(world.a.channel.name)
        await expect(chat.locator(".badge")).to_have_text("Unanswered")
        await expect(tab_count(page, "Unanswered")).to_have_text("1")

        await chat.click()
        await expect(thread(page).get_by_role("heading", name="Mia")).to_be_visible()
        await expect(messages(page)).to_have_count(1)
        await expect(messages(page)).to_contain_text("Is the shop open on Sunday?")
        await write(page, "Yes, from 10 to 16.")

        await expect(messages(app_page).last).to_contain_text("Yes, from 10 to 16.")
        await expect(messages(app_page).last).to_contain_text(agent_name)
        await expect(messages(page)).to_contain_text(
            [
                "Is the shop open on Sunday?",
                f"{agent_name} took the chat",
                "Yes, from 10 to 16.",
            ]
        )
        await expect(page.locator("#thread-status .owner")).to_have_text(agent_name)
        await expect(chat).to_have_count(0)
        await expect(tab_count(page, "Unanswered")).to_have_text("0")
        await expect(tab_count(page, "My chats")).to_have_text("1")

        await tab(page, "Active").click()
        await expect(chat.locator(".badge")).to_have_text("Active")
        await expect(chat.locator(".owner")).to_have_text(agent_name)
        await expect(chat).to_contain_text("Yes, from 10 to 16.")

        await write(app_page, "Great, thanks!")
        await expect(messages(page).last).to_contain_text("Great, thanks!")
        await expect(messages(page)).to_have_count(4)
        await page.screenshot(path=SCREENSHOTS / "desk.png")
        await app_page.screenshot(path=SCREENSHOTS / "app.png")
        assert page_errors == []

    async def test_taking_over_a_colleagues_chat_asks_first(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        colleague = world.a.admin
        conversation_id = await (await new_follower(api, world, "Noah")).write("My order is late")
        await reply(api, factory, colleague, conversation_id, "Let me check.")
        await open_desk(page, live_server, factory, settings, world.a.agent)

        await tab(page, "Active").click()
        chat = inbox(page).filter(has_text="Noah")
        await expect(chat.locator(".owner")).to_have_text(colleague.name)
        await chat.click()
        await expect(page.locator("#thread-status .owner")).to_have_text(colleague.name)

        asked: list[str] = []
        answers = iter([False, True])

        async def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await (dialog.accept() if next(answers) else dialog.dismiss())

        page.on("dialog", answer)
        await write(page, "I can help with that.")
        await expect(composer(page)).to_have_value("I can help with that.")
        assert asked == [f"This chat is handled by {colleague.name}. Take it over?"]
        await expect(messages(page)).to_have_count(3)

        await composer(page).press("Enter")
        await expect(messages(page).last).to_contain_text("I can help with that.")
        await expect(messages(page).nth(3)).to_have_text(
            re.compile(f"{world.a.agent.name} took the chat over from {colleague.name}")
        )
        await expect(page.locator("#thread-status .owner")).to_have_text(world.a.agent.name)
        await expect(chat.locator(".owner")).to_have_text(world.a.agent.name)
        await expect(composer(page)).to_have_value("")
        assert len(asked) == 2
        assert page_errors == []

    async def test_finishing_disables_the_composer_until_the_end_user_writes(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        agent = world.a.agent
        follower = await new_follower(api, world, "Ola")
        await reply(api, factory, agent, await follower.write("Hello?"), "Hi Ola!")
        await open_desk(page, live_server, factory, settings, world.a.agent)

        await tab(page, "My chats").click()
        chat = inbox(page).filter(has_text="Ola")
        await chat.click()
        await page.get_by_role("button", name="Finish conversation").click()

        await expect(composer(page)).to_be_disabled()
        await expect(page.get_by_text("The end user's next message reopens it.")).to_be_visible()
        await expect(page.get_by_role("button", name="Finish conversation")).to_be_hidden()
        await expect(messages(page).last).to_contain_text(f"{agent.name} finished the chat")
        await expect(chat).to_have_count(0)
        await tab(page, "Finished").click()
        await expect(chat).to_contain_text(f"Finished by {agent.name}")

        await follower.write("One more question")
        await expect(composer(page)).to_be_enabled()
        await expect(page.get_by_role("button", name="Finish conversation")).to_be_visible()
        await expect(messages(page).last).to_contain_text("One more question")
        await expect(chat).to_have_count(0)

        await page.reload()
        await expect(thread(page).get_by_role("heading", name="Ola")).to_be_visible()
        await expect(messages(page).last).to_contain_text("One more question")
        assert page_errors == []

    async def test_a_reply_whose_answer_was_lost_is_resent_with_the_same_id(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await started_chat(api, world, "Yara", "Hello?")
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await inbox(page).filter(has_text="Yara").click()
        await expect(messages(page)).to_have_count(1)
        sent: list[dict] = []

        async def lose_the_first_answer(route: Route) -> None:
            if route.request.method != "POST":
                await route.continue_()
                return
            sent.append(route.request.post_data_json)
            if len(sent) == 1:
                await route.fetch()
                await route.abort("connectionreset")
            else:
                await route.continue_()

        await page.route(
            re.compile(r"/api/v1/conversations/[^/]+/messages$"), lose_the_first_answer
        )
        async with page.expect_event(
            "requestfinished",
            lambda request: request.method == "POST" and request.url.endswith("/messages"),
        ):
            await write(page, "Sorry for the wait!")

        assert len(sent) == 2
        await expect(messages(page)).to_have_count(3)
        await expect(messages(page).last).to_contain_text("Sorry for the wait!")
        assert sent[0]["client_message_id"] == sent[1]["client_message_id"]
        await expect(thread(page).get_by_role("alert")).to_be_hidden()
        assert page_errors == []

    async def test_search_shows_the_matching_text_highlighted(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await started_chat(api, world, "Pia", "<b>Where</b> is my parcel, please?")
        await started_chat(api, world, "Rolf", "Do you sell gift cards?")
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await expect(inbox(page)).to_have_count(2)

        await page.get_by_label("Search").fill("parcel")
        await expect(inbox(page)).to_have_count(1)
        result = inbox(page).first
        await expect(result).to_contain_text("Pia")
        await expect(result.locator("mark")).to_have_text("parcel")
        await expect(result.locator(".snippet")).to_contain_text("<b>Where</b> is my parcel")
        await expect(page.get_by_text("Results for “parcel” in all chats")).to_be_visible()
        for label in ("My chats", "Unanswered", "Active", "Finished"):
            await expect(tab(page, label)).to_have_attribute("aria-selected", "false")

        await page.get_by_label("Search").fill("Rolf")
        await expect(inbox(page)).to_have_text([re.compile("Rolf.*gift cards")])
        await page.get_by_label("Search").fill("")
        await expect(inbox(page)).to_have_count(2)
        assert page_errors == []


class TestPaging:
    async def test_older_chats_and_messages_load_when_scrolled_to(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        """The console asks for 30 chats and 50 messages at a time."""
        talker = await new_follower(api, world, "Talker")
        for number in range(1, 61):
            await talker.write(f"message {number}")
        for number in range(1, 35):
            await started_chat(api, world, f"Quiet {number}", "Hello")
        await open_desk(page, live_server, factory, settings, world.a.agent)

        await expect(inbox(page)).to_have_count(30)
        await expect(tab_count(page, "Unanswered")).to_have_text("35")
        await inbox(page).last.scroll_into_view_if_needed()
        await expect(inbox(page)).to_have_count(35)
        await expect(inbox(page).last).to_contain_text("Talker")

        await inbox(page).last.click()
        await expect(messages(page)).to_have_count(50)
        await expect(messages(page).last).to_contain_text("message 60")
        await messages(page).first.scroll_into_view_if_needed()
        await expect(messages(page)).to_have_count(60)
        await expect(messages(page)).to_have_text(
            [re.compile(f"message {number}$") for number in range(1, 61)]
        )
        assert page_errors == []


class TestReconnecting:
    async def test_a_dropped_socket_reconnects_and_catches_up(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        sockets: list[WebSocketRoute] = []
        reconnect = asyncio.Event()

        async def route(socket: WebSocketRoute) -> None:
            sockets.append(socket)
            if len(sockets) == 1:
                socket.connect_to_server()
                return
            await reconnect.wait()
            server = socket.connect_to_server()
            # Every frame twice: the page must show each message once all the same.
            server.on_message(lambda frame: (socket.send(frame), socket.send(frame)))

        await page.route_web_socket(re.compile(r"/api/v1/ws$"), route)
        follower = await started_chat(api, world, "Sam", "first")
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await inbox(page).filter(has_text="Sam").click()
        await expect(messages(page)).to_have_count(1)

        await sockets[0].close(code=1013, reason="Too slow; reconnect and catch up.")
        await expect(page.get_by_role("status")).to_have_text("Reconnecting…")
        for body in ("second", "third"):
            await follower.write(body)
        await started_chat(api, world, "Tove", "hello from the gap")
        await expect(messages(page)).to_have_count(1)

        reconnect.set()
        await expect(page.get_by_role("status")).to_have_text("Live")
        await expect(messages(page)).to_have_text(
            [re.compile("first"), re.compile("second"), re.compile("third")]
        )
        await expect(inbox(page).filter(has_text="Tove")).to_contain_text("hello from the gap")
        await expect(tab_count(page, "Unanswered")).to_have_text("2")

        await follower.write("fourth")
        await expect(messages(page)).to_have_count(4)
        await expect(messages(page).last).to_contain_text("fourth")
        assert len(sockets) == 2
        assert page_errors == []

    async def test_a_socket_refused_for_its_sign_in_stops_and_says_so(
        self,
        page: Page,
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        sockets: list[WebSocketRoute] = []

        def route(socket: WebSocketRoute) -> None:
            sockets.append(socket)
            socket.connect_to_server()

        await page.route_web_socket(re.compile(r"/api/v1/ws$"), route)
        await started_chat(api, world, "Xia", "Anyone there?")
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await inbox(page).filter(has_text="Xia").click()
        await expect(composer(page)).to_be_enabled()

        await sockets[0].close(code=4401, reason="Sign in first.")
        await expect(page.get_by_role("status")).to_have_text("Signed out · Sign in again")
        await expect(composer(page)).to_be_disabled()
        await expect(page.get_by_role("button", name="Finish conversation")).to_be_hidden()
        await expect(page.get_by_role("link", name="Sign in again")).to_have_attribute(
            "href", "/login?next=/desk"
        )
        assert len(sockets) == 1


class TestEndUserApp:
    async def test_chat_availability_follows_the_switch_live(
        self,
        page: Page,
        app_page: Page,
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        channel = await factory.channel(world.a.partner)
        follower = await new_follower(api, world, "Uma", channel)
        await open_app(app_page, live_server, follower)
        await app_page.get_by_role("button", name=channel.name).click()
        await expect(app_page.get_by_text("Chat is unavailable")).to_be_visible()
        await expect(composer(app_page)).to_be_disabled()

        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner")
        row = page.get_by_role("row").filter(has_text=channel.name)
        warnings: list[str] = []
        answers = iter([False, True])

        async def answer(dialog: Dialog) -> None:
            warnings.append(dialog.message)
            await (dialog.accept() if next(answers) else dialog.dismiss())

        page.on("dialog", answer)
        await row.get_by_role("button", name="Enable chat").click()
        await expect(row.get_by_role("button", name="Enable chat")).to_be_visible()
        assert len(warnings) == 1
        assert warnings[0].startswith(WARNING_START)
        await row.get_by_role("button", name="Enable chat").click()
        await expect(row.get_by_role("cell").nth(2)).to_have_text("enabled")
        await expect(row.get_by_role("button", name="Disable chat")).to_be_visible()
        assert len(warnings) == 2

        await expect(app_page.get_by_text("Chat is unavailable")).to_be_hidden()
        await expect(composer(app_page)).to_be_enabled()

        await row.get_by_role("button", name="Disable chat").click()
        await expect(row.get_by_role("cell").nth(2)).to_have_text("disabled")
        await expect(app_page.get_by_text("Chat is unavailable")).to_be_visible()
        assert len(warnings) == 2

    async def test_refusals_are_shown_plainly(
        self,
        app_page: Page,
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        world: World,
    ) -> None:
        follower = await new_follower(api, world, "Vera")
        await open_app(app_page, live_server, follower)
        await app_page.get_by_role("button", name=world.a.channel.name).click()
        unfollowed = await api.delete(
            f"/api/v1/channels/{world.a.channel.id}/follow", headers=follower.headers
        )
        assert unfollowed.status_code == 204

        await write(app_page, "Hello?")
        refusal = app_page.get_by_role("alert")
        await expect(refusal).to_have_text("Follow the channel to chat with it.")
        await expect(composer(app_page)).to_have_value("Hello?")
        await expect(messages(app_page)).to_have_count(0)

    async def test_a_pasted_token_is_kept_for_the_tab(
        self,
        app_page: Page,
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        world: World,
    ) -> None:
        follower = await new_follower(api, world, "Wim")
        await app_page.goto(f"{live_server}/app")
        await app_page.get_by_label("End-user token").fill(follower.token)
        await app_page.get_by_role("button", name="Use token").click()
        await expect(app_page.get_by_role("button", name=world.a.channel.name)).to_be_visible()

        await app_page.reload()
        await expect(app_page.get_by_text("Signed in as Wim")).to_be_visible()
        await app_page.get_by_role("button", name="Forget token").click()
        await expect(app_page.get_by_label("End-user token")).to_be_visible()
        await expect(app_page.get_by_role("button", name=world.a.channel.name)).to_be_hidden()

    async def test_an_expired_token_signs_out(
        self, app_page: Page, live_server: str, world: World
    ) -> None:
        expired = end_user_token(world.tenant, sub="user-expired", name="Old", ttl_seconds=-60)
        await app_page.goto(f"{live_server}/app#token={expired}")
        await expect(app_page.get_by_role("alert")).to_have_text(
            "Signed out: the token is not valid or has expired."
        )
        await expect(app_page.get_by_label("End-user token")).to_be_visible()
        assert await app_page.evaluate("sessionStorage.getItem('relaydesk.endUserToken')") is None
