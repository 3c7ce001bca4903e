"""The engagements an end user holds (SU-3): listing, viewing, redeeming coupons and
downloading content, with the activity log and points these leave.

Redeeming counts against the coupon's quantity in the database: one guarded decrement, never
a read-modify-write, so of many end users redeeming at once exactly as many succeed as there
are coupons left. The delivery's own change is guarded the same way, so a coupon held once is
redeemed once however often the end user taps.
"""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import EndUserPrincipal
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import now
from relaydesk.engagements import schemas
from relaydesk.engagements.deliveries import CONTENT, NOT_AVAILABLE, activity
from relaydesk.engagements.events import queue_activity
from relaydesk.engagements.models import (
    ActivityKind,
    DeliveryState,
    Engagement,
    EngagementActivity,
    EngagementDelivery,
    EngagementStatus,
    RedemptionType,
)
from relaydesk.errors import Conflict, NotFound
from relaydesk.pagination import decode_cursor, encode_cursor
from relaydesk.tenancy.models import EndUser

ALREADY_REDEEMED = "already_redeemed"
EXPIRED = "engagement_expired"
NOT_REDEEMABLE = "engagement_not_redeemable"
NOT_DOWNLOADABLE = "engagement_not_downloadable"
NOT_ENOUGH_POINTS = "not_enough_points"
# Coupons of the other redemption types are redeemed at the partner's, not through the app.
_SELF_SERVICE = frozenset({RedemptionType.CLICK_TO_REDEEM, RedemptionType.TIME_BASED})


def card_view(engagement: Engagement) -> schemas.EngagementCard:
    return schemas.EngagementCard(
        id=engagement.id,
        type=engagement.type,
        title=engagement.title,
        description=engagement.description,
        status=engagement.status,
        starts_at=engagement.starts_at,
        ends_at=engagement.ends_at,
        data=engagement.data,
    )


def delivery_view(delivery: EngagementDelivery, engagement: Engagement) -> schemas.Delivery:
    return schemas.Delivery(
        id=delivery.id,
        engagement=card_view(engagement),
        channel_id=delivery.channel_id,
        state=delivery.state,
        received_at=delivery.received_at,
        viewed_at=delivery.viewed_at,
        redeemed_at=delivery.redeemed_at,
        downloaded_at=delivery.downloaded_at,
    )


def held_by(end_user: EndUserPrincipal) -> Select[tuple[EngagementDelivery, Engagement]]:
    """The end user's deliveries with their engagements: nobody else's."""
    return (
        select(EngagementDelivery, Engagement)
        .join(Engagement, Engagement.id == EngagementDelivery.engagement_id)
        .where(
            EngagementDelivery.tenant_id == end_user.tenant_id,
            EngagementDelivery.end_user_id == end_user.id,
        )
    )


async def my_engagements(
    session: AsyncSession, end_user: EndUserPrincipal, *, limit: int, cursor: str | None = None
) -> tuple[list[schemas.Delivery], str | None]:
    """What the end user was given, newest first (delivery ids grow with time)."""
    statement = held_by(end_user)
    if cursor:
        statement = statement.where(EngagementDelivery.id < decode_cursor(cursor))
    statement = statement.order_by(EngagementDelivery.id.desc()).limit(limit + 1)
    rows = (await session.execute(statement)).all()
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return [delivery_view(*row) for row in rows[:limit]], next_cursor


async def _held(
    session: AsyncSession, end_user: EndUserPrincipal, delivery_id: uuid.UUID
) -> tuple[EngagementDelivery, Engagement]:
    row = (
        await session.execute(held_by(end_user).where(EngagementDelivery.id == delivery_id))
    ).one_or_none()
    if row is None:
        raise NotFound("No such engagement of yours.")
    return row[0], row[1]


async def _changed(
    session: AsyncSession, delivery_id: uuid.UUID, guard: sa.ColumnElement[bool], **values: Any
) -> bool:
    """Sets `values` on the delivery if `guard` still holds in the database."""
    result = await session.execute(
        update(EngagementDelivery)
        .where(EngagementDelivery.id == delivery_id, guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _spend(session: AsyncSession, end_user: EndUserPrincipal, price: int) -> None:
    """Checks the end user can pay `price` points, holding their row (PostgreSQL) so that two
    purchases at once don't both spend the same points."""
    await session.execute(select(EndUser.id).where(EndUser.id == end_user.id).with_for_update())
    balance = await session.scalar(
        select(func.coalesce(func.sum(EngagementActivity.points), 0)).where(
            EngagementActivity.end_user_id == end_user.id
        )
    )
    if (balance or 0) < price:
        raise Conflict(
            f"This needs {price} points; you have {balance}.",
            code=NOT_ENOUGH_POINTS,
            extra={"balance": balance, "price": price},
        )


async def _finish(
    session: AsyncSession,
    delivery: EngagementDelivery,
    engagement: Engagement,
    activities: list[EngagementActivity],
) -> schemas.Delivery:
    """Stores the activities, announces them to the partner's agents, shows the delivery."""
    session.add_all(activities)
    await session.flush()
    await session.refresh(delivery)
    if activities:
        queue_activity(
            session,
            partner_id=delivery.partner_id,
            end_user_id=delivery.end_user_id,
            delivery_id=delivery.id,
            engagement_id=engagement.id,
            state=delivery.state,
            activities=activities,
        )
    return delivery_view(delivery, engagement)


async def view_engagement(
    session: AsyncSession, end_user: EndUserPrincipal, delivery_id: uuid.UUID
) -> schemas.Delivery:
    """The end user opened the engagement: received → viewed, once."""
    delivery, engagement = await _held(session, end_user, delivery_id)
    at = now()
    first = await _changed(
        session,
        delivery.id,
        EngagementDelivery.state == DeliveryState.RECEIVED,
        state=DeliveryState.VIEWED,
        viewed_at=at,
    )
    activities = [activity(delivery, engagement, ActivityKind.VIEWED, at)] if first else []
    return await _finish(session, delivery, engagement, activities)


async def redeem_engagement(
    session: AsyncSession, end_user: EndUserPrincipal, delivery_id: uuid.UUID
) -> schemas.Delivery:
    """Redeems a coupon the end user holds, paying its points price, if any are left."""
    delivery, engagement = await _held(session, end_user, delivery_id)
    if engagement.type != EngagementType.COUPON:
        raise Conflict("Only coupons are redeemed.", code=NOT_REDEEMABLE)
    if engagement.data["redemption_type"] not in _SELF_SERVICE:
        raise Conflict("This coupon is redeemed at the partner's.", code=NOT_REDEEMABLE)
    if delivery.state == DeliveryState.REDEEMED:
        raise Conflict("You redeemed this coupon already.", code=ALREADY_REDEEMED)
    at = now()
    if engagement.status == EngagementStatus.FINISHED or (
        engagement.ends_at is not None and engagement.ends_at <= at
    ):
        raise Conflict("This coupon has expired.", code=EXPIRED)
    price = int(engagement.data.get("points_price", 0))
    if price:
        await _spend(session, end_user, price)
    if not await _changed(
        session,
        delivery.id,
        EngagementDelivery.state != DeliveryState.REDEEMED,
        state=DeliveryState.REDEEMED,
        redeemed_at=at,
        viewed_at=func.coalesce(EngagementDelivery.viewed_at, at),
    ):
        raise Conflict("You redeemed this coupon already.", code=ALREADY_REDEEMED)
    taken = await session.execute(
        update(Engagement)
        .where(Engagement.id == engagement.id, Engagement.remaining > 0)
        .values(remaining=Engagement.remaining - 1)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        # Raising rolls the delivery's change back with the rest of the request.
        raise Conflict("No coupons are left.", code=NOT_AVAILABLE)
    activities = [activity(delivery, engagement, ActivityKind.REDEEMED, at)]
    if price:
        activities.append(activity(delivery, engagement, ActivityKind.POINTS_SPENT, at, -price))
    return await _finish(session, delivery, engagement, activities)


async def download_engagement(
    session: AsyncSession, end_user: EndUserPrincipal, delivery_id: uuid.UUID
) -> schemas.Delivery:
    """Downloads a sticker pack, ringtone or wallpaper: the first time pays its price and
    earns its bonus points; later downloads change nothing."""
    delivery, engagement = await _held(session, end_user, delivery_id)
    if engagement.type not in CONTENT:
        raise Conflict(
            "Only sticker packs, ringtones and wallpapers download.", code=NOT_DOWNLOADABLE
        )
    price = int(engagement.data.get("points_price", 0))
    if delivery.downloaded_at is None and price:
        await _spend(session, end_user, price)
    at = now()
    first = await _changed(
        session,
        delivery.id,
        EngagementDelivery.downloaded_at.is_(None),
        state=DeliveryState.DOWNLOADED,
        downloaded_at=at,
        viewed_at=func.coalesce(EngagementDelivery.viewed_at, at),
    )
    activities = []
    if first:
        activities.append(activity(delivery, engagement, ActivityKind.DOWNLOADED, at))
        if price:
            spent = activity(delivery, engagement, ActivityKind.POINTS_SPENT, at, -price)
            activities.append(spent)
        if bonus := int(engagement.data.get("bonus_points", 0)):
            earned = activity(delivery, engagement, ActivityKind.POINTS_EARNED, at, bonus)
            activities.append(earned)
    return await _finish(session, delivery, engagement, activities)
