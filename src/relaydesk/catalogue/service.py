"""The tenant's catalogue of partnership packages (PM-1)."""

import uuid
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue import schemas
from relaydesk.catalogue.models import BillingPeriod, EngagementType, Package
from relaydesk.errors import Conflict, NotFound
from relaydesk.pagination import PageParams, paginate

EVERYTHING_PACKAGE = "All engagements"


def readable_packages(tenant_id: uuid.UUID) -> Select[tuple[Package]]:
    return select(Package).where(Package.tenant_id == tenant_id)


def package_out(package: Package) -> schemas.Package:
    return schemas.Package(
        id=package.id,
        name=package.name,
        price=schemas.Money(amount=package.price_amount, currency=package.currency),
        billing_period=package.billing_period,
        engagement_types=package.engagement_types,
        max_channels=package.max_channels,
        archived=package.archived,
        created_at=package.created_at,
    )


async def _ensure_name_free(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, package_id: uuid.UUID | None = None
) -> None:
    statement = readable_packages(tenant_id).where(Package.name == name, Package.id != package_id)
    if await session.scalar(statement):
        raise Conflict(f"A package named {name!r} already exists.", code="name_taken")


async def create_package(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: StaffPrincipal | None,
    data: schemas.PackageCreate,
) -> Package:
    await _ensure_name_free(session, tenant_id, data.name)
    package = Package(
        tenant_id=tenant_id,
        name=data.name,
        price_amount=data.price.amount,
        currency=data.price.currency,
        billing_period=data.billing_period,
        engagement_types=list(data.engagement_types),
        max_channels=data.max_channels,
        archived=data.archived,
    )
    session.add(package)
    await session.flush()
    await record(
        session,
        actor,
        "package.created",
        tenant_id=tenant_id,
        subject_type="package",
        subject_id=package.id,
    )
    return package


async def get_package(
    session: AsyncSession, tenant_id: uuid.UUID, package_id: uuid.UUID
) -> Package:
    package = await session.scalar(readable_packages(tenant_id).where(Package.id == package_id))
    if package is None:
        raise NotFound("No such package.")
    return package


async def list_packages(
    session: AsyncSession, staff: StaffPrincipal, page: PageParams
) -> tuple[list[schemas.Package], str | None]:
    rows, next_cursor = await paginate(
        session, readable_packages(staff.tenant_id), Package.id, page
    )
    return [package_out(package) for (package,) in rows], next_cursor


async def update_package(
    session: AsyncSession, staff: StaffPrincipal, package_id: uuid.UUID, data: schemas.PackageUpdate
) -> Package:
    package = await get_package(session, staff.tenant_id, package_id)
    if data.name is not None:
        await _ensure_name_free(session, staff.tenant_id, data.name, package.id)
    if data.price is not None:
        package.price_amount, package.currency = data.price.amount, data.price.currency
    changes = data.model_dump(exclude_unset=True, exclude_none=True, exclude={"price"})
    for field, value in changes.items():
        setattr(package, field, value)
    await session.flush()
    await record(
        session,
        staff,
        "package.updated",
        tenant_id=staff.tenant_id,
        subject_type="package",
        subject_id=package.id,
        data={"fields": sorted(data.model_fields_set)},
    )
    return package


async def package_by_name(session: AsyncSession, tenant_id: uuid.UUID, name: str | None) -> Package:
    """The named package, or without a name the one allowing everything (created if missing)."""
    package = await session.scalar(
        readable_packages(tenant_id).where(Package.name == (name or EVERYTHING_PACKAGE))
    )
    if package is not None:
        return package
    if name is not None:
        raise NotFound(f"No package named {name!r}.")
    everything = schemas.PackageCreate(
        name=EVERYTHING_PACKAGE,
        price=schemas.Money(amount=Decimal(0), currency="EUR"),
        billing_period=BillingPeriod.MONTH,
        engagement_types=list(EngagementType),
        max_channels=100,
    )
    return await create_package(session, tenant_id, None, everything)
