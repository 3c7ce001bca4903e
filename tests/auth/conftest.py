"""Helpers for account tests: the staff API as an admin calls it, and links read from mail."""

import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from relaydesk.auth.links import issue_password_link
from relaydesk.auth.models import PasswordLinkPurpose, StaffUser
from relaydesk.db import Database
from tests.factories import Factory, World
from tests.mail import MailServer

MAILED_LINK = re.compile(r"^http://testserver(/set-password/\S+)$", re.MULTILINE)


def problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("code")


def link_in(message: EmailMessage) -> str:
    """The path of the one set-password link in a mail (its base URL is the test's)."""
    (path,) = MAILED_LINK.findall(MailServer.body(message))
    return path


async def mailed_link(mail: MailServer, address: str) -> str:
    """Sends the due mail and returns the link in the newest one to `address`."""
    await mail.deliver()
    return link_in(mail.last_to(address))


async def issue_link(
    database: Database, user: StaffUser, purpose: PasswordLinkPurpose = PasswordLinkPurpose.RESET
) -> str:
    async with database.transaction() as session:
        return await issue_password_link(session, user, purpose)


async def set_password_by_form(
    client: httpx.AsyncClient, path: str, password: str, repeat: str | None = None
) -> httpx.Response:
    data = {"password": password, "password_repeat": password if repeat is None else repeat}
    return await client.post(path, data=data)


@dataclass
class StaffApi:
    """One admin's calls to the staff API."""

    client: httpx.AsyncClient
    headers: dict[str, str]

    async def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        return await self.client.request(
            method, f"/api/v1/staff{path}", headers=self.headers, **kwargs
        )

    async def invite(self, email: str, name: str = "Ada Lovelace", role: str = "agent") -> Any:
        response = await self.request("POST", json={"email": email, "name": name, "role": role})
        assert response.status_code == 201, response.text
        return response.json()

    async def members(self) -> list[dict[str, Any]]:
        response = await self.request("GET", params={"limit": 200})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def update(self, user_id: object, **fields: object) -> httpx.Response:
        return await self.request("PATCH", f"/{user_id}", json=fields)


async def staff_api(client: httpx.AsyncClient, factory: Factory, user: StaffUser) -> StaffApi:
    return StaffApi(client, await factory.headers(user))


@pytest.fixture
async def partner_admin(client: httpx.AsyncClient, factory: Factory, world: World) -> StaffApi:
    """The first partner's admin."""
    return await staff_api(client, factory, world.a.admin)


@pytest.fixture
async def tenant_admin(client: httpx.AsyncClient, factory: Factory, world: World) -> StaffApi:
    return await staff_api(client, factory, world.tenant_admin)
