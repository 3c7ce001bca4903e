"""A real SMTP server for tests: aiosmtpd on a free local port, keeping every message it gets."""

import email
import socket
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.notify.service import send_due_emails


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Keeper:
    """The aiosmtpd handler: parses each message and keeps it."""

    def __init__(self, messages: list[EmailMessage]) -> None:
        self.messages = messages

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Line ends as Python writes them, not as SMTP carries them.
        raw = envelope.content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


class MailServer:
    """The SMTP server, and the worker's mail job run against it on demand.

    `settings` is the test's settings with `smtp_url` pointing here; `deliver()` runs the
    job once (moving the clock is the test's business); `stop()` and `start()` take the
    server down and bring it back on the same port.
    """

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.port = _free_port()
        self.settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{self.port}"})
        self.messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        # A stopped controller has closed its event loop, so each start needs a new one.
        controller = Controller(_Keeper(self.messages), hostname="127.0.0.1", port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def deliver(self) -> int:
        """Runs `send_due_emails` once against this server; how many e-mails went out."""
        return await send_due_emails(self.database, self.settings)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received for `address`, oldest first."""
        return [message for message in self.messages if message["To"] == address]

    def last_to(self, address: str) -> EmailMessage:
        """The newest message received for `address`; fails the test if there is none."""
        received = self.to(address)
        assert received, f"no e-mail for {address}; got {[m['To'] for m in self.messages]}"
        return received[-1]

    @staticmethod
    def body(message: EmailMessage) -> str:
        """The plain-text body of a received message."""
        return message.get_content()
