"""Broadcast requests (PM-4): a partner asks to send one of its active engagements to end users
who may not follow the channel; approval schedules its delivery (`delivery.py`)."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals import workflow
from relaydesk.approvals.models import PartnerRequest, RequestKind
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.models import Audience, Broadcast, BroadcastState
from relaydesk.broadcasts.schemas import BroadcastAsk
from relaydesk.clock import now
from relaydesk.engagements.models import Engagement, EngagementStatus
from relaydesk.engagements.service import engagement_view, get_engagement
from relaydesk.errors import Conflict, invalid_field
from relaydesk.tenancy.models import EndUser, Follow
from relaydesk.tenancy.service import get_partner

# A start time typed a moment ago is "now", not a mistake.
START_SLACK = timedelta(minutes=5)


def audience_of(tenant_id: uuid.UUID, channel_id: uuid.UUID, audience: Audience) -> list[object]:
    """The conditions on `EndUser` that pick a broadcast's audience."""
    conditions: list[object] = [EndUser.tenant_id == tenant_id]
    if audience == Audience.NON_FOLLOWERS:
        follows = exists().where(Follow.channel_id == channel_id, Follow.end_user_id == EndUser.id)
        conditions.append(~follows)
    return conditions


async def estimated_reach(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID, audience: Audience
) -> int:
    """How many end users the audience holds now."""
    statement = select(func.count()).select_from(EndUser)
    return await session.scalar(statement.where(*audience_of(tenant_id, channel_id, audience))) or 0


async def request_broadcast(
    session: AsyncSession, staff: StaffPrincipal, data: BroadcastAsk
) -> PartnerRequest:
    """A partner asks to broadcast one of its active engagements from a start time."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    engagement = await get_engagement(session, staff, data.engagement_id)
    if engagement.status != EngagementStatus.ACTIVE:
        raise Conflict(
            "Only an active engagement can be broadcast: publish it first.",
            code="engagement_not_active",
        )
    if data.starts_at < now() - START_SLACK:
        raise invalid_field("starts_at", "The start time has passed.")
    if engagement.starts_at is not None and engagement.starts_at > data.starts_at:
        raise invalid_field("starts_at", "The engagement starts after the broadcast would.")
    if engagement.ends_at is not None and engagement.ends_at <= data.starts_at:
        raise invalid_field("starts_at", "The engagement ends before the broadcast would start.")
    await workflow.ensure_none_pending(
        session,
        PartnerRequest.partner_id == partner.id,
        PartnerRequest.kind == RequestKind.BROADCAST,
        PartnerRequest.subject_id == engagement.id,
    )
    reach = await estimated_reach(session, staff.tenant_id, engagement.channel_id, data.audience)
    shown = engagement_view(engagement).model_dump(
        mode="json", include={"id", "type", "title", "description", "data", "ends_at"}
    )
    return await workflow.new_request(
        session,
        tenant_id=staff.tenant_id,
        kind=RequestKind.BROADCAST,
        partner=partner,
        partner_name=partner.name,
        subject_id=engagement.id,
        title=engagement.title,
        price=None,
        description=data.description,
        details={
            "engagement": shown,
            "channel_id": str(engagement.channel_id),
            **data.model_dump(mode="json", include={"audience", "starts_at"}),
            "estimated_reach": reach,
            "delivered_count": 0,
        },
        requested_by=staff,
    )


async def approve_broadcast(
    session: AsyncSession, staff: StaffPrincipal, request: PartnerRequest
) -> bool:
    """Schedules the delivery; the worker starts it at the start time (at once if that has
    passed)."""
    assert request.partner_id is not None and request.subject_id is not None
    engagement = await session.get_one(Engagement, request.subject_id)
    session.add(
        Broadcast(
            tenant_id=request.tenant_id,
            partner_id=request.partner_id,
            request_id=request.id,
            engagement_id=engagement.id,
            channel_id=engagement.channel_id,
            audience=Audience(request.details["audience"]),
            starts_at=datetime.fromisoformat(request.details["starts_at"]),
            state=BroadcastState.SCHEDULED,
        )
    )
    await session.flush()
    return False
