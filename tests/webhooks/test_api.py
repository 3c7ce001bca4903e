"""The webhook API: a partner admin's endpoints with their secrets shown once, the address rules,
the limit, rotation, the delivery log, and nobody else reaching any of it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from relaydesk.auth.permissions import Role
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.errors import InvalidInput
from relaydesk.webhooks.service import MAX_ENDPOINTS, check_url
from tests.factories import Factory, World
from tests.webhooks.conftest import EVENTS, WEBHOOKS, Receiver, Webhooks

HTTPS = "https://hooks.example.com/relaydesk"
# What each row of a delivery log holds.
LOG_FIELDS = {
    "id",
    "event_type",
    "state",
    "attempts",
    "response_code",
    "last_error",
    "created_at",
    "next_attempt_at",
    "delivered_at",
}


class TestRegistering:
    async def test_the_secret_is_shown_once_and_then_only_as_a_hint(
        self, webhooks: Webhooks
    ) -> None:
        events = ["conversation.updated", "message.created", "message.created"]
        created = await webhooks.register(HTTPS, events, description="  CRM sync  ")

        secret = created["secret"]
        assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 43
        assert created["url"] == HTTPS
        assert created["events"] == EVENTS  # each once, in the usual order
        assert (created["description"], created["active"]) == ("CRM sync", True)
        assert created["secret_hint"] == f"whsec_…{secret[-4:]}"
        assert created["previous_secret_expires_at"] is None
        shown = await webhooks.client.get(f"{WEBHOOKS}/{created['id']}", headers=webhooks.headers)
        listed = await webhooks.client.get(WEBHOOKS, headers=webhooks.headers)
        assert shown.status_code == listed.status_code == 200
        assert listed.json() == {"items": [shown.json()], "next_cursor": None}
        assert shown.json() == {k: v for k, v in created.items() if k != "secret"}
        assert secret not in shown.text + listed.text
        assert secret != (await webhooks.register(HTTPS))["secret"]

    async def test_changes_and_deletion(self, webhooks: Webhooks) -> None:
        endpoint = await webhooks.register(HTTPS)

        changed = await webhooks.change(
            endpoint, url="https://other.example/in", events=["message.created"], active=False
        )

        assert (changed["url"], changed["events"], changed["active"]) == (
            "https://other.example/in",
            ["message.created"],
            False,
        )
        assert changed["secret_hint"] == endpoint["secret_hint"]
        path = f"{WEBHOOKS}/{endpoint['id']}"
        for body in ({"events": []}, {"url": None}, {"active": None}, {"secret": "mine"}):
            refused = await webhooks.client.patch(path, json=body, headers=webhooks.headers)
            assert refused.status_code == 422, body
        deleted = await webhooks.client.delete(path, headers=webhooks.headers)
        assert deleted.status_code == 204
        assert (await webhooks.client.get(path, headers=webhooks.headers)).status_code == 404

    async def test_at_most_ten_endpoints(self, webhooks: Webhooks) -> None:
        for number in range(MAX_ENDPOINTS):
            await webhooks.register(f"{HTTPS}/{number}")

        response = await webhooks.client.post(
            WEBHOOKS, json={"url": HTTPS, "events": EVENTS}, headers=webhooks.headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "webhook_endpoint_limit"
        listed = await webhooks.client.get(WEBHOOKS, headers=webhooks.headers)
        assert len(listed.json()["items"]) == MAX_ENDPOINTS

    async def test_rotating_shows_the_new_secret_and_when_the_old_one_stops(
        self, webhooks: Webhooks
    ) -> None:
        clock.freeze(datetime.now(UTC))
        endpoint = await webhooks.register(HTTPS)

        rotated = await webhooks.rotate(endpoint)

        assert rotated["secret"].startswith("whsec_")
        assert rotated["secret"] != endpoint["secret"]
        assert rotated["secret_hint"] == f"whsec_…{rotated['secret'][-4:]}"
        expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
        assert expires == now() + timedelta(hours=24)


def problem(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    return " ".join([body["detail"], *(error["msg"] for error in body.get("errors", []))])


class TestAddressRules:
    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("ftp://files.example.com/in", "must start with https://"),
            ("javascript:alert(1)", "must start with https://"),
            ("http://hooks.example.com/in", "only to this machine"),
            ("http://10.0.0.5/in", "only to this machine"),
            ("http://127.0.0.1.example.com/in", "only to this machine"),
            ("https://user:pass@hooks.example.com/in", "user name or password"),
            ("https://token@hooks.example.com/in", "user name or password"),
            ("https:///no-host", "must name a host"),
            ("not a url", "spaces"),
            ("https://hooks.example.com:99999/in", "not a valid URL"),
            ("https://[::1/in", "not a valid URL"),
            ("https://" + "a" * 2000 + ".example", "at most 2000 characters"),
        ],
    )
    async def test_a_bad_address_is_a_clear_422(
        self, webhooks: Webhooks, url: str, reason: str
    ) -> None:
        response = await webhooks.client.post(
            WEBHOOKS, json={"url": url, "events": EVENTS}, headers=webhooks.headers
        )
        assert reason in problem(response)
        listed = await webhooks.client.get(WEBHOOKS, headers=webhooks.headers)
        assert listed.json()["items"] == []

    async def test_garbage_bodies_are_422_not_500(self, webhooks: Webhooks) -> None:
        for body in (
            {"url": HTTPS, "events": []},
            {"url": HTTPS, "events": ["message.deleted"]},
            {"url": HTTPS},
            {"url": 42, "events": EVENTS},
            {"url": "https://hooks.example.com/\x00", "events": EVENTS},
            {"url": HTTPS, "events": EVENTS, "description": "x" * 501},
            {"url": HTTPS, "events": EVENTS, "secret": "whsec_mine"},
        ):
            response = await webhooks.client.post(WEBHOOKS, json=body, headers=webhooks.headers)
            assert response.status_code == 422, (body, response.text)

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8080/in",
            "http://127.8.9.10/in",
            "http://localhost/in",
            "http://[::1]:9000/in",
        ],
    )
    async def test_plain_http_to_this_machine_only_where_allowed(
        self, webhooks: Webhooks, url: str
    ) -> None:
        assert (await webhooks.register(url))["url"] == url
        strict = webhooks.settings.model_copy(update={"allow_http_loopback_webhooks": False})
        with pytest.raises(InvalidInput, match="must start with https://"):
            check_url(url, strict)

    def test_https_to_public_hosts_is_allowed_without_the_setting(self) -> None:
        for url in (HTTPS, "https://93.184.216.34/in", "https://[2606:4700::1111]/in"):
            check_url(url, Settings(allow_http_loopback_webhooks=False))

    @pytest.mark.parametrize(
        "url",
        [
            "https://10.0.0.5/in",
            "https://192.168.1.1/in",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/in",
            "https://0.0.0.0/in",
            "https://224.0.0.1/in",
            "https://localhost:8443/in",
            "https://localhost./in",
            "https://db.localhost/in",
            "https://127.1/in",
            "https://2130706433/in",
            "https://0x7f.0.0.1/in",
            "https://0/in",
        ],
    )
    def test_https_into_the_worker_s_own_network_is_refused(self, url: str) -> None:
        with pytest.raises(InvalidInput, match="must name a public host"):
            check_url(url, Settings(allow_http_loopback_webhooks=False))

    def test_https_to_this_machine_only_where_allowed(self) -> None:
        check_url("https://localhost:8443/in", Settings(allow_http_loopback_webhooks=True))
        with pytest.raises(InvalidInput, match="must name a public host"):
            check_url("https://10.0.0.5/in", Settings(allow_http_loopback_webhooks=True))

    async def test_changing_to_a_bad_address_is_refused(self, webhooks: Webhooks) -> None:
        endpoint = await webhooks.register(HTTPS)
        response = await webhooks.client.patch(
            f"{WEBHOOKS}/{endpoint['id']}",
            json={"url": "http://hooks.example.com/in"},
            headers=webhooks.headers,
        )
        assert "only to this machine" in problem(response)


class TestWhoMay:
    async def test_another_partner_s_or_tenant_s_endpoint_is_404(
        self, client: httpx.AsyncClient, factory: Factory, webhooks: Webhooks, world: World
    ) -> None:
        endpoint = await webhooks.register(HTTPS)
        path = f"{WEBHOOKS}/{endpoint['id']}"
        for admin in (world.b.admin, world.other.admin):
            headers = await factory.headers(admin)
            for method, suffix, body in (
                ("GET", "", None),
                ("PATCH", "", {"active": False}),
                ("DELETE", "", None),
                ("POST", "/rotate-secret", None),
                ("GET", "/deliveries", None),
            ):
                response = await client.request(method, path + suffix, json=body, headers=headers)
                assert response.status_code == 404, (method, suffix, response.text)
                assert response.json()["code"] == "not_found"
            listed = await client.get(WEBHOOKS, headers=headers)
            assert listed.json()["items"] == []
        assert (await client.get(path, headers=webhooks.headers)).json()["active"] is True

    @pytest.mark.parametrize("role", [Role.AGENT, Role.TENANT_ADMIN, Role.TENANT_STAFF])
    async def test_only_partner_admins_manage_webhooks(
        self, client: httpx.AsyncClient, factory: Factory, world: World, role: Role
    ) -> None:
        headers = await factory.headers(world.staff_with(role))
        for method, body in (("GET", None), ("POST", {"url": HTTPS, "events": EVENTS})):
            response = await client.request(method, WEBHOOKS, json=body, headers=headers)
            assert response.status_code == 403
            assert response.json()["code"] == "permission_denied"

    async def test_signing_in_is_needed(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(WEBHOOKS)).status_code == 401


class TestDeliveryLog:
    async def test_newest_first_a_page_at_a_time(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        endpoint = await webhooks.register(receiver.url, ["message.created"])
        follower = await webhooks.follower()
        for text in ("one", "two", "three"):
            await follower.write(text)
        await webhooks.deliver()

        first = await webhooks.client.get(
            f"{WEBHOOKS}/{endpoint['id']}/deliveries", params={"limit": 2}, headers=webhooks.headers
        )
        page: dict[str, Any] = first.json()
        rest = await webhooks.log(endpoint, cursor=page["next_cursor"])

        rows = page["items"] + rest
        stored = await webhooks.stored()
        assert [row["id"] for row in rows] == [str(row.id) for row in reversed(stored)]
        assert set(rows[0]) == LOG_FIELDS
        assert {(r["state"], r["attempts"], r["response_code"]) for r in rows} == {
            ("delivered", 1, 204)
        }
        assert all(row["delivered_at"] and row["next_attempt_at"] is None for row in rows)
