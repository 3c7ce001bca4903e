"""Handing a message over: to the server of `RELAYDESK_SMTP_URL`, or to the log without one."""

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
import structlog

from relaydesk.config import Settings

log = structlog.get_logger(__name__)

# For connecting and for each reply: a server that hangs must not hold up the worker.
SMTP_TIMEOUT_SECONDS = 30.0


def build_message(
    settings: Settings, *, key: str, to: str, subject: str, body: str, date: datetime
) -> EmailMessage:
    """A plain-text message whose Message-ID comes from `key`, so that a message sent twice
    (a worker lost between sending and recording it) shows as the same one."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "relaydesk.invalid"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{key}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


async def send_message(message: EmailMessage, settings: Settings) -> None:
    """Sends through SMTP (STARTTLS when the server offers it, TLS from the start for
    `smtps://`); raises if the server cannot be reached or refuses the message."""
    if settings.smtp_url is None:
        log.info(
            "email_logged_not_sent",
            to=message["To"],
            subject=message["Subject"],
            message_id=message["Message-ID"],
            body=message.get_content(),
        )
        return
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ValueError("RELAYDESK_SMTP_URL must look like smtp://user:pass@host:port")
    implicit_tls = url.scheme == "smtps"
    await aiosmtplib.send(
        message,
        hostname=url.hostname,
        port=url.port,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=implicit_tls,
        start_tls=False if implicit_tls else None,
        timeout=SMTP_TIMEOUT_SECONDS,
    )
