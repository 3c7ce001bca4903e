import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from relaydesk.auth.permissions import Permission, Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.schemas import Input, Output


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
