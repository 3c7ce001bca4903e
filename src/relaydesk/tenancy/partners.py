"""The tenant's list of its partners (PM-8): package, status, invoice ID, add-ons, channels."""

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import Addon, Package
from relaydesk.db import Database
from relaydesk.errors import NotFound
from relaydesk.exports import rows_in_batches
from relaydesk.pagination import PageParams, paginate
from relaydesk.schemas import Money
from relaydesk.tenancy import schemas
from relaydesk.tenancy.models import Channel, Follow, Partner, PartnerAddon, PartnerStatus


def _tenant_partners(
    staff: StaffPrincipal, q: str | None = None, status: PartnerStatus | None = None
) -> Select[tuple[Partner, Package]]:
    statement = (
        select(Partner, Package)
        .join(Package, Package.id == Partner.package_id)
        .where(Partner.tenant_id == staff.tenant_id)
    )
    if q and q.strip():
        statement = statement.where(
            func.lower(Partner.name).contains(q.strip().lower(), autoescape=True)
        )
    if status is not None:
        statement = statement.where(Partner.status == status)
    return statement


async def _addons_of(
    session: AsyncSession, partner_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.PartnerAddonItem]]:
    rows = await session.execute(
        select(PartnerAddon.partner_id, Addon.id, Addon.name)
        .join(Addon, Addon.id == PartnerAddon.addon_id)
        .where(PartnerAddon.partner_id.in_(partner_ids))
        .order_by(Addon.name)
    )
    addons: dict[uuid.UUID, list[schemas.PartnerAddonItem]] = defaultdict(list)
    for partner_id, addon_id, name in rows:
        addons[partner_id].append(schemas.PartnerAddonItem(id=addon_id, name=name))
    return addons


async def _channels_of(
    session: AsyncSession, partner_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.PartnerChannel]]:
    # Counted by channel, the key follows are stored under.
    their_channels = select(Channel.id).where(Channel.partner_id.in_(partner_ids))
    followers = (
        select(Follow.channel_id, func.count().label("count"))
        .where(Follow.channel_id.in_(their_channels))
        .group_by(Follow.channel_id)
        .subquery()
    )
    rows = await session.execute(
        select(Channel, func.coalesce(followers.c.count, 0))
        .outerjoin(followers, followers.c.channel_id == Channel.id)
        .where(Channel.partner_id.in_(partner_ids))
        .order_by(Channel.name)
    )
    channels: dict[uuid.UUID, list[schemas.PartnerChannel]] = defaultdict(list)
    for channel, follower_count in rows:
        channels[channel.partner_id].append(
            schemas.PartnerChannel(
                id=channel.id,
                name=channel.name,
                chat_enabled=channel.chat_enabled,
                follower_count=follower_count,
            )
        )
    return channels


async def _listed(session: AsyncSession, rows: Sequence[Any]) -> list[schemas.PartnerListItem]:
    """Partner rows with their add-ons and channels: three reads however many partners."""
    ids = [partner.id for partner, _package in rows]
    addons, channels = await _addons_of(session, ids), await _channels_of(session, ids)
    return [
        schemas.PartnerListItem(
            id=partner.id,
            name=partner.name,
            status=partner.status,
            package=schemas.PartnerPackage(
                id=package.id,
                name=package.name,
                price=Money(amount=package.price_amount, currency=package.currency),
            ),
            invoice_id=partner.invoice_id,
            addons=addons[partner.id],
            impressions_balance=partner.impressions_balance,
            email=partner.email,
            phone=partner.phone,
            website=partner.website,
            contact_name=partner.contact_name,
            channels=channels[partner.id],
            created_at=partner.created_at,
        )
        for partner, package in rows
    ]


async def list_partners(
    session: AsyncSession,
    staff: StaffPrincipal,
    page: PageParams,
    *,
    q: str | None = None,
    status: PartnerStatus | None = None,
) -> tuple[list[schemas.PartnerListItem], str | None]:
    rows, next_cursor = await paginate(
        session, _tenant_partners(staff, q, status), Partner.id, page
    )
    return await _listed(session, rows), next_cursor


async def get_tenant_partner(
    session: AsyncSession, staff: StaffPrincipal, partner_id: uuid.UUID
) -> schemas.PartnerListItem:
    row = (
        await session.execute(_tenant_partners(staff).where(Partner.id == partner_id))
    ).one_or_none()
    if row is None:
        raise NotFound("No such partner.")
    return (await _listed(session, [row]))[0]


async def update_partner(
    session: AsyncSession,
    staff: StaffPrincipal,
    partner_id: uuid.UUID,
    data: schemas.PartnerUpdate,
) -> schemas.PartnerListItem:
    """Sets the invoice ID, or suspends (staff shut out, no new chats) or reactivates."""
    partner = await session.scalar(
        select(Partner).where(Partner.id == partner_id, Partner.tenant_id == staff.tenant_id)
    )
    if partner is None:
        raise NotFound("No such partner.")
    changes: dict[str, Any] = {}
    if "invoice_id" in data.model_fields_set:
        invoice_id = data.invoice_id or None
        if invoice_id != partner.invoice_id:
            changes["invoice_id"] = {"from": partner.invoice_id, "to": invoice_id}
            partner.invoice_id = invoice_id
    if data.status is not None and data.status != partner.status:
        changes["status"] = {"from": str(partner.status), "to": str(data.status)}
        partner.status = data.status
    if changes:
        await record(
            session,
            staff,
            "partner.updated",
            tenant_id=partner.tenant_id,
            partner_id=partner.id,
            subject_type="partner",
            subject_id=partner.id,
            data=changes,
        )
    return await get_tenant_partner(session, staff, partner.id)


EXPORT_HEADER: Sequence[str] = (
    "Partner",
    "Status",
    "Package",
    "Price",
    "Currency",
    "Invoice ID",
    "Add-ons",
    "Impressions balance",
    "E-mail",
    "Phone",
    "Website",
    "Contact",
    "Channels",
    "Partner since",
)


async def _export_batch(session: AsyncSession, rows: list[Any]) -> list[Sequence[object]]:
    return [
        (
            item.name,
            item.status,
            item.package.name,
            item.package.price.amount,
            item.package.price.currency,
            item.invoice_id,
            "; ".join(addon.name for addon in item.addons),
            item.impressions_balance,
            item.email,
            item.phone,
            item.website,
            item.contact_name,
            "; ".join(channel.name for channel in item.channels),
            item.created_at.isoformat(),
        )
        for item in await _listed(session, rows)
    ]


def export_rows(
    database: Database,
    staff: StaffPrincipal,
    *,
    q: str | None = None,
    status: PartnerStatus | None = None,
) -> AsyncIterator[Sequence[object]]:
    """Every partner (filtered) as a CSV row, read in batches."""
    return rows_in_batches(database, _tenant_partners(staff, q, status), Partner.id, _export_batch)
