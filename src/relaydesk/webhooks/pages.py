"""The partner portal's Webhooks page (SU-5): the partner's endpoints, adding one, its signing
secret shown once (after adding it and after rotating it), switching endpoints off and on,
deleting them, and each endpoint's delivery log.

The forms post here: htmx swaps in the panel this answers with; a plain form post is sent back
to the page, or gets the page itself when it has a secret to show (a secret can't go through a
redirect) or a reason for refusing, with the error's status. Rotating and deleting ask first:
htmx in its dialog, a plain form post on a page of its own.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.config import Settings
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.errors import AppError, NotFound
from relaydesk.pagination import PageParams, decode_cursor
from relaydesk.web.templating import from_htmx, render
from relaydesk.webhooks import schemas, service
from relaydesk.webhooks.models import WebhookEvent

router = APIRouter(include_in_schema=False)

ManagerDep = require(Permission.WEBHOOKS_MANAGE)

PAGE = "/partner/webhooks"
# An endpoint's delivery log shows this many at a time; "Load more" adds the next ones.
DELIVERIES_SHOWN = 50

EVENT_LABELS = {
    WebhookEvent.MESSAGE_CREATED: "a new message in a chat, from either side",
    WebhookEvent.CONVERSATION_UPDATED: "a chat is taken, taken over, finished or reopened",
}
_FIELD_HINTS = {
    "url": "Enter the endpoint's address, at most 2,000 characters.",
    "events": "Pick at least one event.",
    "description": "The description has at most 500 characters.",
}
_QUESTIONS = {
    "rotate": (
        "Rotate the signing secret of {url}? The new secret is shown once; the current one "
        "keeps signing alongside it for 24 hours."
    ),
    "delete": (
        "Delete the endpoint {url}? Its pending deliveries will not be sent, and its delivery "
        "log goes with it."
    ),
}
_BUTTONS = {"rotate": "Rotate the secret", "delete": "Delete"}


def question(action: str, endpoint: schemas.WebhookEndpoint) -> str:
    """What is asked before rotating or deleting: in htmx's dialog, or on a page of its own."""
    return _QUESTIONS[action].format(url=endpoint.url)


@dataclass
class View:
    """What the panel shows besides the endpoints: the outcome of the last change, a secret
    to copy, or why the add form was refused, with what was typed into it."""

    notice: str | None = None
    revealed: schemas.WebhookEndpointWithSecret | None = None
    rotated: bool = False
    error: str | None = None
    status: int = 200
    invalid: set[str] = field(default_factory=set)
    values: dict[str, Any] = field(default_factory=dict)

    def refused(self, error: ValidationError | AppError) -> None:
        if isinstance(error, ValidationError):
            fields = dict.fromkeys(str(e["loc"][0]) for e in error.errors() if e["loc"])
            hints = [_FIELD_HINTS.get(name, "Check this field.") for name in fields]
            self.error, self.status, self.invalid = " ".join(hints), 422, set(fields)
        else:
            self.error, self.status = error.detail, error.status
            self.invalid = {str(e["loc"][-1]) for e in error.extra.get("errors", [])}


async def _show(
    request: Request, session: AsyncSession, settings: Settings, staff: StaffPrincipal, view: View
) -> HTMLResponse:
    """The page, or for htmx only its panel; htmx swaps only successful answers in, so a
    refused change reaches it as a 200."""
    htmx = from_htmx(request)
    everything = PageParams(limit=service.MAX_ENDPOINTS, after_id=None)
    endpoints, _ = await service.list_endpoints(session, staff, everything)
    return render(
        request,
        "webhooks/_panel.html" if htmx else "webhooks/home.html",
        staff=staff,
        status_code=200 if htmx else view.status,
        view=view,
        endpoints=endpoints,
        event_labels=EVENT_LABELS,
        max_endpoints=service.MAX_ENDPOINTS,
        http_allowed=settings.allow_http_loopback_webhooks,
        page=PAGE,
        question=question,
    )


async def _changed(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    staff: StaffPrincipal,
    view: View,
    change: Callable[[], Awaitable[None]],
) -> Response:
    """Makes a change and answers with the panel, the page, or a plain post's redirect."""
    try:
        # A refused change leaves nothing behind, though the page then answers normally.
        async with session.begin_nested():
            await change()
    except NotFound:
        raise  # missing and not-yours are the same 404 on pages too
    except (ValidationError, AppError) as exc:
        view.refused(exc)
    if view.error is None and view.revealed is None and not from_htmx(request):
        return RedirectResponse(PAGE, status_code=303)
    return await _show(request, session, settings, staff, view)


@router.get(PAGE, name="webhooks:home")
async def webhooks_page(
    request: Request, session: SessionDep, settings: SettingsDep, staff: ManagerDep
) -> HTMLResponse:
    return await _show(request, session, settings, staff, View())


@router.post(PAGE, name="webhooks:create")
async def create_endpoint(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
    url: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form()] = "",
) -> Response:
    """Adds an endpoint and shows its secret, this once."""
    view = View(values={"url": url, "events": events or [], "description": description})

    async def change() -> None:
        data = schemas.WebhookEndpointCreate.model_validate(view.values)
        view.revealed = await service.create_endpoint(session, staff, settings, data)
        view.values = {}

    return await _changed(request, session, settings, staff, view, change)


@router.post(PAGE + "/{endpoint_id}/active", name="webhooks:switch")
async def switch(
    request: Request,
    endpoint_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
    active: Annotated[bool, Form()],
) -> Response:
    """Switches an endpoint off (its pending deliveries are not sent) or on again."""
    view = View()

    async def change() -> None:
        data = schemas.WebhookEndpointUpdate(active=active)
        updated = await service.update_endpoint(session, staff, settings, endpoint_id, data)
        view.notice = f"{updated.url} is switched {'on' if active else 'off'}."

    return await _changed(request, session, settings, staff, view, change)


async def _confirm(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    endpoint_id: uuid.UUID,
    action: str,
) -> HTMLResponse:
    """The page that asks before a plain form post rotates a secret or deletes an endpoint."""
    endpoint = service.endpoint_view(await service.get_endpoint(session, staff, endpoint_id))
    return render(
        request,
        "webhooks/confirm.html",
        staff=staff,
        question=question(action, endpoint),
        action=request.url.path,
        button=_BUTTONS[action],
        page=PAGE,
    )


@router.post(PAGE + "/{endpoint_id}/rotate", name="webhooks:rotate")
async def rotate(
    request: Request,
    endpoint_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """A new secret, shown this once, once confirmed."""
    if not confirmed:
        return await _confirm(request, session, staff, endpoint_id, "rotate")
    view = View(rotated=True)

    async def change() -> None:
        view.revealed = await service.rotate_secret(session, staff, endpoint_id)

    return await _changed(request, session, settings, staff, view, change)


@router.post(PAGE + "/{endpoint_id}/delete", name="webhooks:delete")
async def delete(
    request: Request,
    endpoint_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Deletes an endpoint and its deliveries, once confirmed."""
    if not confirmed:
        return await _confirm(request, session, staff, endpoint_id, "delete")
    view = View()

    async def change() -> None:
        deleted = await service.delete_endpoint(session, staff, endpoint_id)
        view.notice = f"The endpoint {deleted.url} is deleted."

    return await _changed(request, session, settings, staff, view, change)


def _log_url(endpoint_id: uuid.UUID, cursor: str | None = None) -> str:
    return f"{PAGE}/{endpoint_id}" + (f"?{urlencode({'cursor': cursor})}" if cursor else "")


@router.get(PAGE + "/{endpoint_id}", name="webhooks:endpoint")
async def endpoint_page(
    request: Request,
    endpoint_id: uuid.UUID,
    session: SessionDep,
    staff: ManagerDep,
    cursor: str = "",
) -> HTMLResponse:
    """An endpoint and its delivery log, newest first; with `cursor`, htmx's "Load more" gets
    only the next rows."""
    endpoint = service.endpoint_view(await service.get_endpoint(session, staff, endpoint_id))
    page = PageParams(limit=DELIVERIES_SHOWN, after_id=decode_cursor(cursor) if cursor else None)
    deliveries, next_cursor = await service.list_deliveries(session, staff, endpoint_id, page)
    more_rows = bool(cursor) and from_htmx(request)
    return render(
        request,
        "webhooks/_deliveries.html" if more_rows else "webhooks/endpoint.html",
        staff=staff,
        endpoint=endpoint,
        deliveries=deliveries,
        cursor=cursor,
        newest_url=_log_url(endpoint_id),
        more_url=_log_url(endpoint_id, next_cursor) if next_cursor else None,
        event_labels=EVENT_LABELS,
        page=PAGE,
    )


@router.post(PAGE + "/{endpoint_id}/deliveries/{delivery_id}/retry", name="webhooks:retry")
async def retry(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, staff: ManagerDep
) -> RedirectResponse:
    """Sends a failed delivery again, then back to the log."""
    await service.retry_delivery(session, staff, endpoint_id, delivery_id)
    return RedirectResponse(_log_url(endpoint_id), status_code=303)
