"""The agent's side panels about an end user (HD-13): the engagements they hold from the
partner, and their latest activity with the partner's engagements."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import EngagementType
from relaydesk.engagements import schemas
from relaydesk.engagements.events import activity_item
from relaydesk.engagements.holdings import card_view
from relaydesk.engagements.models import Engagement, EngagementActivity, EngagementDelivery
from relaydesk.errors import NotFound
from relaydesk.tenancy import service as tenancy


async def _partner_id(
    session: AsyncSession, staff: StaffPrincipal, end_user_id: uuid.UUID
) -> uuid.UUID:
    """The staff member's partner, once the end user is known to be of their tenant; 404 else."""
    await tenancy.end_user_name(session, staff, end_user_id)
    if staff.partner_id is None:
        raise NotFound("No such end user.")
    return staff.partner_id


async def engagement_history(
    session: AsyncSession,
    staff: StaffPrincipal,
    end_user_id: uuid.UUID,
    type_: EngagementType | None = None,
    *,
    limit: int = 50,
) -> list[schemas.HistoryItem]:
    """What the end user holds from the partner, newest first, as their device shows it."""
    partner_id = await _partner_id(session, staff, end_user_id)
    statement = (
        select(EngagementDelivery, Engagement)
        .join(Engagement, Engagement.id == EngagementDelivery.engagement_id)
        .where(
            EngagementDelivery.partner_id == partner_id,
            EngagementDelivery.end_user_id == end_user_id,
        )
    )
    if type_ is not None:
        statement = statement.where(EngagementDelivery.engagement_type == type_)
    statement = statement.order_by(EngagementDelivery.id.desc()).limit(limit)
    return [
        schemas.HistoryItem(
            engagement=card_view(engagement),
            state=delivery.state,
            received_at=delivery.received_at,
            viewed_at=delivery.viewed_at,
            redeemed_at=delivery.redeemed_at,
            downloaded_at=delivery.downloaded_at,
        )
        for delivery, engagement in (await session.execute(statement)).all()
    ]


async def recent_activity(
    session: AsyncSession,
    staff: StaffPrincipal,
    end_user_id: uuid.UUID,
    type_: EngagementType | None = None,
    *,
    limit: int = 50,
) -> list[schemas.ActivityItem]:
    """The end user's latest events with the partner's engagements, newest first."""
    partner_id = await _partner_id(session, staff, end_user_id)
    statement = select(EngagementActivity).where(
        EngagementActivity.partner_id == partner_id,
        EngagementActivity.end_user_id == end_user_id,
    )
    if type_ is not None:
        statement = statement.where(EngagementActivity.engagement_type == type_)
    order = (EngagementActivity.occurred_at.desc(), EngagementActivity.id.desc())
    return [
        activity_item(row) for row in await session.scalars(statement.order_by(*order).limit(limit))
    ]
