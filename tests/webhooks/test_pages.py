"""The partner portal's Webhooks page: adding an endpoint and seeing its secret once, rotating
and deleting after confirming, switching off and on, and the delivery log with "Load more",
with htmx and without."""

import httpx
import pytest

from relaydesk.auth.permissions import Role
from relaydesk.config import Settings
from relaydesk.webhooks import pages
from relaydesk.webhooks.delivery import WAITING
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import Element, parse
from tests.web.test_pages import alerts, redirect_target, signed_in, table_rows
from tests.webhooks.conftest import Receiver, Webhooks

pytestmark = pytest.mark.only_backend("sqlite")

PAGE = "/partner/webhooks"
HTTPS = "https://hooks.example.com/relaydesk"
BOTH = ["message.created", "conversation.updated"]
LOG_COLUMNS = [
    "Created",
    "Event",
    "State",
    "Attempts",
    "Response",
    "Error",
    "Next attempt",
    "Delivered",
]


@pytest.fixture
async def portal(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> FormPage:
    await signed_in(client, factory, settings, world.a.admin)
    return FormPage(client, PAGE, opens_first=True)


def secrets_shown(element: Element) -> list[str]:
    return [code.text() for code in element.find_all("code", {"class": "secret"})]


def endpoint_rows(element: Element) -> list[list[str]]:
    return [row for row in table_rows(element.find("table")) if row]


def log_rows(element: Element) -> list[list[str]]:
    rows = element.find_all("tr", {"class": "webhook-delivery"})
    return [[cell.text() for cell in row.find_all("td")] for row in rows]


def new_endpoint(url: str = HTTPS, events: list[str] = BOTH, **fields: str) -> dict:
    return {"url": url, "events": events, "description": "", **fields}


class TestAdding:
    async def test_the_secret_shows_once_then_only_its_hint(self, portal: FormPage) -> None:
        panel = await portal.fragment(PAGE, new_endpoint(description="CRM"))

        (secret,) = secrets_shown(panel)
        assert secret.startswith("whsec_")
        assert "not shown again" in " ".join(alerts(panel))
        (row,) = endpoint_rows(panel)
        assert row[0] == f"{HTTPS} CRM"
        assert row[1] == "message.created conversation.updated"
        assert row[2] == f"whsec_…{secret[-4:]}"
        assert row[3] == "On"

        page = await portal.open()
        assert secrets_shown(page) == []
        assert secret not in str(page.text())
        assert endpoint_rows(page)[0][2] == f"whsec_…{secret[-4:]}"

    async def test_without_scripts_the_answer_is_the_page_with_the_secret(
        self, portal: FormPage
    ) -> None:
        response = await portal.post_plain(PAGE, new_endpoint(events=["message.created"]))

        assert response.status_code == 200
        page = parse(response)
        assert page.find("h1").text() == "Webhooks"
        (secret,) = secrets_shown(page)
        assert endpoint_rows(page)[0][2] == f"whsec_…{secret[-4:]}"

    async def test_a_refused_address_shows_why_and_keeps_what_was_typed(
        self, portal: FormPage
    ) -> None:
        typed = new_endpoint("https://me:pw@hooks.example.com/in", ["conversation.updated"])

        plain = await portal.post_plain(PAGE, typed)
        panel = await portal.fragment(PAGE, typed)

        assert plain.status_code == 422
        for answer in (parse(plain), panel):
            (reason,) = alerts(answer)
            assert "must not hold a user name or password" in reason
            url = answer.find("input", {"name": "url"})
            assert (url.attrs["value"], url.attrs["aria-invalid"]) == (typed["url"], "true")
            checked = [
                box.attrs["value"]
                for box in answer.find_all("input", {"name": "events"})
                if "checked" in box.attrs
            ]
            assert checked == ["conversation.updated"]
            assert "No endpoints yet" in answer.text()

    async def test_no_events_picked_is_refused(self, portal: FormPage) -> None:
        response = await portal.post_plain(PAGE, {"url": HTTPS, "description": ""})
        assert response.status_code == 422
        assert alerts(parse(response)) == ["Pick at least one event."]

    async def test_the_form_says_plain_http_is_allowed_to_this_machine(
        self, portal: FormPage
    ) -> None:
        page = await portal.open()
        assert (
            "plain http:// to this machine" in page.find("form", {"class": "webhook-form"}).text()
        )


class TestChanging:
    async def test_rotating_asks_first_then_shows_the_new_secret(self, portal: FormPage) -> None:
        panel = await portal.fragment(PAGE, new_endpoint())
        (old,) = secrets_shown(panel)
        row = panel.find("tr", {"class": "webhook-endpoint"})
        rotate = next(f for f in row.find_all("form") if f.attrs["action"].endswith("/rotate"))
        assert "24 hours" in rotate.attrs["hx-confirm"]

        asked = await portal.post_plain(rotate.attrs["action"], {})
        assert asked.status_code == 200
        question = parse(asked)
        assert "keeps signing alongside it for 24 hours" in " ".join(alerts(question))
        assert question.find("input", {"name": "confirmed"}).attrs["value"] == "true"

        done = await portal.post_plain(rotate.attrs["action"], {"confirmed": "true"})
        assert done.status_code == 200
        (new,) = secrets_shown(parse(done))
        assert new != old
        assert "previous secret keeps signing" in " ".join(alerts(parse(done)))
        row = endpoint_rows(parse(done))[0]
        assert row[2].startswith(f"whsec_…{new[-4:]} the previous one also signs until")

    async def test_switching_off_and_on(self, portal: FormPage, webhooks: Webhooks) -> None:
        endpoint = await webhooks.register(HTTPS)
        switch = f"{PAGE}/{endpoint['id']}/active"

        off = await portal.post_plain(switch, {"active": "false"})
        assert redirect_target(off) == PAGE
        assert endpoint_rows(await portal.open())[0][3] == "Off"
        panel = await portal.fragment(switch, {"active": "true"})
        assert f"{HTTPS} is switched on." in panel.text()
        assert endpoint_rows(panel)[0][3] == "On"

    async def test_deleting_asks_first(self, portal: FormPage, webhooks: Webhooks) -> None:
        endpoint = await webhooks.register(HTTPS)
        delete = f"{PAGE}/{endpoint['id']}/delete"

        asked = await portal.post_plain(delete, {})
        assert "Its pending deliveries will not be sent" in " ".join(alerts(parse(asked)))
        assert "No endpoints yet" not in (await portal.open()).text()
        assert redirect_target(await portal.post_plain(delete, {"confirmed": "true"})) == PAGE
        assert "No endpoints yet" in (await portal.open()).text()
        assert (await portal.post_plain(delete, {"confirmed": "true"})).status_code == 404


class TestDeliveryLog:
    async def test_rows_newest_first_with_how_each_went_and_load_more(
        self,
        portal: FormPage,
        webhooks: Webhooks,
        receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(pages, "DELIVERIES_SHOWN", 2)
        endpoint = await webhooks.register(receiver.url, ["message.created"])
        follower = await webhooks.follower()
        for text in ("one", "two", "three"):
            await follower.write(text)
        receiver.failures = 1
        await webhooks.deliver()

        page = await portal.open(f"{PAGE}/{endpoint['id']}")

        log = page.find("table", {"class": "webhook-log"})
        headings = [th.text() for th in log.find_all("th")][:8]
        assert headings == LOG_COLUMNS
        three, two = log_rows(log)
        assert three[1:6] == ["message.created", "pending", "0", "", WAITING]
        assert two[1:4] == ["message.created", "pending", "0"]
        more = page.find("tr", {"id": "webhook-log-more"}).find("a")
        response = await portal.client.get(more.attrs["hx-get"], headers={"HX-Request": "true"})
        assert response.status_code == 200
        (one,) = log_rows(parse(response))
        assert one[1:5] == ["message.created", "pending", "1", "500"]
        assert one[5] == "HTTP 500: Internal trouble: the receiver failed on purpose"
        assert parse(response).find_all("tr", {"id": "webhook-log-more"}) == []

    async def test_another_partner_s_endpoint_is_404_and_agents_get_403(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        webhooks: Webhooks,
        world: World,
    ) -> None:
        endpoint = await webhooks.register(HTTPS)
        await signed_in(client, factory, settings, world.b.admin)
        assert (await client.get(f"{PAGE}/{endpoint['id']}")).status_code == 404
        await signed_in(client, factory, settings, world.staff_with(Role.AGENT))
        assert (await client.get(PAGE)).status_code == 403
