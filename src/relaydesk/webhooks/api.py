"""Webhooks (SU-5) over the API: a partner admin's endpoints, their secrets and delivery logs."""

import uuid

from fastapi import APIRouter, Response

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page
from relaydesk.webhooks import schemas, service

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

ManagerDep = require(Permission.WEBHOOKS_MANAGE)


@router.get("", response_model=Page[schemas.WebhookEndpoint])
async def list_endpoints(
    session: SessionDep, staff: ManagerDep, page: PageDep
) -> Page[schemas.WebhookEndpoint]:
    """My partner's endpoints, oldest first; secrets show only as a hint."""
    endpoints, next_cursor = await service.list_endpoints(session, staff, page)
    return Page(items=endpoints, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=schemas.WebhookEndpointWithSecret)
async def create_endpoint(
    data: schemas.WebhookEndpointCreate,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
) -> schemas.WebhookEndpointWithSecret:
    """Registers an endpoint; the answer holds its signing secret, shown only now. 422 for an
    address deliveries may not go to, 409 `webhook_endpoint_limit` past ten endpoints."""
    return await service.create_endpoint(session, staff, settings, data)


@router.get("/{endpoint_id}", response_model=schemas.WebhookEndpoint)
async def get_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, staff: ManagerDep
) -> schemas.WebhookEndpoint:
    """One of my partner's endpoints; its secret only as a hint."""
    return service.endpoint_view(await service.get_endpoint(session, staff, endpoint_id))


@router.patch("/{endpoint_id}", response_model=schemas.WebhookEndpoint)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    data: schemas.WebhookEndpointUpdate,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
) -> schemas.WebhookEndpoint:
    """Changes the address, events, description or `active`; a switched-off endpoint's
    pending deliveries are not sent."""
    return await service.update_endpoint(session, staff, settings, endpoint_id, data)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, staff: ManagerDep
) -> Response:
    """Deletes the endpoint and its delivery log; its pending deliveries are not sent."""
    await service.delete_endpoint(session, staff, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=schemas.WebhookEndpointWithSecret)
async def rotate_secret(
    endpoint_id: uuid.UUID, session: SessionDep, staff: ManagerDep
) -> schemas.WebhookEndpointWithSecret:
    """A new signing secret, shown only now; the previous one signs alongside it for 24 hours."""
    return await service.rotate_secret(session, staff, endpoint_id)


@router.get("/{endpoint_id}/deliveries", response_model=Page[schemas.WebhookDeliveryListItem])
async def list_deliveries(
    endpoint_id: uuid.UUID, session: SessionDep, staff: ManagerDep, page: PageDep
) -> Page[schemas.WebhookDeliveryListItem]:
    """The endpoint's delivery log, newest first."""
    deliveries, next_cursor = await service.list_deliveries(session, staff, endpoint_id, page)
    return Page(
        items=[schemas.WebhookDeliveryListItem.model_validate(d) for d in deliveries],
        next_cursor=next_cursor,
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    response_model=schemas.WebhookDeliveryListItem,
)
async def retry_delivery(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, staff: ManagerDep
) -> schemas.WebhookDeliveryListItem:
    """Sends a failed delivery again, the same body, with another day of retries; 409
    `webhook_delivery_not_failed` for any other."""
    delivery = await service.retry_delivery(session, staff, endpoint_id, delivery_id)
    return schemas.WebhookDeliveryListItem.model_validate(delivery)
