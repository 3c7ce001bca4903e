"""Advertising packages and ads (PM-5, PM-6): a partner buys impressions, asks for ad campaigns
within its balance, and approved ads are served to end users between their dates.

Serving counts each impression against the ad's budget and the partner's balance in one
transaction, each by a conditional update (`… SET used = used + 1 WHERE used < budget`), so
concurrent end users can't take either past its limit; serving stops when either runs out.
"""

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads import schemas
from relaydesk.ads.models import Ad, AdType
from relaydesk.approvals import workflow
from relaydesk.approvals.models import PartnerRequest, RequestKind
from relaydesk.attachments.models import Attachment, AttachmentKind
from relaydesk.attachments.service import FileReference, attachment_view, claim_engagement_files
from relaydesk.auth.principal import EndUserPrincipal, StaffPrincipal
from relaydesk.catalogue.models import AdPackage
from relaydesk.catalogue.service import ad_package_out, get_item
from relaydesk.clock import now
from relaydesk.errors import Conflict, invalid_field
from relaydesk.tenancy.models import Partner, PartnerStatus
from relaydesk.tenancy.service import get_partner

# What each ad type shows: a video ad plays a video, an interstitial either, the others a picture.
MEDIA_KINDS = {
    AdType.BANNER: frozenset({AttachmentKind.IMAGE}),
    AdType.NATIVE: frozenset({AttachmentKind.IMAGE}),
    AdType.INTERSTITIAL: frozenset({AttachmentKind.IMAGE, AttachmentKind.VIDEO}),
    AdType.VIDEO: frozenset({AttachmentKind.VIDEO}),
}
# Ads of a placement that are tried in turn when the first can't be charged.
CANDIDATES = 5


async def request_ad_package(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.AdPackageAsk
) -> PartnerRequest:
    """A partner asks to buy an advertising package's impressions."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    ad_package = await get_item(session, AdPackage, staff.tenant_id, data.ad_package_id)
    if ad_package.archived:
        raise Conflict(f"{ad_package.name!r} is no longer offered.", code="archived")
    await workflow.ensure_none_pending(
        session,
        PartnerRequest.partner_id == partner.id,
        PartnerRequest.kind == RequestKind.AD_PACKAGE,
        PartnerRequest.subject_id == ad_package.id,
    )
    shown = ad_package_out(ad_package).model_dump(
        mode="json", include={"id", "name", "impressions"}
    )
    return await workflow.new_request(
        session,
        tenant_id=staff.tenant_id,
        kind=RequestKind.AD_PACKAGE,
        partner=partner,
        partner_name=partner.name,
        subject_id=ad_package.id,
        title=ad_package.name,
        price=(ad_package.price_amount, ad_package.currency),
        description=data.description,
        details={"ad_package": shown},
        requested_by=staff,
    )


async def approve_ad_package(
    session: AsyncSession, staff: StaffPrincipal, request: PartnerRequest
) -> bool:
    """Adds the package's impressions, as they were asked for, to the partner's balance."""
    await session.execute(
        update(Partner)
        .where(Partner.id == request.partner_id)
        .values(
            impressions_balance=Partner.impressions_balance
            + int(request.details["ad_package"]["impressions"])
        )
        .execution_options(synchronize_session=False)
    )
    return False


async def request_ad(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.AdAsk
) -> PartnerRequest:
    """A partner's ad campaign: its file becomes the partner's, kept for the ad, and its
    budget must fit the impressions the partner has."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    if data.ends_at <= now():
        raise invalid_field("ends_at", "The end has passed.")
    if data.impressions_budget > partner.impressions_balance:
        raise invalid_field(
            "impressions_budget",
            f"The budget is more than your {partner.impressions_balance:,} impressions. "
            "Ask for an advertising package first.",
        )
    reference = FileReference(
        ("media_attachment_id",), data.media_attachment_id, MEDIA_KINDS[data.ad_type]
    )
    await claim_engagement_files(session, staff, [reference])
    media = await session.get_one(Attachment, data.media_attachment_id)
    details = data.model_dump(mode="json", exclude={"kind", "media_attachment_id"})
    details["media"] = attachment_view(media).model_dump(mode="json")
    return await workflow.new_request(
        session,
        tenant_id=staff.tenant_id,
        kind=RequestKind.AD,
        partner=partner,
        partner_name=partner.name,
        subject_id=None,
        title=data.title,
        price=None,
        description=data.description,
        details=details,
        requested_by=staff,
    )


async def approve_ad(session: AsyncSession, staff: StaffPrincipal, request: PartnerRequest) -> bool:
    """The campaign as asked for becomes an ad, served from its start."""
    assert request.partner_id is not None
    details = request.details
    session.add(
        Ad(
            tenant_id=request.tenant_id,
            partner_id=request.partner_id,
            request_id=request.id,
            ad_type=AdType(details["ad_type"]),
            title=details["title"],
            subtitle=details["subtitle"],
            description=details["description"],
            click_url=details["click_url"],
            cta_text=details["cta_text"],
            media_attachment_id=uuid.UUID(details["media"]["id"]),
            starts_at=datetime.fromisoformat(details["starts_at"]),
            ends_at=datetime.fromisoformat(details["ends_at"]),
            impressions_budget=int(details["impressions_budget"]),
        )
    )
    await session.flush()
    return False


async def serve_ads(
    session: AsyncSession, end_user: EndUserPrincipal, placement: AdType | None
) -> schemas.ServedAds:
    """An ad for the placement (one of each type without one), each counted as an impression;
    none for a placement with no ad to show."""
    at = now()
    candidates = {
        ad_type: await _candidates(session, end_user.tenant_id, ad_type, at)
        for ad_type in ([placement] if placement else list(AdType))
    }
    # Charging locks each partner charged until the answer commits: all of them, in one
    # order, before any, so two answers charging the same partners can't wait for each other.
    partner_ids = sorted({ad.partner_id for ads in candidates.values() for ad in ads})
    if partner_ids:
        locking = select(Partner.id).where(Partner.id.in_(partner_ids)).order_by(Partner.id)
        await session.execute(locking.with_for_update())
    served = []
    for ads in candidates.values():
        for ad in ads:
            if await _charge(session, ad, at):
                served.append(_served(ad))
                break
    return schemas.ServedAds(items=served)


def _served(ad: Ad) -> schemas.ServedAd:
    return schemas.ServedAd(
        id=ad.id,
        ad_type=ad.ad_type,
        title=ad.title,
        subtitle=ad.subtitle,
        description=ad.description,
        click_url=ad.click_url,
        cta_text=ad.cta_text,
        media_url=f"/api/v1/attachments/{ad.media_attachment_id}",
    )


async def _candidates(
    session: AsyncSession, tenant_id: uuid.UUID, ad_type: AdType, at: datetime
) -> list[Ad]:
    """Ads of the type that may be shown now, the one served longest ago first."""
    ads = await session.scalars(
        select(Ad)
        .join(Partner, Partner.id == Ad.partner_id)
        .where(
            Ad.tenant_id == tenant_id,
            Ad.ad_type == ad_type,
            Ad.ends_at > at,
            Ad.starts_at <= at,
            Ad.impressions_used < Ad.impressions_budget,
            Partner.status == PartnerStatus.ACTIVE,
            Partner.impressions_balance > 0,
        )
        .order_by(Ad.last_served_at.asc().nulls_first(), Ad.id)
        .limit(CANDIDATES)
    )
    return list(ads)


async def _charge(session: AsyncSession, ad: Ad, at: datetime) -> bool:
    """One impression off the partner's balance and onto the ad's count, both or neither."""
    async with session.begin_nested() as savepoint:
        charged = await session.execute(
            update(Partner)
            .where(Partner.id == ad.partner_id, Partner.impressions_balance > 0)
            .values(impressions_balance=Partner.impressions_balance - 1)
            .execution_options(synchronize_session=False)
        )
        if charged.rowcount:  # type: ignore[attr-defined]
            counted = await session.execute(
                update(Ad)
                .where(Ad.id == ad.id, Ad.impressions_used < Ad.impressions_budget)
                .values(impressions_used=Ad.impressions_used + 1, last_served_at=at)
                .execution_options(synchronize_session=False)
            )
            if counted.rowcount:  # type: ignore[attr-defined]
                return True
        await savepoint.rollback()
    return False
