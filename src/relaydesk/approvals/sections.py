"""The pages of the request workflow as data: each page's queues (a tab per request kind), its
history, and the view a page's query asks for. Partnership and Add-ons have one queue each;
Requests three (broadcasts, advertising packages and ads)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads.schemas import AD_TYPE_LABELS
from relaydesk.approvals import schemas
from relaydesk.approvals.kinds import KINDS
from relaydesk.approvals.models import RequestKind
from relaydesk.attachments.models import Attachment
from relaydesk.attachments.schemas import Attachment as File
from relaydesk.attachments.service import attachment_view, readable_attachments
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.schemas import AUDIENCE_LABELS
from relaydesk.catalogue.schemas import TYPE_LABELS
from relaydesk.engagements.pages import REDEMPTION_LABELS
from relaydesk.web.templating import uuid_or_none

EXPORT_PATH = "/api/v1/tenant/requests/export.csv"
HISTORY = "history"
PENDING_INTRO = (
    "In this section, you can see all {topic} requests that are currently pending your "
    "approval. When you reject one, you will be asked for a description that is sent to the "
    "partner's e-mail."
)
DESCRIPTION_ASKED = "If rejected, you will be asked to provide partners with a description."


@dataclass(frozen=True, slots=True)
class Queue:
    """One kind's requests waiting for a decision: a tab of its page."""

    kind: RequestKind
    # The tab's `?tab=` value; a page opens on its first queue.
    tab: str
    label: str
    intro: str

    @property
    def topic(self) -> str:
        return KINDS[self.kind].label


@dataclass(frozen=True, slots=True)
class Section:
    """A page of the request workflow: its queues, and the history of their decisions."""

    path: str
    title: str
    queues: tuple[Queue, ...]
    # What its requests are called in sentences about all of them.
    topic: str
    history_intro: str
    history_columns: tuple[str, ...]
    history_rows: str

    @property
    def kinds(self) -> tuple[RequestKind, ...]:
        return tuple(queue.kind for queue in self.queues)

    def queue(self, tab: str) -> Queue:
        """The queue a `?tab=` names; the first for any other."""
        return next((queue for queue in self.queues if queue.tab == tab), self.queues[0])

    def queue_of(self, kind: RequestKind) -> Queue:
        return next(queue for queue in self.queues if queue.kind == kind)


PARTNERSHIPS = Section(
    "/tenant/partnerships",
    "Partnership",
    (
        Queue(
            RequestKind.PARTNERSHIP,
            "",
            "Pending approval",
            PENDING_INTRO.format(topic="partnership"),
        ),
    ),
    "partnership",
    "Inside the history section, you can see the complete history of your partnership "
    "approvals and rejections. Export it to a CSV file to manage it offline.",
    (
        "Partner name",
        "Package (price)",
        "Decision",
        "Approval/Denial date",
        "Decided by",
        "Rejection reason",
    ),
    "approvals/_history_rows.html",
)
ADDONS = Section(
    "/tenant/addons",
    "Add-ons",
    (Queue(RequestKind.ADDON, "", "Pending for approval", PENDING_INTRO.format(topic="add-on")),),
    "add-on",
    "Inside the history section, you can see the complete history of your add-on approvals "
    "and rejections. Export it to a CSV file to manage it offline.",
    (
        "Partner name",
        "Add-on (price)",
        "Decision",
        "Approval/Denial date",
        "Decided by",
        "Rejection reason",
    ),
    "approvals/_history_rows.html",
)
REQUESTS = Section(
    "/tenant/requests",
    "Requests",
    (
        Queue(
            RequestKind.BROADCAST,
            "broadcasts",
            "Broadcast requests",
            "Broadcast requests happen when partners want to send engagements to end users "
            "that might not follow their channel. In order to send engagements to "
            "non-followers, you will have to approve their broadcast request in this section. "
            "Expand a request to preview it, see when the broadcast will start and what type "
            f"of engagement is used. {DESCRIPTION_ASKED}",
        ),
        Queue(
            RequestKind.AD_PACKAGE,
            "ad-packages",
            "Advertising packages requests",
            "Partners who wish to run ad campaigns inside your applications that have "
            "advertising enabled can buy impressions by requesting advertising packages. In "
            "this section, you can find all advertising package requests from your partners "
            f"and approve or reject them. {DESCRIPTION_ASKED}",
        ),
        Queue(
            RequestKind.AD,
            "ads",
            "Ads requests",
            "Partners who have enough impressions to advertise can set up ad campaigns and "
            "launch them. For ads to become visible to your end users, you have to approve "
            "them first. In this section, you can preview all ad campaign requests from your "
            f"partners and approve or reject them. {DESCRIPTION_ASKED}",
        ),
    ),
    "broadcast, advertising package or ad",
    "History contains a complete history of approvals and rejections from the sections "
    "above. Export it to a CSV file to manage it offline.",
    (
        "Title",
        "Partner",
        "Approval/Denial date",
        "Type",
        "Decision",
        "Progress",
        "Decided by",
        "Rejection reason",
    ),
    "approvals/_requests_history_rows.html",
)


@dataclass
class View:
    """The tab shown (a queue, or the history with its kind and search) and the page of rows
    it starts from."""

    section: Section
    # None is the History tab.
    queue: Queue | None
    kind: RequestKind | None = None
    q: str = ""
    cursor: str = ""

    @property
    def history(self) -> bool:
        return self.queue is None

    @property
    def kinds(self) -> tuple[RequestKind, ...]:
        """The kinds of the requests shown."""
        if self.queue is not None:
            return (self.queue.kind,)
        return (self.kind,) if self.kind else self.section.kinds

    @property
    def topic(self) -> str:
        if self.queue is not None:
            return self.queue.topic
        return KINDS[self.kind].label if self.kind else self.section.topic

    def url(self, cursor: str | None = None) -> str:
        tab = HISTORY if self.queue is None else self.queue.tab
        query = {"tab": tab, "kind": self.kind, "q": self.q, "cursor": cursor}
        present = {name: value for name, value in query.items() if value}
        return self.section.path + (f"?{urlencode(present)}" if present else "")

    def export_url(self) -> str:
        query = [("kind", kind.value) for kind in self.kinds] + [("status", "decided")]
        return f"{EXPORT_PATH}?{urlencode(query + ([('q', self.q)] if self.q else []))}"


def view_of(section: Section, tab: str = "", kind: str = "", q: str = "", cursor: str = "") -> View:
    """The view a page's query asks for; what it does not know shows the first queue, or the
    whole history."""
    if tab != HISTORY:
        return View(section, section.queue(tab), cursor=cursor)
    chosen = RequestKind(kind) if kind in section.kinds and len(section.kinds) > 1 else None
    return View(section, None, chosen, q.strip()[:200], cursor)


def queue_url(section: Section, kind: RequestKind, **query: str) -> str:
    """The tab of a kind's queue, with `query` (say, what was just decided)."""
    tab = section.queue_of(kind).tab
    present = {name: value for name, value in ({"tab": tab} | query).items() if value}
    return section.path + (f"?{urlencode(present)}" if present else "")


def _moment(text: str | None) -> datetime | None:
    """A time kept in a request's details (ISO text) as the moment the pages show."""
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


# What every template of these pages may use.
LABELS = {
    "audience_labels": AUDIENCE_LABELS,
    "ad_type_labels": AD_TYPE_LABELS,
    "type_labels": TYPE_LABELS,
    "kind_labels": {kind: about.label for kind, about in KINDS.items()},
    "redemption_labels": REDEMPTION_LABELS,
    "moment": _moment,
}


def _file_ids(data: dict[str, Any]) -> Iterable[uuid.UUID | None]:
    """The files an engagement's data refers to (`…_attachment_id`, `…_attachment_ids`)."""
    for key, value in data.items():
        if key.endswith("_attachment_id") and isinstance(value, str):
            yield uuid_or_none(value)
        elif key.endswith("_attachment_ids") and isinstance(value, list):
            yield from (uuid_or_none(str(one)) for one in value)


async def engagement_files(
    session: AsyncSession, staff: StaffPrincipal, items: Iterable[schemas.Request]
) -> dict[str, File]:
    """The files of the broadcast engagements shown, by id, in one query; a file the reviewer
    may not read (or gone) is missing."""
    ids = {
        file_id
        for item in items
        if item.kind == RequestKind.BROADCAST
        for file_id in _file_ids(item.details.get("engagement", {}).get("data", {}))
        if file_id is not None
    }
    if not ids:
        return {}
    files = await session.scalars(readable_attachments(staff).where(Attachment.id.in_(ids)))
    return {str(file.id): attachment_view(file) for file in files}
