"""What the engagements publish: the end user's activity, to the partner's agents, whose
history and activity panels refresh with it (HD-13)."""

import uuid
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.engagements import schemas
from relaydesk.engagements.models import DeliveryState, EngagementActivity
from relaydesk.realtime import topics
from relaydesk.realtime.events import queue_event


class ActivityEvent(BaseModel):
    """`engagement.activity`: an end user acted on an engagement of the partner."""

    end_user_id: uuid.UUID
    delivery_id: uuid.UUID
    engagement_id: uuid.UUID
    state: DeliveryState
    activities: list[schemas.ActivityItem]


def activity_item(activity: EngagementActivity) -> schemas.ActivityItem:
    return schemas.ActivityItem(
        type=activity.kind,
        engagement_type=activity.engagement_type,
        engagement_id=activity.engagement_id,
        title=activity.title,
        points=activity.points,
        occurred_at=activity.occurred_at,
    )


def queue_activity(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    end_user_id: uuid.UUID,
    delivery_id: uuid.UUID,
    engagement_id: uuid.UUID,
    state: DeliveryState,
    activities: Sequence[EngagementActivity],
) -> None:
    """Sent to the partner's agents once the end user's change commits."""
    data = ActivityEvent(
        end_user_id=end_user_id,
        delivery_id=delivery_id,
        engagement_id=engagement_id,
        state=state,
        activities=[activity_item(activity) for activity in activities],
    )
    queue_event(session, (topics.partner(partner_id),), "engagement.activity", data)
