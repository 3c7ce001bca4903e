"""The mail outbox: e-mails queued with a change and delivered by the worker's job through a
real SMTP server, retried with backoff while it is down, each sent once however many workers."""

import asyncio
from datetime import timedelta

import pytest
from jinja2 import TemplateNotFound, UndefinedError
from sqlalchemy import select
from structlog.testing import CapturingLogger

from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.notify import mailer, service
from relaydesk.notify.models import Email, EmailState
from relaydesk.notify.service import queue_email, send_due_emails
from tests.factories import Factory
from tests.mail import MailServer
from tests.notify.conftest import REJECTION, all_emails, queue, stored

WELCOME = {
    "tenant_name": "Skyline Mobile",
    "partner_name": "Acme Coffee",
    "contact_name": "Ada Lovelace",
    "package_name": "Gold",
    "set_password_path": "/set-password/s3cret-token",
    "expires_hours": 72,
}


@pytest.fixture
def frozen() -> None:
    clock.freeze(now())


async def fail_attempts(mail: MailServer, email: Email, count: int) -> None:
    """`count` attempts while the server is down, each once the previous backoff has passed."""
    for _ in range(count):
        clock.advance(timedelta(hours=1))
        assert await mail.deliver() == 0
    assert (await stored(mail.database, email.id)).attempts >= count


class TestDelivery:
    async def test_a_queued_email_reaches_the_smtp_server(
        self, mail: MailServer, factory: Factory
    ) -> None:
        email = await queue(mail.database, await factory.tenant())

        assert await mail.deliver() == 1

        (message,) = mail.messages
        assert message["To"] == "owner@acme.example"
        assert message["From"] == "relaydesk@localhost"
        assert message["Subject"] == 'Not approved: your add-on request "Extra channels"'
        assert message["Message-ID"] == f"<{email.id}@localhost>"
        body = mail.body(message)
        assert body.startswith("Hello Acme Coffee,\n")
        assert "The add-on is not available on your package." in body
        assert "http://testserver/partner/requests" in body
        sent = await stored(mail.database, email.id)
        assert (sent.state, sent.attempts, sent.claimed_until) == (EmailState.SENT, 1, None)
        assert sent.sent_at is not None

    async def test_the_rejection_reason_appears_verbatim(
        self, mail: MailServer, factory: Factory
    ) -> None:
        reason = "Two things:\n  1. the logo is blurry;\n  2. <b>prices</b> & terms are missing."
        await queue(mail.database, await factory.tenant(), reason=reason)
        await mail.deliver()
        assert reason in mail.body(mail.last_to("owner@acme.example"))

    async def test_links_start_with_the_base_url_and_the_context_is_emptied_once_sent(
        self, mail: MailServer, factory: Factory
    ) -> None:
        email = await queue(
            mail.database, await factory.tenant(), "ada@acme.example", "partner_welcome", **WELCOME
        )
        assert (await stored(mail.database, email.id)).context == WELCOME

        await mail.deliver()

        body = mail.body(mail.last_to("ada@acme.example"))
        assert "\nhttp://testserver/set-password/s3cret-token\n" in body
        assert "72 hours" in body
        assert (await stored(mail.database, email.id)).context == {}

    async def test_nothing_is_sent_when_the_change_that_queued_it_rolls_back(
        self, mail: MailServer, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        with pytest.raises(RuntimeError):
            async with mail.database.transaction() as session:
                await queue_email(
                    session, tenant_id=tenant.id, to="a@acme.example", template="request_rejected",
                    context=REJECTION,
                )  # fmt: skip
                raise RuntimeError("the change failed")

        assert await mail.deliver() == 0
        assert mail.messages == []
        assert await all_emails(mail.database) == []

    async def test_a_second_run_sends_nothing_more(
        self, mail: MailServer, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        for address in ("a@acme.example", "b@acme.example"):
            await queue(mail.database, tenant, address)
        assert await mail.deliver() == 2
        assert await mail.deliver() == 0
        assert sorted(m["To"] for m in mail.messages) == ["a@acme.example", "b@acme.example"]


class TestWithoutSmtpServer:
    async def test_the_mail_is_written_to_the_log_and_counted_as_sent(
        self,
        database: Database,
        settings: Settings,
        factory: Factory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert settings.smtp_url is None
        email = await queue(database, await factory.tenant(), "ada@acme.example")
        log = CapturingLogger()
        monkeypatch.setattr(mailer, "log", log)

        assert await send_due_emails(database, settings) == 1

        (call,) = log.calls
        assert (call.method_name, call.args) == ("info", ("email_logged_not_sent",))
        logged = call.kwargs
        assert logged["to"] == "ada@acme.example"
        assert logged["subject"] == email.subject
        assert "The add-on is not available on your package." in logged["body"]
        sent = await stored(database, email.id)
        assert (sent.state, sent.context) == (EmailState.SENT, {})


@pytest.mark.usefixtures("frozen")
class TestSmtpServerDown:
    async def test_the_email_stays_pending_with_the_error_and_a_retry_time(
        self, mail: MailServer, factory: Factory
    ) -> None:
        mail.stop()
        email = await queue(mail.database, await factory.tenant())

        assert await mail.deliver() == 0

        pending = await stored(mail.database, email.id)
        assert (pending.state, pending.attempts, pending.claimed_until) == (
            EmailState.PENDING,
            1,
            None,
        )
        assert pending.last_error
        assert pending.next_attempt_at == now() + timedelta(seconds=30)

    async def test_not_tried_again_before_the_backoff_then_delivered_exactly_once(
        self, mail: MailServer, factory: Factory
    ) -> None:
        mail.stop()
        email = await queue(mail.database, await factory.tenant())
        await mail.deliver()
        mail.start()

        clock.advance(timedelta(seconds=29))
        assert await mail.deliver() == 0
        assert mail.messages == []

        clock.advance(timedelta(seconds=1))
        assert await mail.deliver() == 1
        assert await mail.deliver() == 0
        (message,) = mail.messages
        assert message["Message-ID"] == f"<{email.id}@localhost>"
        sent = await stored(mail.database, email.id)
        assert (sent.state, sent.attempts) == (EmailState.SENT, 2)

    async def test_the_wait_doubles_each_time_up_to_an_hour(
        self, mail: MailServer, factory: Factory
    ) -> None:
        mail.stop()
        email = await queue(mail.database, await factory.tenant())
        waits = []
        for _ in range(9):
            assert await mail.deliver() == 0
            due = (await stored(mail.database, email.id)).next_attempt_at
            waits.append(int((due - now()).total_seconds()))
            clock.advance(due - now())
        assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]

    async def test_given_up_as_failed_after_the_last_attempt(
        self, mail: MailServer, factory: Factory
    ) -> None:
        mail.stop()
        email = await queue(mail.database, await factory.tenant())
        await fail_attempts(mail, email, service.MAX_ATTEMPTS - 1)
        assert (await stored(mail.database, email.id)).state == EmailState.PENDING

        await fail_attempts(mail, email, 1)

        failed = await stored(mail.database, email.id)
        assert (failed.state, failed.attempts) == (EmailState.FAILED, service.MAX_ATTEMPTS)
        assert failed.last_error
        mail.start()
        clock.advance(timedelta(days=1))
        assert await mail.deliver() == 0
        assert mail.messages == []


@pytest.mark.usefixtures("frozen")
class TestClaims:
    async def test_a_worker_lost_while_sending_leaves_the_email_due_after_the_lease(
        self, mail: MailServer, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        email = await queue(mail.database, await factory.tenant())

        async def lost(*_: object) -> None:
            raise asyncio.CancelledError  # the worker's process stops mid-send

        with monkeypatch.context() as patch:
            patch.setattr(service, "send_message", lost)
            with pytest.raises(asyncio.CancelledError):
                await mail.deliver()
        claimed = await stored(mail.database, email.id)
        assert (claimed.state, claimed.attempts) == (EmailState.PENDING, 1)
        assert claimed.claimed_until == now() + service.LEASE

        clock.advance(service.LEASE - timedelta(seconds=1))
        assert await mail.deliver() == 0
        clock.advance(timedelta(seconds=1))
        assert await mail.deliver() == 1
        assert len(mail.messages) == 1
        assert (await stored(mail.database, email.id)).attempts == 2

    async def test_a_worker_whose_lease_ran_out_mid_send_changes_nothing(
        self, mail: MailServer, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The slow worker's send fails after another worker re-claimed and sent the e-mail:
        the row stays sent and nothing goes out twice."""
        email = await queue(mail.database, await factory.tenant())
        handed_over = asyncio.Event()

        async def slow_then_refused(*_: object) -> None:
            clock.advance(service.LEASE)  # the lease runs out while this send hangs
            handed_over.set()
            await asyncio.sleep(0.2)
            raise ConnectionError("server went away")

        with monkeypatch.context() as patch:
            patch.setattr(service, "send_message", slow_then_refused)
            slow = asyncio.create_task(mail.deliver())
            await handed_over.wait()
        assert await mail.deliver() == 1
        assert await slow == 0
        settled = await stored(mail.database, email.id)
        assert (settled.state, settled.attempts, settled.last_error) == (EmailState.SENT, 2, None)
        assert len(mail.messages) == 1

    async def test_a_batch_stops_before_its_lease_is_too_short_to_send_in(
        self, mail: MailServer, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tenant = await factory.tenant()
        for number in range(3):
            await queue(mail.database, tenant, f"owner-{number}@acme.example")
        real_send = service.send_message

        async def slow(*args: object) -> None:
            # The first send leaves less than the budget of the lease for the next.
            clock.advance(service.LEASE - service.SEND_BUDGET + timedelta(seconds=1))
            await real_send(*args)  # type: ignore[arg-type]

        with monkeypatch.context() as patch:
            patch.setattr(service, "send_message", slow)
            assert await mail.deliver() == 1
        assert await mail.deliver() == 0  # the other two are still claimed
        clock.advance(service.SEND_BUDGET)
        assert await mail.deliver() == 2
        assert len(mail.messages) == 3

    async def test_workers_running_at_once_send_each_email_once(
        self, mail: MailServer, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        for number in range(6):
            await queue(mail.database, tenant, f"owner-{number}@acme.example")

        counts = await asyncio.gather(*(mail.deliver() for _ in range(3)))

        assert sum(counts) == 6
        assert sorted(m["To"] for m in mail.messages) == [
            f"owner-{number}@acme.example" for number in range(6)
        ]
        assert {email.state for email in await all_emails(mail.database)} == {EmailState.SENT}

    @pytest.mark.only_backend("postgresql")
    async def test_an_email_being_claimed_elsewhere_is_skipped_not_waited_for(
        self, mail: MailServer, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        busy = await queue(mail.database, tenant, "busy@acme.example")
        await queue(mail.database, tenant, "free@acme.example")

        async with mail.database.transaction() as other_worker:
            locked = select(Email).where(Email.id == busy.id).with_for_update()
            await other_worker.execute(locked)
            async with asyncio.timeout(5):
                assert await mail.deliver() == 1
        assert [m["To"] for m in mail.messages] == ["free@acme.example"]

        assert await mail.deliver() == 1
        assert [m["To"] for m in mail.messages] == ["free@acme.example", "busy@acme.example"]


class TestHeaderInjection:
    async def test_line_breaks_in_values_cannot_add_headers(
        self, mail: MailServer, factory: Factory
    ) -> None:
        email = await queue(
            mail.database,
            await factory.tenant(),
            title="Gold\r\nBcc: eve@evil.example\r\nX-Injected: yes",
        )
        assert "\n" not in email.subject and "\r" not in email.subject

        assert await mail.deliver() == 1

        (message,) = mail.messages
        assert message["Bcc"] is None and message["X-Injected"] is None
        assert message["Subject"] == (
            'Not approved: your add-on request "Gold Bcc: eve@evil.example X-Injected: yes"'
        )

    @pytest.mark.parametrize(
        "address", ["owner@acme.example\r\nBcc: eve@evil.example", "owner acme.example", ""]
    )
    async def test_an_address_that_is_not_one_is_refused(
        self, database: Database, factory: Factory, address: str
    ) -> None:
        with pytest.raises(ValueError, match="not an e-mail address"):
            await queue(database, await factory.tenant(), address)
        assert await all_emails(database) == []


class TestQueueing:
    async def test_an_unknown_template_fails_the_change(
        self, database: Database, factory: Factory
    ) -> None:
        with pytest.raises(TemplateNotFound):
            await queue(database, await factory.tenant(), template="no_such_mail")

    async def test_a_missing_value_fails_the_change(
        self, database: Database, factory: Factory
    ) -> None:
        context = {k: v for k, v in WELCOME.items() if k != "set_password_path"}
        with pytest.raises(UndefinedError):
            await queue(database, await factory.tenant(), template="partner_welcome", **context)
        assert await all_emails(database) == []

    async def test_only_plain_values_may_be_stored(
        self, database: Database, factory: Factory
    ) -> None:
        with pytest.raises(TypeError):
            await queue(database, await factory.tenant(), title=["a", "list"])

    @pytest.mark.parametrize(
        ("template", "context"),
        [
            (
                "request_approved",
                {k: v for k, v in REJECTION.items() if k != "reason"},
            ),
            ("request_rejected", REJECTION),
            ("registration_rejected", REJECTION | {"tenant_slug": "skyline"}),
            (
                "registration_account_exists",
                {k: WELCOME[k] for k in ("tenant_name", "partner_name", "contact_name")},
            ),
            ("partner_welcome", WELCOME),
            (
                "registration_received",
                {k: WELCOME[k] for k in ("tenant_name", "partner_name", "contact_name")}
                | {"package_name": "Gold"},
            ),
            (
                "staff_invitation",
                {
                    "organisation_name": "Acme Coffee",
                    "name": "Grace",
                    "inviter_name": "Ada",
                    "set_password_path": "/set-password/t0ken",
                    "expires_hours": 48,
                },
            ),
            (
                "password_reset",
                {"name": "Grace", "set_password_path": "/set-password/t0ken", "expires_hours": 2},
            ),
        ],
    )
    async def test_every_template_renders_a_one_line_subject_and_its_links(
        self, mail: MailServer, factory: Factory, template: str, context: dict
    ) -> None:
        await queue(mail.database, await factory.tenant(), "y@acme.example", template, **context)
        assert await mail.deliver() == 1
        message = mail.last_to("y@acme.example")
        body = mail.body(message)
        assert message["Subject"] and "\n" not in message["Subject"]
        assert "{{" not in body and "{%" not in body
        if "set_password_path" in context:
            assert f"http://testserver{context['set_password_path']}" in body
