import uuid
from typing import Literal

from relaydesk.approvals.models import RequestKind
from relaydesk.broadcasts.models import Audience
from relaydesk.schemas import Description, Input, UtcDatetime

AUDIENCE_LABELS = {
    Audience.NON_FOLLOWERS: "End users who don't follow the channel",
    Audience.ALL_END_USERS: "All end users",
}


class BroadcastAsk(Input):
    """A partner asks to send one of its active engagements to end users who may not follow
    the channel, from `starts_at` on."""

    kind: Literal[RequestKind.BROADCAST]
    engagement_id: uuid.UUID
    audience: Audience
    starts_at: UtcDatetime
    description: Description = ""
