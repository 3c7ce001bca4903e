"""Request-wide dependencies: settings and the one database session per request.

Dependencies are `async def` even when they do not await: FastAPI runs a plain `def` one in
its thread pool, a thread hand-off per request for nothing.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.config import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Commits when the route returns (before the answer is sent), rolls back if it raises."""
    async with request.app.state.database.transaction() as session:
        yield session


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
