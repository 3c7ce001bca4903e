"""Structured JSON logs on stderr."""

import logging
import re
import sys

import structlog


def configure_logging(level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    redact_access_log()


_SET_PASSWORD_TOKEN = re.compile(r"(/set-password/)[^/?\s\"]+")


class RedactPasswordLinks(logging.Filter):
    """Set-password links are credentials: the access log keeps their path, not the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SET_PASSWORD_TOKEN.sub(r"\1…", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactPasswordLinks) for f in access.filters):
        access.addFilter(RedactPasswordLinks())
