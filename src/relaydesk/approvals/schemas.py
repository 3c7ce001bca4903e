import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StringConstraints

from relaydesk.ads.schemas import AdAsk, AdPackageAsk
from relaydesk.approvals.models import RequestKind, RequestStatus
from relaydesk.broadcasts.schemas import BroadcastAsk
from relaydesk.schemas import Description, Input, Money, Name, Output

Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=40, pattern=r"^[0-9+()./ -]+$"
    ),
]
Website = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Registration(Input):
    """A would-be partner's application through the tenant's public form."""

    partner_name: Name
    package_id: uuid.UUID
    email: EmailStr
    phone: Phone
    website: Website = ""
    contact_name: Name
    description: Description = ""


class RegistrationReceived(Output):
    id: uuid.UUID
    status: RequestStatus


class PackageChange(Input):
    kind: Literal[RequestKind.PARTNERSHIP]
    package_id: uuid.UUID
    description: Description = ""


class AddonAsk(Input):
    kind: Literal[RequestKind.ADDON]
    addon_id: uuid.UUID
    description: Description = ""


PartnerRequestAsk = PackageChange | AddonAsk | BroadcastAsk | AdPackageAsk | AdAsk
PartnerRequestCreate = Annotated[PartnerRequestAsk, Field(discriminator="kind")]


class Rejection(Input):
    reason: Reason


class RequestPartner(Output):
    """Who asked: `id` is null and `status` "new" for a registration not yet approved."""

    id: uuid.UUID | None
    name: str
    status: str


class Person(Output):
    id: uuid.UUID
    name: str


class Request(Output):
    id: uuid.UUID
    kind: RequestKind
    status: RequestStatus
    title: str
    partner: RequestPartner
    price: Money | None
    description: str
    requested_at: datetime
    decided_at: datetime | None
    decided_by: Person | None
    rejection_reason: str | None
    details: dict[str, Any]


StatusFilter = Literal["pending", "approved", "rejected", "decided"]
