"""The one clock.

Code asks `now()` for the time and never calls `datetime.now()` itself, so tests can freeze
and move time for sessions, token expiry, analytics windows and schedules alike.
"""

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC that tests may freeze and advance."""

    def __init__(self) -> None:
        self._frozen_at: datetime | None = None

    def now(self) -> datetime:
        return self._frozen_at or datetime.now(UTC)

    def freeze(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a frozen time must be timezone-aware")
        self._frozen_at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        if self._frozen_at is None:
            raise RuntimeError("advance() needs a frozen clock")
        self._frozen_at += delta

    def unfreeze(self) -> None:
        self._frozen_at = None


clock = Clock()


def now() -> datetime:
    return clock.now()
