"""Settings from `RELAYDESK_*` environment variables (see README for the table)."""

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAYDESK_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/relaydesk.db"
    redis_url: str | None = None
    redis_key_prefix: str = "relaydesk:"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = Field(default="", repr=False)
    data_dir: Path = Path("./var")
    run_worker: bool = True
    worker_poll_seconds: float = 30.0

    # Mail (PM-9): without an SMTP server, e-mails are written to the log instead of sent.
    smtp_url: str | None = Field(default=None, repr=False)
    mail_from: str = "relaydesk@localhost"

    session_ttl_hours: int = 24 * 14
    api_token_ttl_days: int = 90
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 100
    login_failure_window_seconds: int = 15 * 60
    max_request_bytes: int = 1024 * 1024

    # Attachments (HD-11): the largest file of each kind, and where the bytes are kept: the
    # data folder, or an S3-compatible bucket when `s3_bucket` is set.
    max_image_bytes: int = 10 * 1024 * 1024
    max_video_bytes: int = 50 * 1024 * 1024
    max_document_bytes: int = 10 * 1024 * 1024
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = Field(default=None, repr=False)

    # Webhooks (SU-5) go to https:// addresses; with this on, also to plain http:// on this
    # machine (localhost, 127.0.0.0/8, ::1), for development.
    allow_http_loopback_webhooks: bool = False

    @cached_property
    def signing_key(self) -> bytes:
        """The secret that signs CSRF tokens; generated into the data folder on first use."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")
