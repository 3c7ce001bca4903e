"""Webhook endpoints and their deliveries as the API takes and shows them."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from relaydesk.schemas import Input, Output
from relaydesk.webhooks.models import DeliveryState, WebhookEvent

URL_MAX_LENGTH = 2000


def _in_usual_order(events: list[WebhookEvent]) -> list[WebhookEvent]:
    """Each event once, in the order of `WebhookEvent`, however they were sent."""
    return [event for event in WebhookEvent if event in events]


Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_MAX_LENGTH),
    Field(description="https://…; plain http:// only to this machine, where allowed."),
]
Events = Annotated[list[WebhookEvent], Field(min_length=1), AfterValidator(_in_usual_order)]
EndpointDescription = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class WebhookEndpointCreate(Input):
    """A new endpoint; its signing secret is made by the server."""

    url: Url
    events: Events
    description: EndpointDescription = ""
    active: bool = True


class WebhookEndpointUpdate(Input):
    """Changes to an endpoint; what is left out stays as it is."""

    url: Url | None = None
    events: Events | None = None
    description: EndpointDescription | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> "WebhookEndpointUpdate":
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null.")
        return self


class WebhookEndpoint(Output):
    id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    description: str
    active: bool
    secret_hint: str = Field(description="The secret's last characters, to tell secrets apart.")
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation: when the previous secret stops signing alongside."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpoint):
    """An endpoint just created or rotated: the only answers that show its secret."""

    secret: str


class WebhookDeliveryListItem(Output):
    """One delivery in an endpoint's log; its body is not shown, only how it went."""

    id: uuid.UUID
    event_type: WebhookEvent
    state: DeliveryState
    attempts: int
    response_code: int | None = Field(description="The HTTP status of the last attempt.")
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
