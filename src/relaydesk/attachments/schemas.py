import uuid

from pydantic import Field

from relaydesk.attachments.models import AttachmentKind
from relaydesk.schemas import Output

MAX_PER_MESSAGE = 10


class Attachment(Output):
    id: uuid.UUID
    kind: AttachmentKind
    filename: str
    content_type: str
    size: int = Field(description="Bytes.")
    url: str = Field(description="Where the file is fetched, with the caller's credentials.")
    preview_url: str | None = Field(description="A thumbnail of at most 320 by 320 for images.")
