"""Tenants, partners, channels and follows, always read through the caller's scope."""

import re
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.catalogue.models import Addon, EngagementType, Package
from relaydesk.db import unique_or
from relaydesk.errors import Conflict, InvalidInput, NotFound
from relaydesk.pagination import PageParams, paginate
from relaydesk.realtime import topics
from relaydesk.realtime.events import queue_event
from relaydesk.tenancy import schemas
from relaydesk.tenancy.models import (
    Channel,
    EndUser,
    Follow,
    Partner,
    PartnerAddon,
    PartnerStatus,
    Tenant,
)

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


async def create_tenant(session: AsyncSession, *, slug: str, name: str) -> Tenant:
    """A new tenant with a fresh secret for signing its end users' tokens."""
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput("A slug is lowercase letters, digits and inner hyphens.")
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(f"A tenant with slug {slug!r} already exists.", code="slug_taken")
    tenant = Tenant(slug=slug, name=name, end_user_secret=secrets.token_urlsafe(48))
    session.add(tenant)
    await session.flush()
    await record(
        session,
        None,
        "tenant.created",
        tenant_id=tenant.id,
        subject_type="tenant",
        subject_id=tenant.id,
    )
    return tenant


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}.")
    return tenant


async def create_partner(
    session: AsyncSession,
    *,
    tenant: Tenant,
    name: str,
    package: Package,
    email: str,
    status: PartnerStatus = PartnerStatus.ACTIVE,
    **contact: str,
) -> Partner:
    """A partner of `tenant` on `package`; `contact` holds phone, website and contact_name."""
    if package.tenant_id != tenant.id:
        raise NotFound("No such package.")
    taken = Conflict(f"A partner named {name!r} already exists.", code="name_taken")
    if await session.scalar(
        select(Partner.id).where(Partner.tenant_id == tenant.id, Partner.name == name)
    ):
        raise taken
    partner = Partner(
        tenant_id=tenant.id, name=name, package_id=package.id, email=email, status=status, **contact
    )
    async with unique_or(session, taken):
        session.add(partner)
    await record(
        session,
        None,
        "partner.created",
        tenant_id=tenant.id,
        partner_id=partner.id,
        subject_type="partner",
        subject_id=partner.id,
    )
    return partner


async def get_partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("No such partner.")
    return partner


def readable_channels(principal: Principal) -> Select[tuple[Channel]]:
    """Channels the principal may see: a partner's staff their partner's, tenant staff and
    end users their tenant's."""
    statement = select(Channel).where(Channel.tenant_id == principal.tenant_id)
    if isinstance(principal, StaffPrincipal) and principal.partner_id is not None:
        statement = statement.where(Channel.partner_id == principal.partner_id)
    return statement


async def get_channel(
    session: AsyncSession, principal: Principal, channel_id: uuid.UUID
) -> Channel:
    channel = await session.scalar(readable_channels(principal).where(Channel.id == channel_id))
    if channel is None:
        raise NotFound("No such channel.")
    return channel


def _follower_count() -> sa.ScalarSelect[int]:
    return (
        select(func.count())
        .where(Follow.channel_id == Channel.id)
        .correlate(Channel)
        .scalar_subquery()
    )


def _public_fields(channel: schemas.Channel) -> dict[str, Any]:
    return channel.model_dump(mode="json", exclude={"follower_count"})


def _channel_fields(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "description": channel.description,
        "chat_enabled": channel.chat_enabled,
    }


def _with_follower_count(channel: Channel, follower_count: int) -> schemas.Channel:
    return schemas.Channel(**_channel_fields(channel), follower_count=follower_count)


async def list_channels(
    session: AsyncSession, principal: StaffPrincipal, page: PageParams
) -> tuple[list[schemas.Channel], str | None]:
    statement = readable_channels(principal).add_columns(_follower_count())
    rows, next_cursor = await paginate(session, statement, Channel.id, page)
    return [_with_follower_count(channel, count) for channel, count in rows], next_cursor


async def channel_view(
    session: AsyncSession, principal: StaffPrincipal, channel_id: uuid.UUID
) -> schemas.Channel:
    row = (
        await session.execute(
            readable_channels(principal)
            .add_columns(_follower_count())
            .where(Channel.id == channel_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such channel.")
    return _with_follower_count(*row)


async def create_channel(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.ChannelCreate
) -> Channel:
    """A channel of the staff member's partner, within its package's channel limit."""
    if staff.partner_id is None:
        raise NotFound("Channels belong to partners.")
    # Locking the partner row serialises concurrent creations against the limit.
    partner = await session.scalar(
        select(Partner).where(Partner.id == staff.partner_id).with_for_update()
    )
    assert partner is not None
    max_channels = await session.scalar(
        select(Package.max_channels).where(Package.id == partner.package_id)
    )
    max_channels += sum(
        addon.grant_extra_channels for addon in await active_addons(session, partner.id)
    )
    channel_count = await session.scalar(
        select(func.count()).select_from(Channel).where(Channel.partner_id == partner.id)
    )
    if channel_count >= (max_channels or 0):
        raise Conflict(
            f"Your package and add-ons allow {max_channels} channels.",
            code="channel_limit_reached",
        )
    if await session.scalar(
        select(Channel.id).where(Channel.partner_id == partner.id, Channel.name == data.name)
    ):
        raise Conflict(f"A channel named {data.name!r} already exists.", code="name_taken")
    channel = Channel(
        tenant_id=partner.tenant_id,
        partner_id=partner.id,
        name=data.name,
        description=data.description,
    )
    session.add(channel)
    await session.flush()
    await record(
        session,
        staff,
        "channel.created",
        tenant_id=channel.tenant_id,
        partner_id=channel.partner_id,
        subject_type="channel",
        subject_id=channel.id,
    )
    return channel


async def set_chat_enabled(
    session: AsyncSession, staff: StaffPrincipal, channel_id: uuid.UUID, enabled: bool
) -> schemas.Channel:
    """Turns a channel's chat on or off (HD-1)."""
    channel = await get_channel(session, staff, channel_id)
    if channel.chat_enabled == enabled:
        return await channel_view(session, staff, channel.id)
    channel.chat_enabled = enabled
    await record(
        session,
        staff,
        "channel.chat_enabled" if enabled else "channel.chat_disabled",
        tenant_id=channel.tenant_id,
        partner_id=channel.partner_id,
        subject_type="channel",
        subject_id=channel.id,
    )
    view = await channel_view(session, staff, channel.id)
    # Agents see the switch at once; followers with a socket open see the chat (un)available.
    queue_event(session, (topics.partner(channel.partner_id),), "channel.updated", view)
    queue_event(session, (topics.channel(channel.id),), "channel.updated", _public_fields(view))
    return view


async def end_user_from_claims(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    claims: dict[str, Any],
    known: EndUser | None = None,
) -> EndUser:
    """The end user a token names, created on first sight and kept in step with the token.

    `known` is that end user when the caller has read them already.
    """
    external_id = str(claims["sub"])
    profile = {
        "name": str(claims["name"])[:200],
        "email": (str(claims["email"])[:254] if claims.get("email") else None),
        "phone": (str(claims["phone"])[:40] if claims.get("phone") else None),
    }
    lookup = select(EndUser).where(
        EndUser.tenant_id == tenant_id, EndUser.external_id == external_id
    )
    end_user = known or await session.scalar(lookup)
    if end_user is None:
        try:
            async with session.begin_nested():
                end_user = EndUser(tenant_id=tenant_id, external_id=external_id, **profile)
                session.add(end_user)
        except IntegrityError:
            # Another request created the same end user a moment ago.
            end_user = (await session.scalars(lookup)).one()
    for field, value in profile.items():
        if getattr(end_user, field) != value:
            setattr(end_user, field, value)
    return end_user


def _followable_channels(end_user: EndUserPrincipal) -> Select[tuple[Channel]]:
    """Channels an end user may open and follow: their tenant's, of active partners."""
    return (
        readable_channels(end_user)
        .join(Partner, Partner.id == Channel.partner_id)
        .where(Partner.status == PartnerStatus.ACTIVE)
    )


async def followable_channel(
    session: AsyncSession, end_user: EndUserPrincipal, channel_id: uuid.UUID
) -> Channel:
    channel = await session.scalar(_followable_channels(end_user).where(Channel.id == channel_id))
    if channel is None:
        raise NotFound("No such channel.")
    return channel


def _is_following(end_user: EndUserPrincipal) -> sa.Exists:
    return (
        select(Follow.channel_id)
        .where(Follow.channel_id == Channel.id, Follow.end_user_id == end_user.id)
        .exists()
    )


def _public(channel: Channel, following: bool) -> schemas.ChannelPublic:
    return schemas.ChannelPublic(**_channel_fields(channel), following=following)


async def public_channel(
    session: AsyncSession, end_user: EndUserPrincipal, channel_id: uuid.UUID
) -> schemas.ChannelPublic:
    return _public(*await channel_for_end_user(session, end_user, channel_id))


async def followed_channels(
    session: AsyncSession, end_user: EndUserPrincipal, page: PageParams
) -> tuple[list[schemas.ChannelPublic], str | None]:
    statement = readable_channels(end_user).where(_is_following(end_user))
    rows, next_cursor = await paginate(session, statement, Channel.id, page)
    return [_public(channel, True) for (channel,) in rows], next_cursor


async def follow_channel(
    session: AsyncSession, end_user: EndUserPrincipal, channel_id: uuid.UUID
) -> None:
    """Follows a channel; following it again changes nothing."""
    channel = await followable_channel(session, end_user, channel_id)
    if await session.get(Follow, (channel.id, end_user.id)):
        return
    try:
        async with session.begin_nested():
            session.add(
                Follow(
                    channel_id=channel.id,
                    end_user_id=end_user.id,
                    tenant_id=channel.tenant_id,
                    partner_id=channel.partner_id,
                )
            )
    except IntegrityError:
        pass  # a concurrent request followed first: the outcome is the same


async def unfollow_channel(
    session: AsyncSession, end_user: EndUserPrincipal, channel_id: uuid.UUID
) -> None:
    channel = await followable_channel(session, end_user, channel_id)
    await session.execute(
        sa.delete(Follow).where(Follow.channel_id == channel.id, Follow.end_user_id == end_user.id)
    )


async def channels_by_name(
    session: AsyncSession, principal: StaffPrincipal
) -> list[schemas.Channel]:
    """Every channel the principal may see with its follower count, by name (overview pages)."""
    statement = readable_channels(principal).add_columns(_follower_count()).order_by(Channel.name)
    return [
        _with_follower_count(channel, count) for channel, count in await session.execute(statement)
    ]


async def partner_overview(session: AsyncSession, staff: StaffPrincipal) -> dict[str, Any]:
    """The partner, its package and channels, for its staff's home page."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    package = await session.get_one(Package, partner.package_id)
    return {
        "partner": partner,
        "package": package,
        "channels": await channels_by_name(session, staff),
    }


async def tenant_overview(session: AsyncSession, staff: StaffPrincipal) -> dict[str, Any]:
    """Partners by status and by package, for the tenant's home page."""
    by_status = dict(
        (
            await session.execute(
                select(Partner.status, func.count())
                .where(Partner.tenant_id == staff.tenant_id)
                .group_by(Partner.status)
            )
        ).all()
    )
    packages = (
        await session.execute(
            select(Package, func.count(Partner.id))
            .outerjoin(Partner, Partner.package_id == Package.id)
            .where(Package.tenant_id == staff.tenant_id)
            .group_by(Package.id)
            .order_by(Package.name)
        )
    ).all()
    tenant = await session.get_one(Tenant, staff.tenant_id)
    return {
        "tenant": tenant,
        "partners_by_status": {status: by_status.get(status, 0) for status in PartnerStatus},
        "packages": packages,
    }


async def channel_for_end_user(
    session: AsyncSession, end_user: EndUserPrincipal, channel_id: uuid.UUID
) -> tuple[Channel, bool]:
    """A channel the end user may open, and whether they follow it, in one query."""
    row = (
        await session.execute(
            _followable_channels(end_user)
            .add_columns(_is_following(end_user))
            .where(Channel.id == channel_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such channel.")
    return row[0], row[1]


async def followed_channel_ids(
    session: AsyncSession, end_user: EndUserPrincipal
) -> list[uuid.UUID]:
    return list(
        await session.scalars(select(Follow.channel_id).where(Follow.end_user_id == end_user.id))
    )


async def end_user_name(
    session: AsyncSession, staff: StaffPrincipal, end_user_id: uuid.UUID
) -> str:
    """The name of an end user of the staff member's tenant (end users belong to the tenant)."""
    name = await session.scalar(
        select(EndUser.name).where(EndUser.id == end_user_id, EndUser.tenant_id == staff.tenant_id)
    )
    if name is None:
        raise NotFound("No such end user.")
    return name


async def lock_partner(session: AsyncSession, staff: StaffPrincipal) -> None:
    """Holds the staff member's partner row until the transaction ends (PostgreSQL), so that
    changes to a list kept in order per partner take turns, even while the list is empty."""
    await session.execute(
        select(Partner.id).where(Partner.id == staff.partner_id).with_for_update()
    )


async def active_addons(session: AsyncSession, partner_id: uuid.UUID) -> list[Addon]:
    """The add-ons a partner has, by name: what they grant widens its package."""
    return list(
        await session.scalars(
            select(Addon)
            .join(PartnerAddon, PartnerAddon.addon_id == Addon.id)
            .where(PartnerAddon.partner_id == partner_id)
            .order_by(Addon.name)
        )
    )


async def allowed_engagement_types(
    session: AsyncSession, staff: StaffPrincipal
) -> frozenset[EngagementType]:
    """The engagement types the staff member's partner may create and send: those its
    package allows, plus those its add-ons grant. Tenant staff have none."""
    if staff.partner_id is None:
        return frozenset()
    package_types = await session.scalar(
        select(Package.engagement_types)
        .join(Partner, Partner.package_id == Package.id)
        .where(Partner.id == staff.partner_id)
    )
    addons = await active_addons(session, staff.partner_id)
    types = {*(package_types or ()), *(t for addon in addons for t in addon.grant_engagement_types)}
    return frozenset(EngagementType(value) for value in types)


async def _own_partner(session: AsyncSession, staff: StaffPrincipal) -> Partner:
    if staff.partner_id is None:
        raise NotFound("Only a partner's staff have partner settings.")
    return await get_partner(session, staff.partner_id)


async def partner_settings(session: AsyncSession, staff: StaffPrincipal) -> schemas.PartnerSettings:
    return schemas.PartnerSettings.model_validate(await _own_partner(session, staff))


async def update_partner_settings(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.PartnerSettingsUpdate
) -> schemas.PartnerSettings:
    """Changes the fields given; the audit log keeps each change as from → to."""
    partner = await _own_partner(session, staff)
    changes = {
        field: {"from": getattr(partner, field), "to": value}
        for field, value in data.model_dump(include=data.model_fields_set).items()
        if value != getattr(partner, field)
    }
    if changes:
        await record(
            session,
            staff,
            "partner.settings_changed",
            tenant_id=partner.tenant_id,
            partner_id=partner.id,
            subject_type="partner",
            subject_id=partner.id,
            data=changes,
        )
        for field, change in changes.items():
            setattr(partner, field, change["to"])
    return schemas.PartnerSettings.model_validate(partner)
