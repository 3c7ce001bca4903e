"""Submitting requests and deciding them; every decision is e-mailed to the partner."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads.schemas import AdAsk, AdPackageAsk
from relaydesk.ads.service import request_ad, request_ad_package
from relaydesk.approvals import schemas, workflow
from relaydesk.approvals.addons import request_addon
from relaydesk.approvals.kinds import KINDS
from relaydesk.approvals.models import PartnerRequest, RequestStatus
from relaydesk.approvals.partnership import register_partner, request_package_change
from relaydesk.audit.service import record
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.schemas import BroadcastAsk
from relaydesk.broadcasts.service import request_broadcast
from relaydesk.db import uuid7
from relaydesk.errors import NotFound, RateLimited
from relaydesk.notify.service import queue_email
from relaydesk.ratelimit import FailureCounter
from relaydesk.tenancy.models import Partner, Tenant
from relaydesk.tenancy.service import tenant_by_slug

# Registrations need no account, so each address may send only a few an hour.
REGISTRATIONS_PER_HOUR = 10


async def submit_registration(
    session: AsyncSession,
    counter: FailureCounter,
    client_ip: str,
    tenant_slug: str,
    data: schemas.Registration,
) -> uuid.UUID:
    """A would-be partner's application through the tenant's public form (SU-2); answers the
    request's id, or for an address that has an account (told so by e-mail) an id like it
    that names nothing."""
    tenant = await tenant_by_slug(session, tenant_slug)
    key = f"registration:{client_ip}"
    count, retry_after = await counter.failures(key)
    if count >= REGISTRATIONS_PER_HOUR:
        raise RateLimited(retry_after, "Too many registrations from this address. Try later.")
    await counter.add_failure(key, 3600)
    request = await register_partner(session, tenant, data)
    if request is None:
        return uuid7()
    await _audit(session, None, request, "submitted")
    return request.id


async def submit_partner_request(
    session: AsyncSession,
    staff: StaffPrincipal,
    data: schemas.PartnerRequestAsk,
) -> schemas.Request:
    """A partner's request to the tenant, pending until tenant staff decide it."""
    if staff.partner_id is None:
        raise NotFound("Only partners make requests.")
    match data:
        case schemas.PackageChange():
            request = await request_package_change(session, staff, data)
        case schemas.AddonAsk():
            request = await request_addon(session, staff, data)
        case BroadcastAsk():
            request = await request_broadcast(session, staff, data)
        case AdPackageAsk():
            request = await request_ad_package(session, staff, data)
        case AdAsk():
            request = await request_ad(session, staff, data)
    await _audit(session, staff, request, "submitted")
    return await workflow.get_request(session, staff, request.id)


async def approve_request(
    session: AsyncSession, staff: StaffPrincipal, request_id: uuid.UUID
) -> schemas.Request:
    """Approves a pending request, carries out what its kind does, and tells the partner."""
    request = await workflow.decide(session, staff, request_id, RequestStatus.APPROVED)
    if not await KINDS[request.kind].approve(session, staff, request):
        await _tell_partner(session, request, "request_approved")
    await _audit(session, staff, request, "approved")
    return await workflow.get_request(session, staff, request.id)


async def reject_request(
    session: AsyncSession, staff: StaffPrincipal, request_id: uuid.UUID, reason: str
) -> schemas.Request:
    """Rejects a pending request and e-mails the partner the reason."""
    request = await workflow.decide(session, staff, request_id, RequestStatus.REJECTED, reason)
    if request.partner_id is None:
        await _tell_partner(session, request, "registration_rejected", reason=reason)
    else:
        await _tell_partner(session, request, "request_rejected", reason=reason)
    await _audit(session, staff, request, "rejected")
    return await workflow.get_request(session, staff, request.id)


async def _tell_partner(
    session: AsyncSession, request: PartnerRequest, template: str, **context: str
) -> None:
    """Mails the partner's address, or for a registration the applicant's."""
    tenant = await session.get_one(Tenant, request.tenant_id)
    partner = await session.get(Partner, request.partner_id) if request.partner_id else None
    await queue_email(
        session,
        tenant_id=request.tenant_id,
        to=partner.email if partner else request.details["email"],
        template=template,
        context={
            "tenant_name": tenant.name,
            "tenant_slug": tenant.slug,
            "partner_name": request.partner_name,
            "kind_label": KINDS[request.kind].label,
            "title": request.title,
            **context,
        },
    )


async def _audit(
    session: AsyncSession, actor: StaffPrincipal | None, request: PartnerRequest, verb: str
) -> None:
    await record(
        session,
        actor,
        f"request.{verb}",
        tenant_id=request.tenant_id,
        partner_id=request.partner_id,
        subject_type="partner_request",
        subject_id=request.id,
        data={"kind": str(request.kind)},
    )
