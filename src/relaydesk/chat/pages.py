"""The agents' chat console and the end users' demo app; both load their chats from the API."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from relaydesk.attachments.files import FILE_TYPES
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.tenancy import service as tenancy
from relaydesk.web.templating import render

router = APIRouter(include_in_schema=False)

# What the file picker offers; the server checks every file again.
ATTACHMENT_EXTENSIONS = ",".join(FILE_TYPES)


@router.get("/desk", name="desk:home")
async def desk_home(
    request: Request, session: SessionDep, staff: require(Permission.CHAT_HANDLE)
) -> HTMLResponse:
    """The console's shell: inbox filters, the partner's channels, thread and composer."""
    channels = await tenancy.channels_by_name(session, staff)
    return render(
        request,
        "desk/home.html",
        staff=staff,
        channels=channels,
        attachment_extensions=ATTACHMENT_EXTENSIONS,
    )


@router.get("/app", name="enduser:app")
async def end_user_app(request: Request) -> HTMLResponse:
    """A stand-in for the tenant's app; the end user's token arrives in the URL fragment."""
    return render(request, "enduser/app.html", attachment_extensions=ATTACHMENT_EXTENSIONS)
