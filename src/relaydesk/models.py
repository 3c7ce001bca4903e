"""Every table, imported in one place for Alembic and for tests that clean the database."""

from relaydesk.attachments.models import Attachment
from relaydesk.audit.models import AuditEntry
from relaydesk.auth.models import ApiToken, StaffUser, WebSession
from relaydesk.canned.models import CannedCategory, CannedResponse
from relaydesk.catalogue.models import Package
from relaydesk.chat.models import (
    AlertSettings,
    ChatSession,
    Conversation,
    ConversationRead,
    Message,
)
from relaydesk.db import Base
from relaydesk.engagements.models import Engagement, EngagementActivity, EngagementDelivery
from relaydesk.tenancy.models import Channel, EndUser, Follow, Partner, Tenant

__all__ = [
    "AlertSettings",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Base",
    "CannedCategory",
    "CannedResponse",
    "Channel",
    "ChatSession",
    "Conversation",
    "ConversationRead",
    "EndUser",
    "Engagement",
    "EngagementActivity",
    "EngagementDelivery",
    "Follow",
    "Message",
    "Package",
    "Partner",
    "StaffUser",
    "Tenant",
    "WebSession",
]
