"""Who is acting: a staff member or an end user, with everything scoping needs."""

import uuid
from dataclasses import dataclass

from relaydesk.auth.permissions import ROLE_PERMISSIONS, Permission, Role


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    id: uuid.UUID
    tenant_id: uuid.UUID
    partner_id: uuid.UUID | None
    email: str
    name: str
    role: Role

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class EndUserPrincipal:
    id: uuid.UUID
    tenant_id: uuid.UUID
    external_id: str
    name: str


Principal = StaffPrincipal | EndUserPrincipal
