"""Random sequences of chat actions checked step by step against a plain model of HD-1 … HD-7.

The machine drives the real app over HTTP. Hypothesis machines are synchronous, so the test
runs its own event loop with its own app and database connections, separate from the async
fixtures (whose `database` still removes every row afterwards).
"""

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from relaydesk.app import create_app
from relaydesk.auth.permissions import Role
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.factories import Factory

AGENTS = 3
# Switching chat off or unfollowing blocks the end user; doing it less often explores deeper.
MOSTLY_TRUE = st.sampled_from([True, True, False])
_client_ids = itertools.count()


@dataclass
class Model:
    """What HD-1 … HD-7 say the conversation should look like."""

    chat_enabled: bool = True
    following: bool = True
    status: str | None = None  # None until the end user's first message
    owner: int | None = None
    finished_by: int | None = None
    seq: int = 0
    last_sent: tuple[str, str] | None = None  # the end user's last client_message_id and message id


@dataclass
class Harness:
    """The app, a client and a loop shared by every example of one test run."""

    runner: asyncio.Runner
    client: httpx.AsyncClient
    factory: Factory

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)


def chat_machine(harness: Harness) -> type[RuleBasedStateMachine]:
    class ChatMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = Model()
            self.conversation_id: str | None = None
            harness.run(self._setup())

        async def _setup(self) -> None:
            factory = harness.factory
            tenant = await factory.tenant()
            partner = await factory.partner(tenant)
            self.channel = await factory.channel(partner, chat_enabled=True)
            self.admin_headers = await factory.headers(
                await factory.staff(tenant, Role.PARTNER_ADMIN, partner)
            )
            self.agents = []
            for _ in range(AGENTS):
                user = await factory.staff(tenant, Role.AGENT, partner)
                self.agents.append((str(user.id), await factory.headers(user)))
            self.end_user_headers = factory.end_user_headers(tenant)
            await self.call(
                "PUT", f"/api/v1/channels/{self.channel.id}/follow", self.end_user_headers
            )

        def call(self, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
            return harness.client.request(method, url, headers=headers, json=body)

        def request(
            self, method: str, url: str, headers: dict[str, str], body: Any = None
        ) -> httpx.Response:
            return harness.run(self.call(method, url, headers, body))

        def expect_error(self, response: httpx.Response, status: int, code: str) -> None:
            assert (response.status_code, response.json()["code"]) == (status, code), response.text

        @initialize()
        def end_user_opens_the_chat(self) -> None:
            self.end_user_writes()

        @rule()
        def end_user_writes(self) -> None:
            cmid = f"user-{next(_client_ids)}"
            response = self.request(
                "POST",
                f"/api/v1/channels/{self.channel.id}/chat/messages",
                self.end_user_headers,
                {"client_message_id": cmid, "body": "hello"},
            )
            model = self.model
            if not model.chat_enabled:
                return self.expect_error(response, 403, "chat_disabled")
            if not model.following:
                return self.expect_error(response, 403, "not_follower")
            assert response.status_code == 201, response.text
            if model.status == "finished":
                model.seq += 1  # the "reopened" activity line
            if model.status in (None, "finished"):
                model.status, model.owner, model.finished_by = "unanswered", None, None
            model.seq += 1
            message = response.json()
            assert message["seq"] == model.seq
            self.conversation_id = message["conversation_id"]
            model.last_sent = (cmid, message["id"])

        @precondition(lambda self: self.model.last_sent is not None)
        @rule()
        def end_user_retries(self) -> None:
            cmid, message_id = self.model.last_sent
            response = self.request(
                "POST",
                f"/api/v1/channels/{self.channel.id}/chat/messages",
                self.end_user_headers,
                {"client_message_id": cmid, "body": "hello"},
            )
            assert (response.status_code, response.json()["id"]) == (200, message_id)

        @precondition(lambda self: self.conversation_id is not None)
        @rule(agent=st.integers(0, AGENTS - 1), take_over=st.booleans())
        def agent_writes(self, agent: int, take_over: bool) -> None:
            _, headers = self.agents[agent]
            response = self.request(
                "POST",
                f"/api/v1/conversations/{self.conversation_id}/messages",
                headers,
                {
                    "client_message_id": f"agent-{next(_client_ids)}",
                    "body": "hi",
                    "take_over": take_over,
                },
            )
            model = self.model
            if model.status == "finished":
                return self.expect_error(response, 409, "conversation_finished")
            if model.status == "active" and model.owner != agent and not take_over:
                self.expect_error(response, 409, "conversation_taken")
                assert response.json()["owner"]["id"] == self.agents[model.owner][0]
                return None
            assert response.status_code == 201, response.text
            model.seq += 1 if model.status == "active" and model.owner == agent else 2
            model.status, model.owner = "active", agent
            assert response.json()["seq"] == model.seq
            return None

        @precondition(lambda self: self.conversation_id is not None)
        @rule(agent=st.integers(0, AGENTS - 1))
        def agent_finishes(self, agent: int) -> None:
            response = self.request(
                "POST",
                f"/api/v1/conversations/{self.conversation_id}/finish",
                self.agents[agent][1],
            )
            if self.model.status == "finished":
                return self.expect_error(response, 409, "conversation_finished")
            assert response.status_code == 200, response.text
            self.model.status, self.model.finished_by = "finished", agent
            self.model.seq += 1
            return None

        @rule(enabled=MOSTLY_TRUE)
        def admin_switches_chat(self, enabled: bool) -> None:
            action = "enable" if enabled else "disable"
            response = self.request(
                "POST", f"/api/v1/channels/{self.channel.id}/chat/{action}", self.admin_headers
            )
            assert response.json()["chat_enabled"] is enabled
            self.model.chat_enabled = enabled

        @rule(follow=MOSTLY_TRUE)
        def end_user_follows(self, follow: bool) -> None:
            method = "PUT" if follow else "DELETE"
            response = self.request(
                method, f"/api/v1/channels/{self.channel.id}/follow", self.end_user_headers
            )
            assert response.status_code == 204
            self.model.following = follow

        @invariant()
        def conversation_matches_the_model(self) -> None:
            if self.conversation_id is None:
                return
            _, headers = self.agents[0]
            conversation = self.request(
                "GET", f"/api/v1/conversations/{self.conversation_id}", headers
            ).json()
            model = self.model
            agent_id = lambda index: None if index is None else self.agents[index][0]  # noqa: E731
            assert conversation["status"] == model.status
            assert (conversation["owner"] or {}).get("id") == agent_id(model.owner)
            if model.status == "finished":
                assert conversation["finished_by"]["id"] == agent_id(model.finished_by)
            thread = self.request(
                "GET",
                f"/api/v1/conversations/{self.conversation_id}/messages?limit=200",
                headers,
            ).json()["items"]
            assert [m["seq"] for m in thread] == list(range(1, model.seq + 1))

    return ChatMachine


MACHINE_SETTINGS = hypothesis_settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_chat_follows_the_model(settings: Settings, database: Database) -> None:
    with asyncio.Runner() as runner:
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        runner.run(lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        harness = Harness(runner, client, Factory(Database(settings.database_url)))
        try:
            run_state_machine_as_test(chat_machine(harness), settings=MACHINE_SETTINGS)
        finally:
            runner.run(client.aclose())
            runner.run(harness.factory.database.dispose())
            runner.run(lifespan.__aexit__(None, None, None))
