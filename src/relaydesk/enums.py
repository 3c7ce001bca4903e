"""Small helper for enum columns stored as portable strings."""

from enum import StrEnum

import sqlalchemy as sa


def string_enum(enum: type[StrEnum]) -> sa.Enum:
    """A VARCHAR holding the enum's values (no native enum type, same on every backend)."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=max(len(member.value) for member in enum),
        values_callable=lambda members: [member.value for member in members],
    )
