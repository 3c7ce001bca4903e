"""Test data made through the real services, each piece in its own committed transaction."""

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from relaydesk.auth.models import StaffUser
from relaydesk.auth.passwords import hash_password
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import EndUserPrincipal
from relaydesk.auth.service import (
    create_staff_user,
    end_user_token,
    issue_api_token,
    principal_of,
)
from relaydesk.catalogue.models import BillingPeriod, EngagementType, Package
from relaydesk.catalogue.schemas import PackageCreate
from relaydesk.catalogue.service import create_package
from relaydesk.db import Database
from relaydesk.schemas import Money
from relaydesk.tenancy.models import Channel, EndUser, Partner, PartnerStatus, Tenant
from relaydesk.tenancy.service import (
    create_partner,
    create_tenant,
    end_user_from_claims,
    follow_channel,
)

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)
_password_hashes: list[str] = []


async def _shared_password_hash() -> str:
    if not _password_hashes:
        _password_hashes.append(await hash_password(PASSWORD))
    return _password_hashes[0]


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}-{uuid.uuid4().hex[:6]}"


class Factory:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def tenant(self, slug: str | None = None) -> Tenant:
        async with self.database.transaction() as session:
            return await create_tenant(session, slug=slug or _unique("tenant"), name="Tenant")

    async def package(
        self,
        tenant: Tenant,
        *,
        engagement_types: list[EngagementType] | None = None,
        max_channels: int = 10,
        price: str = "49.00",
    ) -> Package:
        data = PackageCreate(
            name=_unique("Package"),
            price=Money(amount=Decimal(price), currency="EUR"),
            billing_period=BillingPeriod.MONTH,
            engagement_types=list(EngagementType) if engagement_types is None else engagement_types,
            max_channels=max_channels,
        )
        async with self.database.transaction() as session:
            return await create_package(session, tenant.id, None, data)

    async def partner(
        self,
        tenant: Tenant,
        *,
        package: Package | None = None,
        status: PartnerStatus = PartnerStatus.ACTIVE,
    ) -> Partner:
        package = package or await self.package(tenant)
        name = _unique("Partner")
        async with self.database.transaction() as session:
            return await create_partner(
                session,
                tenant=tenant,
                name=name,
                package=package,
                email=f"{name.lower()}@partners.example",
                status=status,
            )

    async def staff(
        self,
        tenant: Tenant,
        role: Role,
        partner: Partner | None = None,
        *,
        password: str = PASSWORD,
        name: str | None = None,
    ) -> StaffUser:
        async with self.database.transaction() as session:
            user = await create_staff_user(
                session,
                tenant_id=tenant.id,
                partner_id=partner.id if partner else None,
                role=role,
                email=f"{_unique(role.value)}@staff.example",
                name=name or f"{role.value.replace('_', ' ').title()} {next(_numbers)}",
                password=None if password == PASSWORD else password,
            )
            if password == PASSWORD:
                # Argon2 is slow by design; hashing the shared test password once keeps
                # the suite fast while every sign-in still verifies a real hash.
                user.password_hash = await _shared_password_hash()
            return user

    async def channel(self, partner: Partner, *, chat_enabled: bool = False) -> Channel:
        async with self.database.transaction() as session:
            channel = Channel(
                tenant_id=partner.tenant_id,
                partner_id=partner.id,
                name=_unique("Channel"),
                chat_enabled=chat_enabled,
            )
            session.add(channel)
        return channel

    async def end_user(self, tenant: Tenant, *, follows: list[Channel] = ()) -> EndUser:
        async with self.database.transaction() as session:
            end_user = await end_user_from_claims(
                session, tenant.id, {"sub": _unique("user"), "name": "End User"}
            )
            await session.flush()
            principal = EndUserPrincipal(
                id=end_user.id,
                tenant_id=tenant.id,
                external_id=end_user.external_id,
                name=end_user.name,
            )
            for channel in follows:
                await follow_channel(session, principal, channel.id)
        return end_user

    def end_user_headers(
        self, tenant: Tenant, sub: str | None = None, *, ttl: int = 3600
    ) -> dict[str, str]:
        token = end_user_token(tenant, sub=sub or _unique("user"), name="End User", ttl_seconds=ttl)
        return {"Authorization": f"Bearer {token}"}

    async def headers(self, user: StaffUser) -> dict[str, str]:
        """Bearer headers for a staff member, as `POST /api/v1/auth/token` would give."""
        async with self.database.transaction() as session:
            token, _ = await issue_api_token(session, principal_of(user), ttl=timedelta(days=1))
        return {"Authorization": f"Bearer {token}"}


@dataclass
class Side:
    """One partner with its admin, an agent and a channel."""

    partner: Partner
    admin: StaffUser
    agent: StaffUser
    channel: Channel


@dataclass
class World:
    tenant: Tenant
    tenant_admin: StaffUser
    tenant_staff: StaffUser
    a: Side
    b: Side
    other_tenant: Tenant
    other_tenant_admin: StaffUser
    other: Side

    def staff_with(self, role: Role) -> StaffUser:
        """Someone of the first tenant (and its first partner) with `role`."""
        return {
            Role.TENANT_ADMIN: self.tenant_admin,
            Role.TENANT_STAFF: self.tenant_staff,
            Role.PARTNER_ADMIN: self.a.admin,
            Role.AGENT: self.a.agent,
        }[role]

    @classmethod
    async def build(cls, factory: Factory) -> "World":
        async def side(tenant: Tenant) -> Side:
            partner = await factory.partner(tenant)
            return Side(
                partner=partner,
                admin=await factory.staff(tenant, Role.PARTNER_ADMIN, partner),
                agent=await factory.staff(tenant, Role.AGENT, partner),
                channel=await factory.channel(partner, chat_enabled=True),
            )

        tenant, other_tenant = await factory.tenant(), await factory.tenant()
        return cls(
            tenant=tenant,
            tenant_admin=await factory.staff(tenant, Role.TENANT_ADMIN),
            tenant_staff=await factory.staff(tenant, Role.TENANT_STAFF),
            a=await side(tenant),
            b=await side(tenant),
            other_tenant=other_tenant,
            other_tenant_admin=await factory.staff(other_tenant, Role.TENANT_ADMIN),
            other=await side(other_tenant),
        )
