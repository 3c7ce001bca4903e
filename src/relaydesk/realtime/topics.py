"""Names of the topics events are published to; one place so publishers and sockets agree."""

import uuid


def partner(partner_id: uuid.UUID) -> str:
    """Every agent of a partner: the inbox."""
    return f"partner:{partner_id}"


def end_user(end_user_id: uuid.UUID) -> str:
    """One end user's own conversations."""
    return f"end_user:{end_user_id}"


def channel(channel_id: uuid.UUID) -> str:
    """Followers of a channel with a socket open: chat switched on or off."""
    return f"channel:{channel_id}"


def staff(staff_id: uuid.UUID) -> str:
    """One staff member's own consoles: their read marks."""
    return f"staff:{staff_id}"
