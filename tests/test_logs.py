"""The access log never holds a set-password link's token."""

import logging

from relaydesk.logs import RedactPasswordLinks, configure_logging


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def test_the_token_of_a_set_password_link_is_left_out() -> None:
    record = access_record("/set-password/Zm9vYmFy-secret?next=1")
    assert RedactPasswordLinks().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /set-password/…?next=1 HTTP/1.1" 200'
    other = access_record("/tenant/partners?q=set-password")
    RedactPasswordLinks().filter(other)
    assert "/tenant/partners?q=set-password" in other.getMessage()


def test_the_app_installs_the_filter_once() -> None:
    configure_logging()
    configure_logging()
    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, RedactPasswordLinks) for f in filters) == 1
