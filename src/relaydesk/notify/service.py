"""The mail outbox: e-mails are queued with the change that causes them and sent by the worker.

Queueing writes a row in the caller's transaction, so a change that rolls back sends nothing.
The worker claims due rows for a lease, sends them outside any transaction, and records each
outcome; a worker that dies after claiming leaves its rows due again once the lease ends.
"""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import StaffPrincipal
from relaydesk.clock import now
from relaydesk.config import Settings
from relaydesk.db import Database, uuid7
from relaydesk.notify.mailer import build_message, send_message
from relaydesk.notify.models import Email, EmailState
from relaydesk.notify.rendering import render_mail
from relaydesk.pagination import PageParams, paginate

log = structlog.get_logger(__name__)
T = TypeVar("T", bound=tuple[Any, ...])

# A claimed batch is sent within its lease: a message starts only while the lease has
# `SEND_BUDGET` left, and may take no longer, so no other worker can claim it meanwhile.
LEASE = timedelta(minutes=5)
SEND_BUDGET = timedelta(minutes=1)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
# With the backoff above, about six hours of trying before an e-mail is given up on.
MAX_ATTEMPTS = 12
ADDRESS_MAX_LENGTH = 254


def _check_context(context: dict[str, Any]) -> None:
    for key, value in context.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str | int)):
            raise TypeError(f"e-mail context values are str, int or None, not {key}={value!r}")


def _check_address(to: str) -> None:
    if not 3 <= len(to) <= ADDRESS_MAX_LENGTH or "@" not in to or any(c.isspace() for c in to):
        raise ValueError(f"not an e-mail address: {to!r}")


async def queue_email(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    to: str,
    template: str,
    context: dict[str, Any],
) -> Email:
    """Adds a pending e-mail to the caller's transaction: it goes out only if that commits.

    The whole mail is rendered now, so a missing template or value fails the change that
    asked for it instead of every later attempt to send it.
    """
    _check_address(to)
    _check_context(context)
    rendered = render_mail(template, context, base_url="")
    at = now()
    email = Email(
        id=uuid7(),
        tenant_id=tenant_id,
        to_address=to,
        subject=rendered.subject,
        template=template,
        context=dict(context),
        state=EmailState.PENDING,
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )
    session.add(email)
    return email


def skip_claimed(statement: Select[T], dialect: str) -> Select[T]:
    """PostgreSQL: rows another worker is claiming right now are passed over, not waited for.
    SQLite needs nothing: its one writer at a time (BEGIN IMMEDIATE) keeps claims apart."""
    if dialect == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


async def _claim_due(database: Database, limit: int) -> Sequence[Email]:
    """Due e-mails, each taken for `LEASE` and counted as one more attempt."""
    async with database.transaction() as session:
        at = now()
        statement = (
            select(Email)
            .where(
                Email.state == EmailState.PENDING,
                Email.next_attempt_at <= at,
                or_(Email.claimed_until.is_(None), Email.claimed_until <= at),
            )
            .order_by(Email.next_attempt_at, Email.id)
            .limit(limit)
        )
        assert session.bind is not None
        emails = (await session.scalars(skip_claimed(statement, session.bind.dialect.name))).all()
        for email in emails:
            email.claimed_until = at + LEASE
            email.attempts += 1
    return emails


def retry_delay(attempts: int) -> timedelta:
    """The wait before the next attempt: 30 s after the first, doubling up to an hour."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


def _still_claimed(email: Email) -> sa.ColumnElement[bool]:
    """The row as this worker claimed it: a worker whose lease ran out changes nothing."""
    return (
        (Email.id == email.id)
        & (Email.claimed_until == email.claimed_until)
        & (Email.state == EmailState.PENDING)
    )


async def _mark_sent(database: Database, email: Email) -> None:
    """Sent, and its context gone: set-password links must not stay in the database."""
    async with database.transaction() as session:
        await session.execute(
            update(Email)
            .where(_still_claimed(email))
            .values(state=EmailState.SENT, sent_at=now(), claimed_until=None, context={})
        )


async def _mark_failed_attempt(database: Database, email: Email, error: Exception) -> None:
    """Due again after the backoff, or failed for good (its context gone) after
    `MAX_ATTEMPTS`."""
    at = now()
    given_up = email.attempts >= MAX_ATTEMPTS
    log.warning(
        "email_not_sent", email_id=str(email.id), attempts=email.attempts, given_up=given_up
    )
    outcome: dict[str, Any] = (
        {"state": EmailState.FAILED, "next_attempt_at": at, "context": {}}
        if given_up
        else {"next_attempt_at": at + retry_delay(email.attempts)}
    )
    async with database.transaction() as session:
        await session.execute(
            update(Email)
            .where(_still_claimed(email))
            .values(
                claimed_until=None,
                last_error=f"{type(error).__name__}: {error}"[:1000],
                **outcome,
            )
        )


async def _send(settings: Settings, email: Email) -> None:
    rendered = render_mail(email.template, email.context, base_url=settings.base_url)
    message = build_message(
        settings,
        key=str(email.id),
        to=email.to_address,
        subject=email.subject,
        body=rendered.body,
        date=now(),
    )
    await send_message(message, settings)


async def send_due_emails(database: Database, settings: Settings, *, limit: int = 50) -> int:
    """The worker's job: sends up to `limit` due e-mails; returns how many went out."""
    sent = 0
    for email in await _claim_due(database, limit):
        assert email.claimed_until is not None
        if now() + SEND_BUDGET > email.claimed_until:
            break  # the rest become due again when the lease ends
        try:
            async with asyncio.timeout(SEND_BUDGET.total_seconds()):
                await _send(settings, email)
        except Exception as error:
            await _mark_failed_attempt(database, email, error)
            continue
        await _mark_sent(database, email)
        sent += 1
    return sent


def readable_emails(staff: StaffPrincipal) -> Select[tuple[Email]]:
    """The mail of the staff member's tenant: the one place the mail log is scoped."""
    return select(Email).where(Email.tenant_id == staff.tenant_id)


async def list_emails(
    session: AsyncSession,
    staff: StaffPrincipal,
    page: PageParams,
    *,
    state: EmailState | None = None,
) -> tuple[list[Email], str | None]:
    """The mail log, newest first."""
    statement = readable_emails(staff)
    if state is not None:
        statement = statement.where(Email.state == state)
    rows, next_cursor = await paginate(session, statement, Email.id, page, newest_first=True)
    return [row[0] for row in rows], next_cursor
