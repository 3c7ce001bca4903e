"""Roles and the permissions they grant. Code checks permissions, never role names."""

from enum import StrEnum


class Role(StrEnum):
    TENANT_ADMIN = "tenant_admin"
    TENANT_STAFF = "tenant_staff"
    PARTNER_ADMIN = "partner_admin"
    AGENT = "agent"

    @property
    def is_partner_role(self) -> bool:
        return self in (Role.PARTNER_ADMIN, Role.AGENT)


class Permission(StrEnum):
    CHANNELS_MANAGE = "channels.manage"
    CHAT_MANAGE = "chat.manage"
    CHAT_HANDLE = "chat.handle"
    CANNED_MANAGE = "canned.manage"
    ENGAGEMENTS_MANAGE = "engagements.manage"
    ENGAGEMENTS_SEND = "engagements.send"
    ANALYTICS_VIEW = "analytics.view"
    REQUESTS_SUBMIT = "requests.submit"
    PARTNERS_REVIEW = "partners.review"
    PARTNERS_MANAGE = "partners.manage"
    CATALOGUE_MANAGE = "catalogue.manage"
    STAFF_MANAGE = "staff.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"


_AGENT = frozenset({Permission.CHAT_HANDLE, Permission.ENGAGEMENTS_SEND, Permission.ANALYTICS_VIEW})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TENANT_ADMIN: frozenset(
        {
            Permission.PARTNERS_REVIEW,
            Permission.PARTNERS_MANAGE,
            Permission.CATALOGUE_MANAGE,
            Permission.STAFF_MANAGE,
        }
    ),
    Role.TENANT_STAFF: frozenset({Permission.PARTNERS_REVIEW}),
    Role.PARTNER_ADMIN: _AGENT
    | {
        Permission.CHANNELS_MANAGE,
        Permission.CHAT_MANAGE,
        Permission.CANNED_MANAGE,
        Permission.ENGAGEMENTS_MANAGE,
        Permission.REQUESTS_SUBMIT,
        Permission.STAFF_MANAGE,
        Permission.WEBHOOKS_MANAGE,
    },
    Role.AGENT: _AGENT,
}
