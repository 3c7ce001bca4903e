"""Pydantic building blocks shared by every domain's schemas."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


class Input(BaseModel):
    """A request body: unknown fields are an error, text is trimmed and holds no NUL (which
    PostgreSQL cannot store, so SQLite would keep what PostgreSQL refuses)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _holds_nul(data):
            raise ValueError("Text must not hold NUL characters.")
        return data


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


EARLIEST_YEAR, LATEST_YEAR = 2000, 9000


def _in_utc(moment: datetime) -> datetime:
    # Bounded first: a moment at the calendar's very edge can't be moved to another zone.
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(f"Pick a date between the years {EARLIEST_YEAR} and {LATEST_YEAR}.")
    return moment.astimezone(UTC)


# A moment sent with any offset, kept and answered in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# What a partner writes to explain a request.
Description = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class Money(BaseModel):
    """An amount as a decimal string ("99.00") and an ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: Currency

    def model_post_init(self, _context: object) -> None:
        self.amount = self.amount.quantize(Decimal("0.01"))


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
