"""The tenant's catalogue (PM-1): partnership packages, add-ons and advertising packages.

The three kinds of item share one set of rules: names are unique within the tenant, tenant
admins change them, and an item that is in use is archived rather than deleted.
"""

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals.models import PartnerRequest
from relaydesk.audit.service import record
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue import schemas
from relaydesk.catalogue.models import Addon, AdPackage, BillingPeriod, EngagementType, Package
from relaydesk.db import unique_or
from relaydesk.errors import Conflict, NotFound
from relaydesk.pagination import PageParams, paginate
from relaydesk.schemas import Money
from relaydesk.tenancy.models import Partner, PartnerAddon

EVERYTHING_PACKAGE = "All engagements"

Item = Package | Addon | AdPackage
ItemModel = type[Package] | type[Addon] | type[AdPackage]
M = TypeVar("M", Package, Addon, AdPackage)

_NOUNS: dict[ItemModel, str] = {Package: "package", Addon: "add-on", AdPackage: "ad package"}


def _price(item: Item) -> Money:
    return Money(amount=item.price_amount, currency=item.currency)


def package_out(package: Package) -> schemas.Package:
    return schemas.Package(
        id=package.id,
        name=package.name,
        price=_price(package),
        billing_period=package.billing_period,
        engagement_types=package.engagement_types,
        max_channels=package.max_channels,
        archived=package.archived,
        created_at=package.created_at,
    )


def addon_out(addon: Addon) -> schemas.Addon:
    return schemas.Addon(
        id=addon.id,
        name=addon.name,
        price=_price(addon),
        description=addon.description,
        grants=schemas.Grants(
            engagement_types=addon.grant_engagement_types,
            extra_channels=addon.grant_extra_channels,
        ),
        archived=addon.archived,
        created_at=addon.created_at,
    )


def ad_package_out(ad_package: AdPackage) -> schemas.AdPackage:
    return schemas.AdPackage(
        id=ad_package.id,
        name=ad_package.name,
        impressions=ad_package.impressions,
        price=_price(ad_package),
        archived=ad_package.archived,
        created_at=ad_package.created_at,
    )


def item_out(item: Item) -> BaseModel:
    if isinstance(item, Package):
        return package_out(item)
    if isinstance(item, Addon):
        return addon_out(item)
    return ad_package_out(item)


def readable_items(model: type[M], tenant_id: uuid.UUID) -> Select[tuple[M]]:
    return select(model).where(model.tenant_id == tenant_id)


def _columns(data: BaseModel, *, partial: bool) -> dict[str, Any]:
    """Table columns from an item's fields (price and grants are stored flat)."""
    values = data.model_dump(exclude_unset=partial, exclude_none=partial)
    if (price := values.pop("price", None)) is not None:
        values["price_amount"], values["currency"] = price["amount"], price["currency"]
    if (grants := values.pop("grants", None)) is not None:
        values["grant_engagement_types"] = [str(type_) for type_ in grants["engagement_types"]]
        values["grant_extra_channels"] = grants["extra_channels"]
    if "engagement_types" in values:
        values["engagement_types"] = [str(type_) for type_ in values["engagement_types"]]
    return values


def _name_taken(model: ItemModel, name: str) -> Conflict:
    return Conflict(f"The {_NOUNS[model]} {name!r} already exists.", code="name_taken")


async def _ensure_name_free(
    session: AsyncSession,
    model: ItemModel,
    tenant_id: uuid.UUID,
    name: str,
    item_id: uuid.UUID | None = None,
) -> None:
    statement = readable_items(model, tenant_id).where(model.name == name, model.id != item_id)
    if await session.scalar(statement):
        raise _name_taken(model, name)


async def offered_items(session: AsyncSession, model: type[M], tenant_id: uuid.UUID) -> list[M]:
    """The tenant's items of a kind on offer (not archived), cheapest first."""
    statement = readable_items(model, tenant_id).where(model.archived.is_(False))
    return list(await session.scalars(statement.order_by(model.price_amount, model.name)))


async def get_item(
    session: AsyncSession, model: type[M], tenant_id: uuid.UUID, item_id: uuid.UUID
) -> M:
    item = await session.scalar(readable_items(model, tenant_id).where(model.id == item_id))
    if item is None:
        raise NotFound(f"No such {_NOUNS[model]}.")
    return item


async def list_items(
    session: AsyncSession, staff: StaffPrincipal, model: type[M], page: PageParams
) -> tuple[list[M], str | None]:
    rows, next_cursor = await paginate(
        session, readable_items(model, staff.tenant_id), model.id, page
    )
    return [item for (item,) in rows], next_cursor


async def create_item(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: StaffPrincipal | None,
    model: type[M],
    data: BaseModel,
) -> M:
    await _ensure_name_free(session, model, tenant_id, data.name)  # type: ignore[attr-defined]
    item = model(tenant_id=tenant_id, **_columns(data, partial=False))
    async with unique_or(session, _name_taken(model, item.name)):
        session.add(item)
    await _audit(session, actor, item, "created")
    return item


async def update_item(
    session: AsyncSession,
    staff: StaffPrincipal,
    model: type[M],
    item_id: uuid.UUID,
    data: BaseModel,
) -> M:
    item = await get_item(session, model, staff.tenant_id, item_id)
    if (name := getattr(data, "name", None)) is not None:
        await _ensure_name_free(session, model, staff.tenant_id, name, item.id)
    async with unique_or(session, _name_taken(model, getattr(data, "name", None) or item.name)):
        for column, value in _columns(data, partial=True).items():
            setattr(item, column, value)
    await _audit(session, staff, item, "updated", fields=sorted(data.model_fields_set))
    return item


async def items_in_use(session: AsyncSession, items: Sequence[Item]) -> set[uuid.UUID]:
    """Those of `items` a partner has or a request asked for: they stay, archived. Three
    reads however many items."""
    ids = [item.id for item in items]
    if not ids:
        return set()
    holders = (
        select(PartnerRequest.subject_id).where(PartnerRequest.subject_id.in_(ids)),
        select(Partner.package_id).where(Partner.package_id.in_(ids)),
        select(PartnerAddon.addon_id).where(PartnerAddon.addon_id.in_(ids)),
    )
    return {item_id for statement in holders for item_id in await session.scalars(statement)}


async def delete_item(
    session: AsyncSession, staff: StaffPrincipal, model: ItemModel, item_id: uuid.UUID
) -> None:
    """Deletes an item nobody has used; one in use answers 409 `in_use` (archive it)."""
    item = await get_item(session, model, staff.tenant_id, item_id)
    if item.id in await items_in_use(session, [item]):
        raise Conflict(
            f"The {_NOUNS[model]} {item.name!r} is in use: archive it instead.", code="in_use"
        )
    await session.execute(delete(model).where(model.id == item.id))
    await _audit(session, staff, item, "deleted")


async def _audit(
    session: AsyncSession, actor: StaffPrincipal | None, item: Item, verb: str, **data: Any
) -> None:
    await record(
        session,
        actor,
        f"{item.__tablename__}.{verb}",
        tenant_id=item.tenant_id,
        subject_type=item.__tablename__,
        subject_id=item.id,
        data=data,
    )


async def create_package(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: StaffPrincipal | None,
    data: schemas.PackageCreate,
) -> Package:
    return await create_item(session, tenant_id, actor, Package, data)


async def package_by_name(session: AsyncSession, tenant_id: uuid.UUID, name: str | None) -> Package:
    """The named package, or without a name the one allowing everything (created if missing)."""
    package = await session.scalar(
        readable_items(Package, tenant_id).where(Package.name == (name or EVERYTHING_PACKAGE))
    )
    if package is not None:
        return package
    if name is not None:
        raise NotFound(f"No package named {name!r}.")
    everything = schemas.PackageCreate(
        name=EVERYTHING_PACKAGE,
        price=Money(amount=Decimal(0), currency="EUR"),
        billing_period=BillingPeriod.MONTH,
        engagement_types=list(EngagementType),
        max_channels=100,
    )
    return await create_package(session, tenant_id, None, everything)
