"""Add-on requests (PM-3): a partner asks for an add-on; approval activates it."""

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals import schemas, workflow
from relaydesk.approvals.models import PartnerRequest, RequestKind
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import Addon
from relaydesk.catalogue.service import addon_out, get_item
from relaydesk.db import InsertUnlessDuplicate
from relaydesk.errors import Conflict
from relaydesk.tenancy.models import PartnerAddon
from relaydesk.tenancy.service import get_partner

_activate = InsertUnlessDuplicate(PartnerAddon.__table__, "partner_id", "addon_id")


async def request_addon(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.AddonAsk
) -> PartnerRequest:
    """A partner asks for an add-on it does not have and has not asked for yet."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    addon = await get_item(session, Addon, staff.tenant_id, data.addon_id)
    if addon.archived:
        raise Conflict(f"The add-on {addon.name!r} is no longer offered.", code="archived")
    if await session.get(PartnerAddon, (partner.id, addon.id)):
        raise Conflict(f"You have {addon.name!r} already.", code="addon_active")
    await workflow.ensure_none_pending(
        session,
        PartnerRequest.partner_id == partner.id,
        PartnerRequest.kind == RequestKind.ADDON,
        PartnerRequest.subject_id == addon.id,
    )
    return await workflow.new_request(
        session,
        tenant_id=staff.tenant_id,
        kind=RequestKind.ADDON,
        partner=partner,
        partner_name=partner.name,
        subject_id=addon.id,
        title=addon.name,
        price=(addon.price_amount, addon.currency),
        description=data.description,
        details={"addon": addon_out(addon).model_dump(mode="json", exclude={"created_at"})},
        requested_by=staff,
    )


async def approve_addon(
    session: AsyncSession, staff: StaffPrincipal, request: PartnerRequest
) -> bool:
    """Activates the add-on for the partner (once, however often it was granted)."""
    assert request.partner_id is not None and request.subject_id is not None
    await _activate(
        session,
        {
            "partner_id": request.partner_id,
            "addon_id": request.subject_id,
            "tenant_id": request.tenant_id,
            "activated_at": request.decided_at,
        },
    )
    return False
