"""Writing the audit log, in the same transaction as the change it records."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.models import ActorType, AuditEntry
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal


async def record(
    session: AsyncSession,
    actor: Principal | None,
    action: str,
    *,
    tenant_id: uuid.UUID,
    subject_type: str,
    subject_id: uuid.UUID | None,
    partner_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Adds one audit entry; `actor` None means the system (CLI, worker)."""
    actor_type = (
        ActorType.STAFF
        if isinstance(actor, StaffPrincipal)
        else ActorType.END_USER
        if isinstance(actor, EndUserPrincipal)
        else ActorType.SYSTEM
    )
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            partner_id=partner_id,
            actor_type=actor_type,
            actor_id=actor.id if actor else None,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            data=data or {},
        )
    )
