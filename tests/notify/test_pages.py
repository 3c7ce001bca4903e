"""The mail log page: the tenant's e-mails newest first, the state filter, "Load more", the note
when mail only goes to the log, and who may open it."""

import httpx
import pytest
from fastapi import FastAPI

from relaydesk.auth.permissions import Role
from relaydesk.config import Settings
from relaydesk.notify import pages
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.mail import MailServer
from tests.notify.conftest import MailLog, mail_in_every_state, queue
from tests.web.test_pages import signed_in, table_rows

COLUMNS = ["To", "Subject", "State", "Attempts", "Created", "Sent", "Last error"]
LOGGED_ONLY = "No SMTP server is set up"


@pytest.fixture
async def log(mail: MailServer, world: World) -> MailLog:
    return await mail_in_every_state(mail, world)


@pytest.fixture
async def admin(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> httpx.AsyncClient:
    """The client, signed in as the first tenant's admin."""
    await signed_in(client, factory, settings, world.tenant_admin)
    return client


def content(response: httpx.Response) -> Element:
    assert response.status_code == 200, response.text[:500]
    return parse(response).find("main", {"class": "content"})


def recipients(element: Element) -> list[str]:
    return [row[0] for row in table_rows(element) if len(row) == len(COLUMNS)]


class TestMailLogPage:
    async def test_rows_newest_first_with_their_delivery(
        self, admin: httpx.AsyncClient, log: MailLog
    ) -> None:
        page = content(await admin.get("/tenant/emails"))

        table = page.find("table")
        assert [th.text() for th in table.find_all("th")] == COLUMNS
        rows = table_rows(table)
        assert [row[0] for row in rows] == [
            "sent@acme.example",
            "pending@acme.example",
            "failed@acme.example",
        ]
        sent, pending, failed = rows
        assert sent[1] == log.sent.subject
        assert (sent[2], sent[3], sent[6]) == ("sent", "1", "")
        assert sent[5].endswith("UTC")
        assert (pending[2], pending[3], pending[5]) == ("pending", "1", "")
        assert pending[6] == log.pending.last_error
        assert (failed[2], failed[3]) == ("failed", "12")
        assert "others@elsewhere.example" not in page.text()
        assert page.find_all("a", {"id": "mail-more"}) == []

    async def test_the_state_filter_keeps_one_state(
        self, admin: httpx.AsyncClient, log: MailLog
    ) -> None:
        page = content(await admin.get("/tenant/emails", params={"state": "failed"}))

        assert recipients(page) == ["failed@acme.example"]
        form = page.find("form", {"aria-label": "Filter e-mails"})
        assert form.attrs["method"] == "get"
        options = {o.attrs["value"]: o for o in form.find("select", {"name": "state"}).iter()}
        assert set(options) == {"", "pending", "sent", "failed"}
        assert "selected" in options["failed"].attrs

    async def test_an_unknown_state_shows_every_state(
        self, admin: httpx.AsyncClient, log: MailLog
    ) -> None:
        page = content(await admin.get("/tenant/emails", params={"state": "bounced"}))
        assert len(recipients(page)) == 3

    async def test_nothing_sent_yet_says_so(self, admin: httpx.AsyncClient) -> None:
        page = content(await admin.get("/tenant/emails"))
        assert page.find_all("table") == []
        assert "No e-mails yet." in page.text()

    async def test_no_email_in_a_state_says_so(self, admin: httpx.AsyncClient) -> None:
        page = content(await admin.get("/tenant/emails", params={"state": "failed"}))
        assert "No failed e-mails." in page.text()


class TestLoadMore:
    @pytest.fixture(autouse=True)
    def two_rows_at_a_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(pages, "ROWS_SHOWN", 2)

    @pytest.fixture
    async def five(self, mail: MailServer, world: World) -> list[str]:
        """Five e-mails' addresses, newest first."""
        queued = [
            await queue(mail.database, world.tenant, f"owner-{number}@acme.example")
            for number in range(5)
        ]
        return [e.to_address for e in sorted(queued, key=lambda e: e.id, reverse=True)]

    async def test_htmx_appends_the_next_rows_in_place_of_the_link(
        self, admin: httpx.AsyncClient, five: list[str]
    ) -> None:
        page = content(await admin.get("/tenant/emails"))
        assert recipients(page) == five[:2]
        seen = recipients(page)
        more = page.find("tr", {"id": "mail-more"}).find("a")
        while True:
            assert more.attrs["hx-target"] == "#mail-more"
            assert more.attrs["hx-swap"] == "outerHTML"
            response = await admin.get(more.attrs["hx-get"], headers={"HX-Request": "true"})
            rows = parse(response)
            assert rows.find_all("html") == [] and rows.find_all("nav") == []
            seen += [tr.find("td").text() for tr in rows.find_all("tr", {"class": "mail-row"})]
            links = rows.find_all("tr", {"id": "mail-more"})
            if not links:
                break
            more = links[0].find("a")
        assert seen == five

    async def test_without_htmx_the_link_opens_the_older_rows(
        self, admin: httpx.AsyncClient, five: list[str]
    ) -> None:
        first = content(await admin.get("/tenant/emails", params={"state": "pending"}))
        link = first.find("tr", {"id": "mail-more"}).find("a").attrs["href"]
        assert "state=pending" in link

        older = content(await admin.get(link))

        assert recipients(older) == five[2:4]
        assert older.find("a", {"href": "/tenant/emails?state=pending"}).text() == (
            "Back to the newest e-mails"
        )


class TestSmtpNote:
    async def test_without_an_smtp_server_the_page_says_mail_only_goes_to_the_log(
        self, admin: httpx.AsyncClient
    ) -> None:
        assert LOGGED_ONLY in content(await admin.get("/tenant/emails")).text()

    async def test_with_an_smtp_server_there_is_no_such_note(
        self, app: FastAPI, admin: httpx.AsyncClient, mail: MailServer
    ) -> None:
        app.state.settings = mail.settings
        assert LOGGED_ONLY not in content(await admin.get("/tenant/emails")).text()


class TestWhoMayOpen:
    async def test_a_tenant_admin_finds_it_in_the_navigation(
        self, admin: httpx.AsyncClient
    ) -> None:
        document = parse(await admin.get("/tenant/emails"))
        link = document.find("nav").find("a", {"href": "/tenant/emails"})
        assert link.attrs["aria-current"] == "page"
        assert link.find_all("span", {"class": "soon"}) == []

    @pytest.mark.parametrize("role", [Role.TENANT_STAFF, Role.PARTNER_ADMIN, Role.AGENT])
    async def test_staff_who_do_not_manage_partners_get_403(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        assert (await client.get("/tenant/emails")).status_code == 403
        home = parse(await client.get("/", follow_redirects=True))
        assert "Mail log" not in home.find("nav").text()

    async def test_signed_out_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/tenant/emails", params={"state": "sent"})
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/tenant/emails%3Fstate%3Dsent"
