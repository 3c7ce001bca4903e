"""A chat's transcript (HD-21): what the text file and the printable page say, that names and
texts in them can't run anything, who may read them, and that a long thread streams in
batches."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from relaydesk import exports
from relaydesk.catalogue.models import EngagementType
from relaydesk.chat.transcripts import slug
from relaydesk.clock import clock, now
from tests.attachments.conftest import png, send, uploaded
from tests.chat.conftest import Agent, Follower, client_message_id, new_follower
from tests.chat.test_pages import assert_no_inline_code
from tests.engagements.conftest import coupon, engagement_api, published
from tests.factories import Factory, World
from tests.html import Element, parse

ZONE = "Asia/Tokyo"


def transcript_url(conversation_id: str, extension: str = "txt") -> str:
    return f"/api/v1/conversations/{conversation_id}/transcript.{extension}"


@dataclass
class Chat:
    """A conversation with every kind of message, made at known moments on a frozen clock."""

    id: str
    start: datetime
    external_id: str
    attachment_id: str

    def local(self, seconds: int) -> str:
        """The moment `seconds` after the start as the transcript shows it (Tokyo time)."""
        at = (self.start + timedelta(seconds=seconds)).astimezone(ZoneInfo(ZONE))
        return at.strftime("%Y-%m-%d %H:%M:%S")


def at(start: datetime, seconds: int) -> None:
    clock.freeze(start + timedelta(seconds=seconds))


async def whole_chat(
    client: httpx.AsyncClient,
    factory: Factory,
    world: World,
    follower: Follower,
    agent: Agent,
    admin: Agent,
) -> Chat:
    """Opened, taken, a file, taken over with a coupon card, finished, reopened; the partner
    keeps Tokyo time. The people's tokens, issued on real time, stay valid in the past."""
    response = await client.patch(
        "/api/v1/partner/settings", json={"time_zone": ZONE}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    day = (now() - timedelta(days=3)).date()
    start = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
    at(start, 0)
    card = await published(
        await engagement_api(client, factory, world.a.admin, world.a.channel),
        EngagementType.COUPON,
        coupon(),
    )
    assert (await follower.write("Hello!\nIs my order on its way?")).status_code == 201
    conversation_id = await follower.conversation_id()
    at(start, 60)
    assert (await agent.reply(conversation_id, "Hi Mia, let me look.")).status_code == 201
    at(start, 120)
    photo = await uploaded(client, follower.headers, "photo.png", png())
    assert (await send(follower, [photo["id"]])).status_code == 201
    at(start, 180)
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/engagements",
        json={
            "client_message_id": client_message_id(),
            "engagement_id": card["id"],
            "take_over": True,
        },
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    at(start, 240)
    assert (await admin.finish(conversation_id)).status_code == 200
    at(start, 3600)
    assert (await follower.write("One more thing")).status_code == 201
    external_id = (await agent.conversation(conversation_id))["end_user"]["external_id"]
    return Chat(conversation_id, start, external_id, photo["id"])


@pytest.fixture
async def chat(
    client: httpx.AsyncClient,
    factory: Factory,
    world: World,
    follower: Follower,
    agent: Agent,
    admin: Agent,
) -> Chat:
    return await whole_chat(client, factory, world, follower, agent, admin)


async def transcript(agent: Agent, conversation_id: str, extension: str) -> httpx.Response:
    response = await agent.client.get(
        transcript_url(conversation_id, extension), headers=agent.headers
    )
    assert response.status_code == 200, response.text
    return response


def day_of(chat: Chat) -> str:
    return (chat.start + timedelta(hours=1)).astimezone(ZoneInfo(ZONE)).date().isoformat()


@pytest.mark.only_backend("sqlite")
class TestTextTranscript:
    async def test_every_message_in_order_with_sessions_set_apart(
        self, world: World, chat: Chat, agent: Agent, admin: Agent
    ) -> None:
        response = await transcript(agent, chat.id, "txt")
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="chat-mia-jensen-{day_of(chat)}.txt"'
        )
        assert response.headers["cache-control"] == "no-store"
        local = chat.local
        assert response.text == (
            "Chat transcript\n"
            f"Channel: {world.a.channel.name}\n"
            f"End user: Mia Jensen (ID {chat.external_id})\n"
            "Time zone: Asia/Tokyo\n"
            f"Generated: {local(3600)}\n"
            "\n"
            f"[{local(0)}] Mia Jensen (end user): Hello!\n"
            "    Is my order on its way?\n"
            "\n"
            f"----- {local(60)} · {agent.name} took the chat -----\n"
            "\n"
            f"[{local(60)}] {agent.name} (agent): Hi Mia, let me look.\n"
            f"[{local(120)}] Mia Jensen (end user): [File] photo.png\n"
            "\n"
            f"----- {local(180)} · {admin.name} took the chat over from {agent.name} -----\n"
            "\n"
            f"[{local(180)}] {admin.name} (agent): [Coupon] A coupon\n"
            "\n"
            f"----- {local(240)} · {admin.name} finished the chat -----\n"
            "\n"
            "\n"
            f"----- {local(3600)} · Mia Jensen reopened the chat -----\n"
            "\n"
            f"[{local(3600)}] Mia Jensen (end user): One more thing\n"
        )

    async def test_times_are_in_the_partners_time_zone(self, chat: Chat, agent: Agent) -> None:
        text = (await transcript(agent, chat.id, "txt")).text
        # 03:00 UTC is noon in Tokyo.
        assert f"[{chat.start.date().isoformat()} 12:00:00] Mia Jensen" in text

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("Zoë O'Brien-Ågren", "zoe-o-brien-agren"),
            ('"; rm -rf /', "rm-rf"),
            ("李雷", "end-user"),
            ("x" * 70, "x" * 60),
        ],
    )
    def test_file_names_are_safe_ascii(self, name: str, expected: str) -> None:
        assert slug(name) == expected


def items(document: Element) -> list[Element]:
    """The transcript's entries: the list's own items, not those of a message's files."""
    entries = document.find("ol", {"class": "transcript"}).children
    return [entry for entry in entries if isinstance(entry, Element)]


@pytest.mark.only_backend("sqlite")
class TestPrintablePage:
    async def test_the_page_shows_the_head_and_every_message(
        self, client: httpx.AsyncClient, world: World, chat: Chat, agent: Agent, admin: Agent
    ) -> None:
        response = await transcript(agent, chat.id, "html")
        assert response.headers["content-disposition"] == (
            f'inline; filename="chat-mia-jensen-{day_of(chat)}.html"'
        )
        document = parse(response)
        assert_no_inline_code(document)
        stylesheet = document.find("link", {"rel": "stylesheet"}).attrs["href"]
        assert (await client.get(stylesheet)).headers["content-type"].startswith("text/css")
        assert document.find("h1").text() == "Chat with Mia Jensen"
        head = document.find("dl")
        facts = dict(
            zip(
                [term.text() for term in head.find_all("dt")],
                [value.text() for value in head.find_all("dd")],
                strict=True,
            )
        )
        assert facts == {
            "Channel": world.a.channel.name,
            "End user": "Mia Jensen",
            "End user ID": chat.external_id,
            "Time zone": ZONE,
            "Generated": chat.local(3600),
        }
        local = chat.local
        assert [(item.attrs["class"], item.text()) for item in items(document)] == [
            (
                "message side-end_user",
                f"{local(0)} Mia Jensen end user Hello! Is my order on its way?",
            ),
            ("activity", f"{local(60)} {agent.name} took the chat"),
            ("message side-agent", f"{local(60)} {agent.name} agent Hi Mia, let me look."),
            ("message side-end_user", f"{local(120)} Mia Jensen end user photo.png"),
            ("activity", f"{local(180)} {admin.name} took the chat over from {agent.name}"),
            ("message side-agent", f"{local(180)} {admin.name} agent [Coupon] A coupon"),
            ("activity", f"{local(240)} {admin.name} finished the chat"),
            ("activity", f"{local(3600)} Mia Jensen reopened the chat"),
            ("message side-end_user", f"{local(3600)} Mia Jensen end user One more thing"),
        ]
        file_link = items(document)[3].find("a")
        assert file_link.attrs["href"] == f"/api/v1/attachments/{chat.attachment_id}"
        assert (await client.get(file_link.attrs["href"], headers=agent.headers)).status_code == 200
        first_time = items(document)[0].find("time").attrs["datetime"]
        assert datetime.fromisoformat(first_time) == chat.start

    async def test_names_and_texts_are_escaped(
        self, client: httpx.AsyncClient, world: World, agent: Agent
    ) -> None:
        attacker = await new_follower(
            client, world.tenant, world.a.channel, name='<script>alert("name")</script>'
        )
        await attacker.write("<script>alert(1)</script> & <b>bold</b>")
        conversation_id = await attacker.conversation_id()
        await agent.reply(conversation_id, "<img src=x onerror=alert(2)>")
        response = await transcript(agent, conversation_id, "html")
        assert "<script" not in response.text
        assert "<img" not in response.text
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in response.text
        )
        document = parse(response)
        assert_no_inline_code(document)
        assert document.find("h1").text() == 'Chat with <script>alert("name")</script>'
        assert items(document)[0].find("p", {"class": "body"}).text() == (
            "<script>alert(1)</script> & <b>bold</b>"
        )
        assert "content-security-policy" in response.headers
        # The file name keeps only safe letters.
        assert 'filename="chat-script-alert-name-script-' in response.headers["content-disposition"]


class TestWhoMayRead:
    async def test_other_partners_and_tenants_get_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        for outsider in (world.b.agent, world.b.admin, world.other.agent):
            headers = await factory.headers(outsider)
            for extension in ("txt", "html"):
                response = await client.get(
                    transcript_url(conversation_id, extension), headers=headers
                )
                assert response.status_code == 404, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["code"] == "not_found"

    async def test_tenant_staff_end_users_and_strangers_are_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await follower.write()
        url = transcript_url(await follower.conversation_id())
        for user in (world.tenant_admin, world.tenant_staff):
            response = await client.get(url, headers=await factory.headers(user))
            assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        assert (await client.get(url, headers=follower.headers)).status_code == 403
        anonymous = await client.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"

    async def test_a_missing_chat_is_404_and_a_bad_id_422(
        self, client: httpx.AsyncClient, agent: Agent
    ) -> None:
        missing = await client.get(
            transcript_url("0192f5c4-0000-7000-8000-000000000000", "html"), headers=agent.headers
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
        bad = await client.get(transcript_url("not-an-id"), headers=agent.headers)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


@asynccontextmanager
async def counting_transactions(app: FastAPI) -> AsyncIterator[list[None]]:
    """Counts the transactions the app's database opens meanwhile."""
    database = app.state.database
    original = database.transaction
    opened: list[None] = []

    @asynccontextmanager
    async def counted() -> AsyncIterator[object]:
        opened.append(None)
        async with original() as session:
            yield session

    database.transaction = counted
    try:
        yield opened
    finally:
        database.transaction = original


class TestLongThread:
    async def test_a_thread_longer_than_a_batch_streams_whole_and_in_order(
        self,
        app: FastAPI,
        monkeypatch: pytest.MonkeyPatch,
        follower: Follower,
        agent: Agent,
    ) -> None:
        for number in range(1, 12):
            assert (await follower.write(f"message {number}")).status_code == 201
        conversation_id = await follower.conversation_id()
        monkeypatch.setattr(exports, "BATCH_SIZE", 4)
        monkeypatch.setattr(exports, "CHUNK_LINES", 3)
        async with counting_transactions(app) as opened:
            text = (await transcript(agent, conversation_id, "txt")).text
            page = (await transcript(agent, conversation_id, "html")).text
        bodies = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("[")]
        assert bodies == [f"message {number}" for number in range(1, 12)]
        assert page.count('class="message side-end_user"') == 11
        assert page.rstrip().endswith("</html>")
        # Per transcript: the request's own, then 11 messages in 3 batches of at most 4.
        assert len(opened) == 2 * (1 + 3)
