"""GET /api/v1/ws: a socket per client, fed from the bus; it holds no database session."""

import asyncio
import contextlib
import json
import uuid
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth import service as auth
from relaydesk.auth.deps import SESSION_COOKIE, bearer_credentials, principal_from_bearer
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.chat.collision import SocketPresence
from relaydesk.clock import now
from relaydesk.errors import AppError, PermissionDenied, Unauthenticated
from relaydesk.realtime import topics
from relaydesk.realtime.bus import Subscription
from relaydesk.realtime.events import encode_frame
from relaydesk.tenancy.service import followed_channel_ids

log = structlog.get_logger(__name__)
router = APIRouter()

# Close codes: 4401/4403 like HTTP 401/403; 1013 "try again later" for a client too slow to
# keep up, which reconnects and catches up through the API.
UNAUTHENTICATED, FORBIDDEN, TOO_SLOW = 4401, 4403, 1013
# How often an open socket checks that its credentials still sign someone in: a sign-out,
# expiry, deactivation or a suspended partner ends the socket within this time.
RECHECK_SECONDS = 60.0


def _same_origin(websocket: WebSocket) -> bool:
    """A cookie-authenticated socket must come from our own pages (no cross-site hijacking)."""
    origin = websocket.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == websocket.headers.get("host")


async def _authenticate(session: AsyncSession, websocket: WebSocket) -> Principal:
    token = bearer_credentials(websocket) or websocket.query_params.get("access_token")
    if token:
        return await principal_from_bearer(websocket, session, token)
    session_token = websocket.cookies.get(SESSION_COOKIE)
    if session_token and _same_origin(websocket):
        staff = await auth.staff_from_session_token(session, session_token)
        if staff is not None:
            return staff
    raise Unauthenticated("Sign in first.")


async def _topics_of(session: AsyncSession, principal: Principal) -> list[str]:
    """Agents hear their partner's inbox and their own read marks; an end user their
    conversations and followed channels."""
    if isinstance(principal, EndUserPrincipal):
        channel_ids = await followed_channel_ids(session, principal)
        return [topics.end_user(principal.id), *map(topics.channel, channel_ids)]
    assert isinstance(principal, StaffPrincipal)
    if principal.partner_id is None or not principal.can(Permission.CHAT_HANDLE):
        raise PermissionDenied("Only a partner's agents receive chat events.")
    return [topics.partner(principal.partner_id), topics.staff(principal.id)]


def _server_time() -> dict[str, str]:
    return {"server_time": now().isoformat().replace("+00:00", "Z")}


async def _receive(
    websocket: WebSocket, subscription: Subscription, presence: SocketPresence
) -> None:
    """Answers pings, and hears which chat the client shows and types in (HD-18), until the
    client goes away. Frames it cannot use are ignored."""
    while True:
        text = await websocket.receive_text()
        try:
            frame = json.loads(text)
            kind, named = frame.get("type"), frame.get("conversation_id")
            conversation_id = uuid.UUID(named) if isinstance(named, str) else None
        except (ValueError, AttributeError):
            continue
        try:
            if kind == "ping":
                subscription.push(encode_frame("pong", _server_time()))
            elif kind == "viewing" and (conversation_id or named is None):
                await presence.view(conversation_id)
            elif kind == "typing" and conversation_id:
                await presence.typing(conversation_id)
        except (RedisError, OSError) as error:
            # Who views and types is best effort: a Redis outage must not end the socket.
            log.warning("presence_unavailable", error=repr(error))


async def _signed_out(websocket: WebSocket) -> None:
    """Returns once the socket's credentials no longer sign anyone in."""
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        try:
            async with websocket.app.state.database.transaction() as session:
                await _authenticate(session, websocket)
        except AppError:
            return


async def _send(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        await websocket.send_text(await subscription.next_frame())


@router.websocket("/api/v1/ws")
async def socket(websocket: WebSocket) -> None:
    app = websocket.app
    await websocket.accept()
    try:
        async with app.state.database.transaction() as session:
            principal = await _authenticate(session, websocket)
            subscribed = await _topics_of(session, principal)
    except AppError as error:
        await websocket.close(UNAUTHENTICATED if error.status == 401 else FORBIDDEN, error.detail)
        return
    presence = SocketPresence(principal, app.state.database, app.state.bus, app.state.presence)
    async with app.state.bus.subscribe(subscribed) as subscription:
        await websocket.send_text(encode_frame("hello", _server_time()))
        tasks = [
            asyncio.create_task(_receive(websocket, subscription, presence)),
            asyncio.create_task(_send(websocket, subscription)),
            asyncio.create_task(subscription.overflowed.wait()),
            signed_out := asyncio.create_task(_signed_out(websocket)),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # The client's colleagues see it leave the chat it showed.
        with contextlib.suppress(RedisError, OSError):
            await presence.leave()
        # A client that went away ends its socket; anything else is a bug worth a log line.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            for task in done:
                task.result()
        if subscription.overflowed.is_set():
            with contextlib.suppress(RuntimeError):
                await websocket.close(TOO_SLOW, "Too slow; reconnect and catch up.")
        elif signed_out in done:
            with contextlib.suppress(RuntimeError):
                await websocket.close(UNAUTHENTICATED, "Signed out.")
