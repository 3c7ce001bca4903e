"""Random credentials, their stored digests, and CSRF tokens."""

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "rdk_"


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the database keeps instead of the token: a leaked table signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(signing_key: bytes, session_token: str) -> str:
    """Bound to the browser session, so a token from one session is useless in another."""
    return hmac.new(signing_key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_token_matches(signing_key: bytes, session_token: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(signing_key, session_token), presented)
