"""Which engagement files an end user may fetch; apart from the rest of the domain, as the
attachments' scope asks it (and the domain's service uses attachments)."""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from relaydesk.engagements.models import Engagement, EngagementDelivery


def delivered_file(end_user_id: uuid.UUID, attachment_id: sa.ColumnElement[uuid.UUID]) -> sa.Exists:
    """Whether an engagement delivered to the end user refers to the attachment in its data.

    Looks through the end user's own deliveries only (an indexed handful) for the id in the
    data's text; hyphens are dropped on both sides, as SQLite keeps ids as bare hex.
    """

    def bare(text: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
        return func.replace(sa.cast(text, sa.String), "-", "")

    return (
        select(EngagementDelivery.id)
        .join(Engagement, Engagement.id == EngagementDelivery.engagement_id)
        .where(
            EngagementDelivery.end_user_id == end_user_id,
            bare(Engagement.data).contains(bare(attachment_id)),
        )
        .exists()
    )
