"""Every area of the product, who reaches it, and where each kind of staff lands."""

from dataclasses import dataclass

from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal


@dataclass(frozen=True, slots=True)
class Area:
    label: str
    path: str
    permission: Permission
    section: str
    for_partner_staff: bool
    about: str = ""


AREAS: tuple[Area, ...] = (
    Area("Overview", "/tenant", Permission.PARTNERS_REVIEW, "Partner Management", False),
    Area(
        "Partnership",
        "/tenant/partnerships",
        Permission.PARTNERS_REVIEW,
        "Partner Management",
        False,
        about="Approve or reject partnership requests and see their history.",
    ),
    Area(
        "Add-ons",
        "/tenant/addons",
        Permission.PARTNERS_REVIEW,
        "Partner Management",
        False,
        about="Approve or reject add-on requests and see their history.",
    ),
    Area(
        "Requests",
        "/tenant/requests",
        Permission.PARTNERS_REVIEW,
        "Partner Management",
        False,
        about="Broadcast, advertising package and ad requests, and their history.",
    ),
    Area(
        "My partners",
        "/tenant/partners",
        Permission.PARTNERS_REVIEW,
        "Partner Management",
        False,
        about="Every partner with package, status, invoice ID, add-ons and impressions.",
    ),
    Area(
        "Catalogues",
        "/tenant/catalogue",
        Permission.CATALOGUE_MANAGE,
        "Settings",
        False,
        about="Partnership packages, add-ons and advertising packages.",
    ),
    Area(
        "Mail log",
        "/tenant/emails",
        Permission.PARTNERS_MANAGE,
        "Settings",
        False,
        about="Every e-mail sent, with its delivery state and retries.",
    ),
    Area(
        "Staff",
        "/tenant/staff",
        Permission.STAFF_MANAGE,
        "Settings",
        False,
        about="Invite tenant staff, change roles and deactivate accounts.",
    ),
    Area("Chat", "/desk", Permission.CHAT_HANDLE, "Help Desk", True),
    Area(
        "Canned responses",
        "/desk/canned",
        Permission.CHAT_HANDLE,
        "Help Desk",
        True,
        about="Categories of pre-set answers to insert into chats.",
    ),
    Area(
        "Analytics",
        "/desk/analytics",
        Permission.ANALYTICS_VIEW,
        "Help Desk",
        True,
        about="Chats finished, active and unanswered, response and handling times.",
    ),
    Area("Channels", "/partner", Permission.CHANNELS_MANAGE, "Partner portal", True),
    Area(
        "Engagements",
        "/partner/engagements",
        Permission.ENGAGEMENTS_MANAGE,
        "Partner portal",
        True,
        about="Messages, promos, coupons, sticker packs, ringtones and wallpapers.",
    ),
    Area(
        "Requests",
        "/partner/requests",
        Permission.REQUESTS_SUBMIT,
        "Partner portal",
        True,
        about="Ask the platform for another package, add-ons, broadcasts and ads.",
    ),
    Area(
        "Webhooks",
        "/partner/webhooks",
        Permission.WEBHOOKS_MANAGE,
        "Partner portal",
        True,
        about="Signed HTTPS notifications of messages and conversation changes.",
    ),
    Area(
        "Staff",
        "/partner/staff",
        Permission.STAFF_MANAGE,
        "Partner portal",
        True,
        about="Invite agents, change roles and deactivate accounts.",
    ),
)


def areas_for(staff: StaffPrincipal) -> list[Area]:
    is_partner_staff = staff.partner_id is not None
    return [a for a in AREAS if a.for_partner_staff == is_partner_staff and staff.can(a.permission)]


def home_path(staff: StaffPrincipal) -> str:
    """Tenant staff land on Partner Management, partner admins on their portal, agents on chat."""
    if staff.partner_id is None:
        return "/tenant"
    return "/partner" if staff.can(Permission.CHANNELS_MANAGE) else "/desk"


def current_path(areas: list[Area], path: str) -> str | None:
    """The path of the area a page belongs to: the longest that the page's path starts with
    (/desk/analytics/today is in Analytics, not in Chat)."""
    within = [a.path for a in areas if path == a.path or path.startswith(a.path.rstrip("/") + "/")]
    return max(within, key=len, default=None)
