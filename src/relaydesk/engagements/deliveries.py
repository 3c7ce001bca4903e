"""Which engagements an agent may send to an end user, and sending one (HD-12).

An engagement is available to an end user when it is active and within its dates, of a type
the partner's package allows, and the end user may still get it: a coupon with some left
that they hold fewer than `per_user_limit` of, content (sticker pack, ringtone, wallpaper) they
don't hold yet. Messages and promos can be sent again and again, except promos marked "don't
show in chat" (`hide_in_chat`), which never go into a chat.
"""

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import now
from relaydesk.engagements import schemas
from relaydesk.engagements.models import (
    ActivityKind,
    DeliveryState,
    Engagement,
    EngagementActivity,
    EngagementDelivery,
    EngagementStatus,
)
from relaydesk.engagements.service import engagement_view, readable_engagements
from relaydesk.errors import Conflict
from relaydesk.tenancy import service as tenancy

NOT_AVAILABLE = "engagement_not_available"
CONTENT = frozenset(
    {EngagementType.STICKER_PACK, EngagementType.RINGTONE, EngagementType.WALLPAPER}
)


def _held(end_user_id: uuid.UUID) -> sa.ScalarSelect[int]:
    """How many of the engagement the end user was given."""
    return (
        select(func.count())
        .where(
            EngagementDelivery.engagement_id == Engagement.id,
            EngagementDelivery.end_user_id == end_user_id,
        )
        .correlate(Engagement)
        .scalar_subquery()
    )


def _available(
    staff: StaffPrincipal,
    *,
    channel_id: uuid.UUID,
    end_user_id: uuid.UUID,
    allowed: Collection[EngagementType],
    at: datetime,
) -> Select[tuple[Engagement]]:
    """The partner's engagements of the channel the end user may be sent now, in one query."""
    held = _held(end_user_id)
    return readable_engagements(staff).where(
        Engagement.channel_id == channel_id,
        Engagement.status == EngagementStatus.ACTIVE,
        or_(Engagement.starts_at.is_(None), Engagement.starts_at <= at),
        or_(Engagement.ends_at.is_(None), Engagement.ends_at > at),
        Engagement.type.in_(allowed),
        or_(
            Engagement.type == EngagementType.MESSAGE,
            and_(
                Engagement.type == EngagementType.PROMO,
                Engagement.data["hide_in_chat"].as_boolean().is_not(True),
            ),
            and_(
                Engagement.type == EngagementType.COUPON,
                Engagement.remaining > 0,
                held < Engagement.data["per_user_limit"].as_integer(),
            ),
            and_(Engagement.type.in_(CONTENT), held == 0),
        ),
    )


async def available_engagements(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    channel_id: uuid.UUID,
    end_user_id: uuid.UUID,
    type_: EngagementType | None = None,
) -> list[schemas.Engagement]:
    """What the agent may send the end user in their conversation with the channel, newest
    first, of one type or all."""
    allowed = await tenancy.allowed_engagement_types(session, staff)
    if type_ is not None:
        allowed = allowed & {type_}
    statement = _available(
        staff, channel_id=channel_id, end_user_id=end_user_id, allowed=allowed, at=now()
    ).order_by(Engagement.created_at.desc(), Engagement.id.desc())
    return [engagement_view(engagement) for engagement in await session.scalars(statement)]


async def lock_available(
    session: AsyncSession,
    staff: StaffPrincipal,
    engagement_id: uuid.UUID,
    *,
    channel_id: uuid.UUID,
    end_user_id: uuid.UUID,
) -> Engagement:
    """The engagement, locked until the transaction ends (PostgreSQL) so that what was checked
    holds while it is sent; 409 `engagement_not_available` if it can't be sent to the end user.

    The caller holds the conversation's lock, so no other send to this end user interleaves.
    """
    allowed = await tenancy.allowed_engagement_types(session, staff)
    statement = _available(
        staff, channel_id=channel_id, end_user_id=end_user_id, allowed=allowed, at=now()
    ).where(Engagement.id == engagement_id)
    engagement = await session.scalar(statement.with_for_update(of=Engagement))
    if engagement is None:
        raise Conflict("This engagement can't be sent to this end user now.", code=NOT_AVAILABLE)
    return engagement


def card(engagement: Engagement, delivery_id: uuid.UUID) -> dict[str, Any]:
    """The card a chat message shows, as it was when sent."""
    return {
        "id": str(engagement.id),
        "type": str(engagement.type),
        "title": engagement.title,
        "description": engagement.description,
        "data": dict(engagement.data),
        "delivery_id": str(delivery_id),
    }


def activity(
    delivery: EngagementDelivery,
    engagement: Engagement,
    kind: ActivityKind,
    at: datetime,
    points: int = 0,
) -> EngagementActivity:
    return EngagementActivity(
        tenant_id=delivery.tenant_id,
        partner_id=delivery.partner_id,
        end_user_id=delivery.end_user_id,
        delivery_id=delivery.id,
        kind=kind,
        engagement_id=engagement.id,
        engagement_type=engagement.type,
        title=engagement.title,
        points=points,
        occurred_at=at,
    )


async def record_delivery(
    session: AsyncSession,
    staff: StaffPrincipal,
    engagement: Engagement,
    *,
    delivery_id: uuid.UUID,
    end_user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    at: datetime,
) -> None:
    """The end user now holds the engagement: a delivery and its `received` activity."""
    delivery = EngagementDelivery(
        id=delivery_id,
        tenant_id=engagement.tenant_id,
        partner_id=engagement.partner_id,
        engagement_id=engagement.id,
        end_user_id=end_user_id,
        channel_id=engagement.channel_id,
        conversation_id=conversation_id,
        message_id=message_id,
        sender_id=staff.id,
        engagement_type=engagement.type,
        state=DeliveryState.RECEIVED,
        received_at=at,
    )
    session.add(delivery)
    await session.flush()
    session.add(activity(delivery, engagement, ActivityKind.RECEIVED, at))
    await session.flush()
