"""Canned categories and responses as the API takes and shows them."""

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from relaydesk.schemas import Input, Output

SHORTCODE_PATTERN = re.compile(r"^[a-z0-9_-]{1,50}$")

CategoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4_000)]
Position = Annotated[int, Field(ge=0)]


def _normal_shortcode(value: str | None) -> str | None:
    """Stored lowercase and without the `/` agents type before it; empty means none."""
    if value is None:
        return None
    value = value.strip().removeprefix("/").lower()
    if not value:
        return None
    if not SHORTCODE_PATTERN.match(value):
        raise ValueError("A shortcut is up to 50 letters, digits, '-' or '_'.")
    return value


Shortcode = Annotated[
    str | None,
    AfterValidator(_normal_shortcode),
    Field(description="Up to 50 letters, digits, '-' or '_'; stored lowercase, without a '/'."),
]


def _refuse_null(model: BaseModel, *fields: str) -> None:
    """In a partial update, leaving a field out keeps it; sending null for one that must
    have a value is a mistake."""
    for field in fields:
        if field in model.model_fields_set and getattr(model, field) is None:
            raise ValueError(f"{field} cannot be null.")


class CannedCategoryCreate(Input):
    """A new category; with `position` it goes there (the others move down), else last."""

    name: CategoryName
    position: Position | None = None


class CannedCategoryUpdate(Input):
    """A rename and/or a move; a position past the end means last."""

    name: CategoryName | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _name_not_null(self) -> "CannedCategoryUpdate":
        _refuse_null(self, "name")
        return self


class CannedCategory(Output):
    id: uuid.UUID
    name: str
    position: int
    response_count: int
    created_at: datetime


class CannedResponseCreate(Input):
    category_id: uuid.UUID
    title: Title
    body: Body
    shortcode: Shortcode = None


class CannedResponseUpdate(Input):
    """Only the fields sent change; `shortcode: null` removes the shortcut."""

    category_id: uuid.UUID | None = None
    title: Title | None = None
    body: Body | None = None
    shortcode: Shortcode = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> "CannedResponseUpdate":
        _refuse_null(self, "category_id", "title", "body")
        return self


class CannedResponse(Output):
    id: uuid.UUID
    category_id: uuid.UUID
    title: str
    body: str
    shortcode: str | None
    created_at: datetime
    updated_at: datetime


class FilledText(BaseModel):
    """A response's text with the conversation's placeholders filled in."""

    text: str
