"""End users of recently verified tokens, remembered by each process for a short while.

An app sends the same end-user token with every request. Checking its signature and reading
its end user each time was the largest part of a chat message's cost, so a token that named an
existing, unchanged end user is trusted again without either until it expires or for a minute,
whichever comes first. A token whose claims changed the end user (or created it) is not
remembered: the change might still roll back.
"""

from datetime import datetime, timedelta

from relaydesk.auth.principal import EndUserPrincipal
from relaydesk.clock import now

TRUSTED_FOR = timedelta(minutes=1)
CAPACITY = 20_000


class VerifiedTokens:
    def __init__(self, trusted_for: timedelta = TRUSTED_FOR, capacity: int = CAPACITY) -> None:
        self._trusted_for = trusted_for
        self._capacity = capacity
        self._entries: dict[str, tuple[datetime, EndUserPrincipal]] = {}

    def get(self, token: str) -> EndUserPrincipal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        until, end_user = entry
        if until <= now():
            del self._entries[token]
            return None
        return end_user

    def remember(self, token: str, end_user: EndUserPrincipal, expires_at: datetime) -> None:
        if len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[token] = (min(expires_at, now() + self._trusted_for), end_user)
