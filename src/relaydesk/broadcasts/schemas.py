import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from relaydesk.approvals.models import RequestKind
from relaydesk.broadcasts.models import Audience
from relaydesk.schemas import Input

Description = Annotated[str, Field(max_length=2000)]


class BroadcastAsk(Input):
    """A partner asks to send one of its active engagements to end users who may not follow
    the channel, from `starts_at` on."""

    kind: Literal[RequestKind.BROADCAST]
    engagement_id: uuid.UUID
    audience: Audience
    starts_at: AwareDatetime
    description: Description = ""
