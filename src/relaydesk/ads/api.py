"""Ads for the end user's app (PM-6)."""

from typing import Annotated

from fastapi import APIRouter, Query

from relaydesk.ads import schemas, service
from relaydesk.ads.models import AdType
from relaydesk.auth.deps import EndUserDep
from relaydesk.deps import SessionDep

router = APIRouter(prefix="/api/v1", tags=["end users"])


@router.get("/me/ads", response_model=schemas.ServedAds)
async def ads_to_show(
    session: SessionDep,
    end_user: EndUserDep,
    placement: Annotated[
        AdType | None, Query(description="The ad type the app has a place for; all types if none.")
    ] = None,
) -> schemas.ServedAds:
    """Ads to show now, at most one per type; each ad answered counts one impression."""
    return await service.serve_ads(session, end_user, placement)
