import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Permission, Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.schemas import Input, Name, Output


class Credentials(Input):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class Me(Output):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    permissions: list[Permission]
    tenant_id: uuid.UUID
    partner_id: uuid.UUID | None

    @classmethod
    def of(cls, staff: StaffPrincipal) -> "Me":
        return cls(
            id=staff.id,
            email=staff.email,
            name=staff.name,
            role=staff.role,
            permissions=sorted(staff.permissions),
            tenant_id=staff.tenant_id,
            partner_id=staff.partner_id,
        )


class IssuedToken(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: Me


class StaffMember(Output):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    invited: bool = Field(description="Invited and no password set yet.")
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: StaffUser) -> "StaffMember":
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,
            is_active=user.is_active,
            invited=user.password_hash is None,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class StaffInvite(Input):
    email: EmailStr = Field(max_length=254)
    name: Name
    role: Role


class StaffUpdate(Input):
    role: Role | None = None
    is_active: bool | None = None
