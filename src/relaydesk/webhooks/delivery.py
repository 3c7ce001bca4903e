"""Sending queued webhooks (SU-5): the worker's part, the mail outbox's way (`notify/service.py`).

1. **Claim**, in one short transaction: due pending deliveries get a lease (`FOR UPDATE SKIP
   LOCKED` on PostgreSQL, so workers split them), read with their endpoint's address and
   secrets.
2. **Send**, outside any transaction: each endpoint's deliveries in creation order, the
   endpoints side by side, so a slow or failing endpoint holds up only itself. A failure ends
   that endpoint's turn; its later deliveries wait for the failed one's retry and go after it.
3. **Record**, in another short transaction, only on rows this worker still holds: delivered
   with the response code, or pending again after a backoff (30 s doubling, at most an hour)
   until a day after it was queued, then failed.

A worker that dies between claiming and recording leaves its deliveries due again once the lease
ends: a receiver may get one twice, with the same `X-Relaydesk-Delivery` to drop it by.
"""

import asyncio
import hashlib
import hmac
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from relaydesk.clock import now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.errors import InvalidInput
from relaydesk.notify.service import retry_delay, skip_claimed
from relaydesk.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from relaydesk.webhooks.service import check_url, public_address_problem

log = structlog.get_logger(__name__)

BATCH = 50
USER_AGENT = "relaydesk-webhooks/1"
# For the whole request, answer included; redirects are not followed.
REQUEST_TIMEOUT_SECONDS = 10.0
# A claimed batch is sent within its lease: a delivery starts only while the lease has
# `SEND_BUDGET` left, well over a request's time, so no other worker can claim it meanwhile.
LEASE = timedelta(minutes=2)
SEND_BUDGET = timedelta(seconds=30)
# How much of an error answer's body is kept: enough to tell what went wrong.
EXCERPT_CHARS = 200
INACTIVE = "Not sent: the endpoint is switched off."
WAITING = "Waiting for an earlier delivery to this endpoint, which failed."


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds, with what sending it takes."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_type: str
    body: str
    attempts: int
    retry_until: datetime
    claimed_until: datetime
    url: str
    secrets: tuple[str, ...]
    active: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt went: `error` None means delivered."""

    response_code: int | None
    error: str | None


def signature(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of "timestamp.body">` for each secret, comma-separated."""
    signed = f"{timestamp}.".encode() + body
    return ",".join(
        "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets
    )


def _signing_secrets(endpoint: WebhookEndpoint, at: datetime) -> tuple[str, ...]:
    """The current secret, and after a rotation, until it expires, the one before it."""
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > at:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


async def _claim_due(database: Database, limit: int) -> list[Claimed]:
    """Due deliveries, oldest first, each taken for `LEASE`."""
    async with database.transaction() as session:
        at = now()
        # An endpoint's delivery waits while an older one of the endpoint is waiting for its
        # retry or on its way, so the endpoint gets them in the order they were queued.
        ahead = aliased(WebhookDelivery)
        older_waiting = (
            select(ahead.id)
            .where(
                ahead.endpoint_id == WebhookDelivery.endpoint_id,
                ahead.id < WebhookDelivery.id,
                ahead.state == DeliveryState.PENDING,
                (ahead.next_attempt_at > at) | (ahead.claimed_until > at),
            )
            .exists()
        )
        statement = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.state == DeliveryState.PENDING,
                WebhookDelivery.next_attempt_at <= at,
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= at),
                ~older_waiting,
            )
            # Oldest queued first (ids are time-ordered), not soonest due: a retry goes before
            # what was queued after it.
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
        assert session.bind is not None
        locking = skip_claimed(statement, session.bind.dialect.name)
        deliveries = (await session.scalars(locking)).all()
        if not deliveries:
            return []
        endpoint_ids = {delivery.endpoint_id for delivery in deliveries}
        endpoints = {
            endpoint.id: endpoint
            for endpoint in await session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids))
            )
        }
        claimed = []
        for delivery in deliveries:
            delivery.claimed_until = at + LEASE
            endpoint = endpoints[delivery.endpoint_id]
            claimed.append(
                Claimed(
                    id=delivery.id,
                    endpoint_id=endpoint.id,
                    event_type=delivery.event_type.value,
                    body=delivery.body,
                    attempts=delivery.attempts,
                    retry_until=delivery.retry_until,
                    claimed_until=delivery.claimed_until,
                    url=endpoint.url,
                    secrets=_signing_secrets(endpoint, at),
                    active=endpoint.active,
                )
            )
    return claimed


async def _excerpt(response: httpx.Response) -> str:
    """The start of an error answer's body, on one line; the rest is never read."""
    received = b""
    async for chunk in response.aiter_raw():
        received += chunk
        if len(received) >= EXCERPT_CHARS * 4:
            break
    text = " ".join(received.decode(errors="replace").split())
    return text[:EXCERPT_CHARS]


async def _post(client: httpx.AsyncClient, settings: Settings, delivery: Claimed) -> Outcome:
    """One attempt: the stored body, signed now."""
    try:
        # Checked again: the address may have been allowed by settings that have changed.
        check_url(delivery.url, settings)
    except InvalidInput as refused:
        return Outcome(None, f"Not sent: {refused.detail}")
    # Where the name points now: a public name may have been pointed into our network since.
    if problem := await public_address_problem(delivery.url, settings):
        return Outcome(None, f"Not sent: {problem}")
    body = delivery.body.encode()
    timestamp = int(now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Relaydesk-Delivery": str(delivery.id),
        "X-Relaydesk-Event": delivery.event_type,
        "X-Relaydesk-Timestamp": str(timestamp),
        "X-Relaydesk-Signature": signature(delivery.secrets, timestamp, body),
        # Error answers are read in part; compressed, the part would be unreadable.
        "Accept-Encoding": "identity",
    }
    try:
        async with (
            asyncio.timeout(REQUEST_TIMEOUT_SECONDS),
            client.stream("POST", delivery.url, content=body, headers=headers) as response,
        ):
            if response.is_success:
                return Outcome(response.status_code, None)
            excerpt = await _excerpt(response)
            error = f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
            return Outcome(response.status_code, error)
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, f"No answer within {REQUEST_TIMEOUT_SECONDS:g} s.")
    except Exception as error:
        return Outcome(None, f"{type(error).__name__}: {error}"[:EXCERPT_CHARS])


def _still_claimed(deliveries: Sequence[Claimed]) -> sa.ColumnElement[bool]:
    """The rows as this worker claimed them: a worker whose lease ran out changes nothing."""
    return (
        WebhookDelivery.id.in_([delivery.id for delivery in deliveries])
        & (WebhookDelivery.claimed_until == deliveries[0].claimed_until)
        & (WebhookDelivery.state == DeliveryState.PENDING)
    )


async def _write(database: Database, deliveries: Sequence[Claimed], **values: Any) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(_still_claimed(deliveries))
            .values(claimed_until=None, **values)
        )


async def _record(database: Database, delivery: Claimed, outcome: Outcome) -> datetime | None:
    """Writes how the attempt went; answers when it is tried again (None: it is settled)."""
    at = now()
    attempt = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempt,
        "response_code": outcome.response_code,
        "last_error": outcome.error,
    }
    if outcome.error is None:
        values |= {"state": DeliveryState.DELIVERED, "delivered_at": at, "next_attempt_at": None}
    elif at >= delivery.retry_until:
        values |= {"state": DeliveryState.FAILED, "next_attempt_at": None}
    else:
        values["next_attempt_at"] = min(at + retry_delay(attempt), delivery.retry_until)
    if outcome.error is not None:
        log.warning(
            "webhook_not_delivered",
            delivery_id=str(delivery.id),
            attempts=attempt,
            given_up=values["next_attempt_at"] is None,
            error=outcome.error,
        )
    await _write(database, [delivery], **values)
    return values["next_attempt_at"]


async def _deliver_in_order(
    database: Database, settings: Settings, client: httpx.AsyncClient, deliveries: list[Claimed]
) -> None:
    """One endpoint's claimed deliveries, oldest first, until one fails: the rest then wait
    for its retry (without counting an attempt), to go after it."""
    for index, delivery in enumerate(deliveries):
        if now() + SEND_BUDGET > delivery.claimed_until:
            return  # the rest become due again when the lease ends
        if not delivery.active:
            await _write(
                database,
                [delivery],
                state=DeliveryState.FAILED,
                next_attempt_at=None,
                last_error=INACTIVE,
            )
            continue
        outcome = await _post(client, settings, delivery)
        retry_at = await _record(database, delivery, outcome)
        if outcome.error is not None:
            if later := deliveries[index + 1 :]:
                await _write(database, later, next_attempt_at=retry_at or now(), last_error=WAITING)
            return


async def deliver_due_webhooks(
    database: Database, settings: Settings, *, limit: int = BATCH
) -> bool:
    """The worker's job: sends up to `limit` due deliveries; answers whether a whole batch was
    due, so that the worker goes on at once."""
    claimed = await _claim_due(database, limit)
    if not claimed:
        return False
    by_endpoint: dict[uuid.UUID, list[Claimed]] = defaultdict(list)
    for delivery in claimed:
        by_endpoint[delivery.endpoint_id].append(delivery)
    async with (
        httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False) as client,
        asyncio.TaskGroup() as endpoints,
    ):
        for deliveries in by_endpoint.values():
            endpoints.create_task(_deliver_in_order(database, settings, client, deliveries))
    return len(claimed) == limit
