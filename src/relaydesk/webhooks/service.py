"""Webhooks (SU-5): a partner admin's endpoints, which hear of the partner's new messages and
conversation changes, each signed with the endpoint's own secret; and queueing them.

Deliveries are queued like the mail outbox's e-mails (`notify/service.py`): written in the
transaction of the change they tell of, so a change that rolls back notifies nobody, and sent
by the worker (`delivery.py`).
"""

import asyncio
import ipaddress
import secrets
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Select, false, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from relaydesk.audit.service import record
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.clock import now
from relaydesk.config import Settings
from relaydesk.db import uuid7
from relaydesk.errors import Conflict, NotFound, invalid_field
from relaydesk.pagination import PageParams, paginate
from relaydesk.tenancy.service import lock_partner
from relaydesk.webhooks import schemas
from relaydesk.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent

MAX_ENDPOINTS = 10
# A rotated-out secret signs alongside the new one this long; failing deliveries are tried
# this long after they were queued.
ROTATION_OVERLAP = timedelta(hours=24)
RETRY_WINDOW = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
LIMIT_REACHED = "webhook_endpoint_limit"
NOT_FAILED = "webhook_delivery_not_failed"
ENDPOINT_INACTIVE = "webhook_endpoint_inactive"

_HTTPS_ONLY = "The URL must start with https://."


def _url_problem(url: str, settings: Settings) -> str | None:
    if any(c.isspace() or not c.isprintable() for c in url):
        return "The URL must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return "This is not a valid URL. Enter one such as https://example.com/hooks."
    if parts.scheme not in ("https", "http"):
        return _HTTPS_ONLY
    if not parts.hostname:
        return "The URL must name a host, as in https://example.com/hooks."
    if parts.username is not None or parts.password is not None:
        return "The URL must not hold a user name or password; check the signature instead."
    loopback = _is_loopback(parts.hostname)
    if parts.scheme == "http":
        if not settings.allow_http_loopback_webhooks:
            return _HTTPS_ONLY
        if not loopback:
            return (
                "Plain http:// is allowed only to this machine (localhost, 127.0.0.1, ::1). "
                "Use https://."
            )
    elif _is_internal(parts.hostname) and not (loopback and settings.allow_http_loopback_webhooks):
        # The worker must not be made to post into the network it runs in.
        return "The URL must name a public host, not a private, loopback or link-local address."
    return None


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(host: str) -> Address | None:
    """The address a host names literally, also in the old forms connecting accepts
    (`127.1`, `2130706433`, `0x7f.0.0.1`); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_loopback(host: str) -> bool:
    address = _address(host)
    return host.rstrip(".") == "localhost" or (address is not None and address.is_loopback)


def _is_internal(host: str) -> bool:
    """An address that is not on the public internet (only literal addresses and localhost
    are known without asking DNS; `public_address_problem` asks at each delivery)."""
    address = _address(host)
    if address is None:
        return host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")
    return not _is_public(address)


def _is_public(address: Address) -> bool:
    return address.is_global and not address.is_multicast


async def public_address_problem(url: str, settings: Settings) -> str | None:
    """Why a delivery may not go to `url` now: its host resolves to an address off the public
    internet (loopback allowed with `allow_http_loopback_webhooks`), or not at all."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError:
        return f"The host {parts.hostname} could not be found."
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        allowed = address.is_loopback and settings.allow_http_loopback_webhooks
        if not (_is_public(address) or allowed):
            return f"The host {parts.hostname} is at a non-public address ({address})."
    return None


def check_url(url: str, settings: Settings) -> None:
    """Refuses (422) an address deliveries may not go to: https:// only, or plain http:// to
    this machine when `allow_http_loopback_webhooks` is on; no credentials in it."""
    if problem := _url_problem(url, settings):
        raise invalid_field("url", problem)


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def endpoint_view(endpoint: WebhookEndpoint) -> schemas.WebhookEndpoint:
    """An endpoint as the API shows it: its secret only as a hint."""
    until = endpoint.previous_secret_until
    return schemas.WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        events=[WebhookEvent(event) for event in endpoint.events],
        description=endpoint.description,
        active=endpoint.active,
        secret_hint=f"{SECRET_PREFIX}…{endpoint.secret[-4:]}",
        previous_secret_expires_at=until if until is not None and until > now() else None,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _with_secret(endpoint: WebhookEndpoint) -> schemas.WebhookEndpointWithSecret:
    return schemas.WebhookEndpointWithSecret(
        **dict(endpoint_view(endpoint)), secret=endpoint.secret
    )


def readable_endpoints(staff: StaffPrincipal) -> Select[tuple[WebhookEndpoint]]:
    """The endpoints of the staff member's partner: the one place they are scoped."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == staff.tenant_id)
    if staff.partner_id is None:
        return statement.where(false())
    return statement.where(WebhookEndpoint.partner_id == staff.partner_id)


async def get_endpoint(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """The partner's endpoint; another partner's is as missing as one that never was."""
    endpoint = await session.scalar(
        readable_endpoints(staff).where(WebhookEndpoint.id == endpoint_id)
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


async def list_endpoints(
    session: AsyncSession, staff: StaffPrincipal, page: PageParams
) -> tuple[list[schemas.WebhookEndpoint], str | None]:
    """The partner's endpoints, oldest first."""
    rows, next_cursor = await paginate(session, readable_endpoints(staff), WebhookEndpoint.id, page)
    return [endpoint_view(row[0]) for row in rows], next_cursor


async def _audit(
    session: AsyncSession, staff: StaffPrincipal, action: str, endpoint: WebhookEndpoint
) -> None:
    await record(
        session,
        staff,
        action,
        tenant_id=endpoint.tenant_id,
        partner_id=endpoint.partner_id,
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        data={"url": endpoint.url, "events": list(endpoint.events), "active": endpoint.active},
    )


async def create_endpoint(
    session: AsyncSession,
    staff: StaffPrincipal,
    settings: Settings,
    data: schemas.WebhookEndpointCreate,
) -> schemas.WebhookEndpointWithSecret:
    """A new endpoint with a new secret, shown this once; 409 `webhook_endpoint_limit` once
    the partner has `MAX_ENDPOINTS`."""
    assert staff.partner_id is not None  # only partner admins manage webhooks
    check_url(data.url, settings)
    # Creations of one partner take turns, so two at once cannot both slip under the limit.
    await lock_partner(session, staff)
    count = await session.scalar(
        select(func.count()).select_from(readable_endpoints(staff).subquery())
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise Conflict(
            f"A partner has at most {MAX_ENDPOINTS} webhook endpoints. Delete one first.",
            code=LIMIT_REACHED,
        )
    at = now()
    endpoint = WebhookEndpoint(
        id=uuid7(),
        tenant_id=staff.tenant_id,
        partner_id=staff.partner_id,
        url=data.url,
        events=[event.value for event in data.events],
        description=data.description,
        active=data.active,
        secret=_new_secret(),
        created_at=at,
        updated_at=at,
    )
    session.add(endpoint)
    await _audit(session, staff, "webhook.created", endpoint)
    return _with_secret(endpoint)


async def update_endpoint(
    session: AsyncSession,
    staff: StaffPrincipal,
    settings: Settings,
    endpoint_id: uuid.UUID,
    data: schemas.WebhookEndpointUpdate,
) -> schemas.WebhookEndpoint:
    """Changes the address, events, description or whether it is active. Pending deliveries
    go to the new address; those of an endpoint switched off are not sent."""
    endpoint = await get_endpoint(session, staff, endpoint_id)
    if data.url is not None:
        check_url(data.url, settings)
        endpoint.url = data.url
    if data.events is not None:
        endpoint.events = [event.value for event in data.events]
    if data.description is not None:
        endpoint.description = data.description
    if data.active is not None:
        endpoint.active = data.active
    await _audit(session, staff, "webhook.updated", endpoint)
    await session.flush()
    return endpoint_view(endpoint)


async def rotate_secret(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: uuid.UUID
) -> schemas.WebhookEndpointWithSecret:
    """A new secret, shown this once; the one it replaces signs alongside it for
    `ROTATION_OVERLAP` (any older one stops at once)."""
    endpoint = await get_endpoint(session, staff, endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now() + ROTATION_OVERLAP
    endpoint.secret = _new_secret()
    await _audit(session, staff, "webhook.secret_rotated", endpoint)
    await session.flush()
    return _with_secret(endpoint)


async def delete_endpoint(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """Deletes the endpoint with its deliveries (the database cascades): pending ones are not
    sent, and a worker sending one now records nothing."""
    endpoint = await get_endpoint(session, staff, endpoint_id)
    await _audit(session, staff, "webhook.deleted", endpoint)
    await session.delete(endpoint)
    return endpoint


async def list_deliveries(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: uuid.UUID, page: PageParams
) -> tuple[list[WebhookDelivery], str | None]:
    """The endpoint's delivery log, newest first (bodies left unread)."""
    await get_endpoint(session, staff, endpoint_id)
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .options(defer(WebhookDelivery.body))
    )
    rows, next_cursor = await paginate(
        session, statement, WebhookDelivery.id, page, newest_first=True
    )
    return [row[0] for row in rows], next_cursor


async def retry_delivery(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """A failed delivery due again now, with the same body and another day of retries."""
    endpoint = await get_endpoint(session, staff, endpoint_id)
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
        .options(defer(WebhookDelivery.body))
    )
    if delivery is None:
        raise NotFound("No such delivery.")
    if delivery.state != DeliveryState.FAILED:
        raise Conflict("Only a failed delivery can be tried again.", code=NOT_FAILED)
    if not endpoint.active:
        raise Conflict("Switch the endpoint on first.", code=ENDPOINT_INACTIVE)
    at = now()
    delivery.state = DeliveryState.PENDING
    delivery.next_attempt_at = at
    delivery.retry_until = at + RETRY_WINDOW
    await session.flush()
    return delivery


_MOMENT = TypeAdapter(datetime)


def _body(delivery_id: uuid.UUID, event: WebhookEvent, at: datetime, data: str) -> str:
    return (
        f'{{"id":"{delivery_id}","type":"{event.value}",'
        f'"created_at":{_MOMENT.dump_json(at).decode()},"data":{data}}}'
    )


async def queue_deliveries(
    session: AsyncSession,
    partner_id: uuid.UUID,
    events: Sequence[tuple[WebhookEvent, BaseModel]],
) -> None:
    """A delivery of each event to each of the partner's active endpoints subscribed to its
    type, added to the caller's transaction: nothing goes out if that rolls back.

    A partner without endpoints costs one small indexed read; with some, the rows go in one
    executemany however many events (a broadcast batch's thousands of cards). Each body is
    rendered now, `data` exactly as the socket frame has it, so every attempt sends the same
    bytes.
    """
    if not events:
        return
    endpoints = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.tenant_id, WebhookEndpoint.events).where(
                WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.active
            )
        )
    ).all()
    if not endpoints:
        return
    at = now()
    rows = []
    for event, data in events:
        subscribed = [endpoint for endpoint in endpoints if event in endpoint.events]
        payload = data.model_dump_json() if subscribed else ""
        for endpoint in subscribed:
            delivery_id = uuid7()
            rows.append(
                {
                    "id": delivery_id,
                    "tenant_id": endpoint.tenant_id,
                    "partner_id": partner_id,
                    "endpoint_id": endpoint.id,
                    "event_type": event,
                    "body": _body(delivery_id, event, at, payload),
                    "state": DeliveryState.PENDING,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "retry_until": at + RETRY_WINDOW,
                    "created_at": at,
                }
            )
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
