"""Each agent's choice of console alerts (HD-17), kept on the server so it follows them from
browser to browser."""

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.models import AlertSettings
from relaydesk.db import InsertUnlessDuplicate

_insert_defaults = InsertUnlessDuplicate(AlertSettings.__table__, "staff_id")


async def alert_settings(session: AsyncSession, staff: StaffPrincipal) -> schemas.AlertSettings:
    stored = await session.get(AlertSettings, staff.id)
    return schemas.AlertSettings.model_validate(stored) if stored else schemas.AlertSettings()


async def update_alert_settings(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.AlertSettingsUpdate
) -> schemas.AlertSettings:
    """Changes the settings named in `data`; the first change stores the defaults for the rest
    (a concurrent first change finds them stored)."""
    await _insert_defaults(session, {"staff_id": staff.id, **schemas.AlertSettings().model_dump()})
    changes = data.model_dump(exclude_none=True)
    if changes:
        await session.execute(
            update(AlertSettings).where(AlertSettings.staff_id == staff.id).values(**changes)
        )
    return await alert_settings(session, staff)
