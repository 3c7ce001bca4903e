import uuid
from datetime import datetime

from pydantic import Field

from relaydesk.notify.models import EmailState
from relaydesk.schemas import Output


class EmailListItem(Output):
    """One e-mail in the mail log; its text is not kept, only what it was and how it went."""

    id: uuid.UUID
    to: str = Field(validation_alias="to_address")
    subject: str
    state: EmailState
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
