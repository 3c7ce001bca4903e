"""Which ad files an end user may fetch; apart from the rest of the domain, as the attachments'
scope asks it (and the domain's service uses attachments)."""

import uuid

from sqlalchemy import Select, select

from relaydesk.ads.models import Ad


def ad_files(tenant_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The files of the tenant's approved ads, which any of its end users may be shown."""
    return select(Ad.media_attachment_id).where(Ad.tenant_id == tenant_id)
