"""The permission matrix: each role reaches what PRODUCT.md grants it and gets 403 elsewhere."""

import httpx
import pytest

from relaydesk.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from tests.factories import Factory, World

P = Permission

EXPECTED_PERMISSIONS = {
    Role.TENANT_ADMIN: {P.PARTNERS_REVIEW, P.PARTNERS_MANAGE, P.CATALOGUE_MANAGE, P.STAFF_MANAGE},
    Role.TENANT_STAFF: {P.PARTNERS_REVIEW},
    Role.PARTNER_ADMIN: {
        P.CHANNELS_MANAGE,
        P.CHAT_MANAGE,
        P.CHAT_HANDLE,
        P.CANNED_MANAGE,
        P.ENGAGEMENTS_MANAGE,
        P.ENGAGEMENTS_SEND,
        P.ANALYTICS_VIEW,
        P.REQUESTS_SUBMIT,
        P.STAFF_MANAGE,
        P.WEBHOOKS_MANAGE,
    },
    Role.AGENT: {P.CHAT_HANDLE, P.ENGAGEMENTS_SEND, P.ANALYTICS_VIEW},
}


def test_roles_grant_the_documented_permissions() -> None:
    assert {role: set(permissions) for role, permissions in ROLE_PERMISSIONS.items()} == (
        EXPECTED_PERMISSIONS
    )


# (method, path template, JSON body, the roles allowed)
ENDPOINTS = [
    ("POST", "/api/v1/channels", {"name": "New one"}, {Role.PARTNER_ADMIN}),
    ("POST", "/api/v1/channels/{channel}/chat/enable", None, {Role.PARTNER_ADMIN}),
    ("POST", "/api/v1/channels/{channel}/chat/disable", None, {Role.PARTNER_ADMIN}),
    ("GET", "/api/v1/tenant/packages", None, {Role.TENANT_ADMIN, Role.TENANT_STAFF}),
    (
        "POST",
        "/api/v1/tenant/packages",
        {
            "name": "Matrix",
            "price": {"amount": "1.00", "currency": "EUR"},
            "billing_period": "year",
            "engagement_types": [],
            "max_channels": 1,
        },
        {Role.TENANT_ADMIN},
    ),
    ("GET", "/api/v1/me", None, set(Role)),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
async def test_permission_matrix(
    client: httpx.AsyncClient,
    factory: Factory,
    world: World,
    role: Role,
    method: str,
    path: str,
    body: dict[str, object] | None,
    allowed: set[Role],
) -> None:
    headers = await factory.headers(world.staff_with(role))
    url = path.format(channel=world.a.channel.id)
    response = await client.request(method, url, json=body, headers=headers)
    if role in allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "permission_denied"
