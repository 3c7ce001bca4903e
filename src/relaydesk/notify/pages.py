"""The mail log page (PM-9): the tenant's e-mails newest first, filtered by delivery state.

"Load more" is a plain link to the next rows; htmx instead appends them to the table.
"""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.notify import service
from relaydesk.notify.models import EmailState
from relaydesk.pagination import PageParams, decode_cursor
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)

ManagerDep = require(Permission.PARTNERS_MANAGE)
ROWS_SHOWN = 50


def _log_url(state: EmailState | None, cursor: str | None = None) -> str:
    query = {"state": state.value if state else None, "cursor": cursor}
    present = {name: value for name, value in query.items() if value}
    return "/tenant/emails" + (f"?{urlencode(present)}" if present else "")


@router.get("/tenant/emails", name="notify:log")
async def mail_log(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: ManagerDep,
    state: str = "",
    cursor: str = "",
) -> HTMLResponse:
    # An unknown state is a stale or hand-made link: the page shows every state instead.
    chosen = EmailState(state) if state in set(EmailState) else None
    page = PageParams(limit=ROWS_SHOWN, after_id=decode_cursor(cursor) if cursor else None)
    emails, next_cursor = await service.list_emails(session, staff, page, state=chosen)
    more_rows = bool(cursor) and from_htmx(request)
    return render(
        request,
        "notify/_rows.html" if more_rows else "notify/log.html",
        staff=staff,
        emails=emails,
        state=chosen,
        states=list(EmailState),
        cursor=cursor,
        newest_url=_log_url(chosen),
        more_url=_log_url(chosen, next_cursor) if next_cursor else None,
        smtp_configured=settings.smtp_url is not None,
    )
