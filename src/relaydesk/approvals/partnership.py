"""Partnership requests (PM-2): a would-be partner's registration, or a partner's package change."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals import schemas, workflow
from relaydesk.approvals.models import PartnerRequest, RequestKind
from relaydesk.auth.links import LINK_TTL_HOURS, issue_password_link
from relaydesk.auth.models import PasswordLinkPurpose, StaffUser
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.auth.service import create_staff_user
from relaydesk.catalogue.models import Package
from relaydesk.catalogue.service import get_item
from relaydesk.errors import Conflict
from relaydesk.notify.service import queue_email
from relaydesk.tenancy.models import Partner, Tenant
from relaydesk.tenancy.service import create_partner, get_partner


def _package_snapshot(package: Package) -> dict[str, Any]:
    return {
        "id": str(package.id),
        "name": package.name,
        "price": {"amount": str(package.price_amount), "currency": package.currency},
        "billing_period": str(package.billing_period),
    }


async def _offered_package(session: AsyncSession, tenant_id: Any, package_id: Any) -> Package:
    package = await get_item(session, Package, tenant_id, package_id)
    if package.archived:
        raise Conflict(f"The package {package.name!r} is no longer offered.", code="archived")
    return package


async def _ensure_partner_name_free(session: AsyncSession, tenant: Tenant, name: str) -> None:
    taken = select(Partner.id).where(
        Partner.tenant_id == tenant.id, func.lower(Partner.name) == name.lower()
    )
    if await session.scalar(taken):
        raise Conflict(f"A partner named {name!r} already exists.", code="name_taken")


async def _has_account(session: AsyncSession, email: str) -> bool:
    return bool(await session.scalar(select(StaffUser.id).where(StaffUser.email == email)))


async def register_partner(
    session: AsyncSession, tenant: Tenant, data: schemas.Registration
) -> PartnerRequest | None:
    """A registration through the tenant's public form; the partner exists once approved.

    An address that already has an account gets an e-mail saying so instead of a request,
    and the caller the same answer as anyone, so the form reveals no accounts (None).
    """
    email = data.email.strip().lower()
    package = await _offered_package(session, tenant.id, data.package_id)
    await _ensure_partner_name_free(session, tenant, data.partner_name)
    if await _has_account(session, email):
        await queue_email(
            session,
            tenant_id=tenant.id,
            to=email,
            template="registration_account_exists",
            context={
                "tenant_name": tenant.name,
                "partner_name": data.partner_name,
                "contact_name": data.contact_name,
            },
        )
        return None
    await workflow.ensure_none_pending(
        session,
        PartnerRequest.tenant_id == tenant.id,
        PartnerRequest.kind == RequestKind.PARTNERSHIP,
        PartnerRequest.partner_id.is_(None),
        (func.lower(PartnerRequest.partner_name) == data.partner_name.lower())
        | (PartnerRequest.details["email"].as_string() == email),
    )
    request = await workflow.new_request(
        session,
        tenant_id=tenant.id,
        kind=RequestKind.PARTNERSHIP,
        partner=None,
        partner_name=data.partner_name,
        subject_id=package.id,
        title=package.name,
        price=(package.price_amount, package.currency),
        description=data.description,
        details={
            "package": _package_snapshot(package),
            "email": email,
            "phone": data.phone,
            "website": data.website,
            "contact_name": data.contact_name,
        },
        requested_by=None,
    )
    await queue_email(
        session,
        tenant_id=tenant.id,
        to=email,
        template="registration_received",
        context={
            "tenant_name": tenant.name,
            "partner_name": data.partner_name,
            "contact_name": data.contact_name,
            "package_name": package.name,
        },
    )
    return request


async def request_package_change(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.PackageChange
) -> PartnerRequest:
    """An existing partner asks to move to another package."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    package = await _offered_package(session, staff.tenant_id, data.package_id)
    if package.id == partner.package_id:
        raise Conflict(f"You are on {package.name!r} already.", code="already_on_package")
    await workflow.ensure_none_pending(
        session,
        PartnerRequest.partner_id == partner.id,
        PartnerRequest.kind == RequestKind.PARTNERSHIP,
    )
    return await workflow.new_request(
        session,
        tenant_id=staff.tenant_id,
        kind=RequestKind.PARTNERSHIP,
        partner=partner,
        partner_name=partner.name,
        subject_id=package.id,
        title=package.name,
        price=(package.price_amount, package.currency),
        description=data.description,
        details={
            "package": _package_snapshot(package),
            "email": partner.email,
            "phone": partner.phone,
            "website": partner.website,
            "contact_name": partner.contact_name,
        },
        requested_by=staff,
    )


async def approve_partnership(
    session: AsyncSession, staff: StaffPrincipal, request: PartnerRequest
) -> bool:
    """A registration becomes an active partner whose admin gets a link to set a password
    (and no other mail); an existing partner moves to the package."""
    package = await session.get_one(Package, request.subject_id)
    if request.partner_id is not None:
        partner = await get_partner(session, request.partner_id)
        partner.package_id = package.id
        return False
    tenant = await session.get_one(Tenant, request.tenant_id)
    details = request.details
    await _ensure_partner_name_free(session, tenant, request.partner_name)
    partner = await create_partner(
        session,
        tenant=tenant,
        name=request.partner_name,
        package=package,
        email=details["email"],
        phone=details["phone"],
        website=details["website"],
        contact_name=details["contact_name"],
    )
    request.partner_id = partner.id
    admin = await create_staff_user(
        session,
        tenant_id=tenant.id,
        partner_id=partner.id,
        role=Role.PARTNER_ADMIN,
        email=details["email"],
        name=details["contact_name"],
        password=None,
        actor=staff,
    )
    link = await issue_password_link(session, admin, PasswordLinkPurpose.INVITATION)
    await queue_email(
        session,
        tenant_id=tenant.id,
        to=admin.email,
        template="partner_welcome",
        context={
            "tenant_name": tenant.name,
            "partner_name": partner.name,
            "contact_name": admin.name,
            "package_name": package.name,
            "set_password_path": link,
            "expires_hours": LINK_TTL_HOURS[PasswordLinkPurpose.INVITATION],
        },
    )
    return True
