"""Every table, imported in one place for Alembic and for tests that clean the database."""

from relaydesk.ads.models import Ad
from relaydesk.approvals.models import PartnerRequest
from relaydesk.attachments.models import Attachment
from relaydesk.audit.models import AuditEntry
from relaydesk.auth.models import ApiToken, PasswordLink, StaffUser, WebSession
from relaydesk.broadcasts.models import Broadcast
from relaydesk.canned.models import CannedCategory, CannedResponse
from relaydesk.catalogue.models import Addon, AdPackage, Package
from relaydesk.chat.models import (
    AlertSettings,
    ChatSession,
    Conversation,
    ConversationRead,
    Message,
)
from relaydesk.db import Base
from relaydesk.engagements.models import Engagement, EngagementActivity, EngagementDelivery
from relaydesk.notify.models import Email
from relaydesk.tenancy.models import Channel, EndUser, Follow, Partner, PartnerAddon, Tenant
from relaydesk.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Ad",
    "AdPackage",
    "Addon",
    "AlertSettings",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Base",
    "Broadcast",
    "CannedCategory",
    "CannedResponse",
    "Channel",
    "ChatSession",
    "Conversation",
    "ConversationRead",
    "Email",
    "EndUser",
    "Engagement",
    "EngagementActivity",
    "EngagementDelivery",
    "Follow",
    "Message",
    "Package",
    "Partner",
    "PartnerAddon",
    "PartnerRequest",
    "PasswordLink",
    "StaffUser",
    "Tenant",
    "WebSession",
    "WebhookDelivery",
    "WebhookEndpoint",
]
