"""The collision guard (HD-18): agents see which colleagues have a chat open and who is typing
in it; the end user sees an agent typing. Nothing of it is stored in the database.

Each socket has one `SocketPresence`. What its client says (`viewing`, `typing`) is checked
against the chats the signed-in person may read, throttled, kept in the ephemeral store
(`realtime.presence`) and published on the bus:

- `presence` `{conversation_id, viewers: [{id, name}], expires_in}` to the partner's agents
  whenever a chat's viewers change, and again as each viewer refreshes;
- `typing` `{conversation_id, sender: {type, id, name}, expires_in}` to the partner's agents and
  the chat's end user.
"""

import time
import uuid
from dataclasses import dataclass

from relaydesk.auth.principal import EndUserPrincipal, Principal
from relaydesk.chat.models import Conversation
from relaydesk.chat.service import readable_conversations
from relaydesk.db import Database
from relaydesk.realtime import topics
from relaydesk.realtime.bus import Bus
from relaydesk.realtime.events import encode_frame
from relaydesk.realtime.presence import (
    REFRESH_SECONDS,
    TTL_SECONDS,
    TYPING_SECONDS,
    PresenceStore,
    Viewer,
)

# Chats a socket has asked about, remembered so its frames need no query each; bounded.
_KNOWN_CHATS = 200
# What one socket may say a second, on average and in a burst: a console sends a few frames a
# minute, so a client flooding its colleagues (or the database, with chat ids) is cut short.
_FRAMES_PER_SECOND = 4.0
_FRAMES_IN_A_BURST = 10.0


@dataclass(frozen=True, slots=True)
class _Chat:
    id: uuid.UUID
    partner_id: uuid.UUID
    end_user_id: uuid.UUID


class SocketPresence:
    """What one socket's client is looking at and typing in."""

    def __init__(
        self, principal: Principal, database: Database, bus: Bus, store: PresenceStore
    ) -> None:
        self.principal, self.database, self.bus, self.store = principal, database, bus, store
        self.socket_id = uuid.uuid4().hex
        self.viewing: uuid.UUID | None = None
        self._refreshed_at = 0.0
        self._chats: dict[uuid.UUID, _Chat | None] = {}
        self._allowance, self._counted_at = _FRAMES_IN_A_BURST, time.monotonic()

    def _within_rate(self) -> bool:
        """A token bucket: frames beyond the socket's rate are dropped."""
        moment = time.monotonic()
        self._allowance = min(
            _FRAMES_IN_A_BURST,
            self._allowance + (moment - self._counted_at) * _FRAMES_PER_SECOND,
        )
        self._counted_at = moment
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    async def _chat(self, conversation_id: uuid.UUID) -> _Chat | None:
        """The chat if the socket's person may read it; None (and nothing sent) otherwise."""
        if conversation_id not in self._chats:
            if len(self._chats) >= _KNOWN_CHATS:
                self._chats.clear()
            statement = readable_conversations(self.principal).where(
                Conversation.id == conversation_id
            )
            async with self.database.transaction() as session:
                row = (
                    await session.execute(
                        statement.with_only_columns(
                            Conversation.id, Conversation.partner_id, Conversation.end_user_id
                        )
                    )
                ).one_or_none()
            self._chats[conversation_id] = _Chat(*row) if row else None
        return self._chats[conversation_id]

    async def view(self, conversation_id: uuid.UUID | None) -> None:
        """The agent's console shows this chat now (None: no chat); repeated to stay listed."""
        if isinstance(self.principal, EndUserPrincipal) or not self._within_rate():
            return
        if self.viewing is not None and self.viewing != conversation_id:
            await self.leave()
        chat = await self._chat(conversation_id) if conversation_id else None
        if chat is None:
            return
        moment = time.monotonic()
        if self.viewing == chat.id and moment - self._refreshed_at < REFRESH_SECONDS / 2:
            return
        self.viewing, self._refreshed_at = chat.id, moment
        viewer = Viewer(self.socket_id, self.principal.id, self.principal.name)
        await self._announce_viewers(chat, await self.store.view(chat.id, viewer))

    async def leave(self) -> None:
        """The console closed the chat or went away."""
        if self.viewing is None:
            return
        chat = await self._chat(self.viewing)
        self.viewing = None
        if chat is not None:
            await self._announce_viewers(chat, await self.store.leave(chat.id, self.socket_id))

    async def typing(self, conversation_id: uuid.UUID) -> None:
        """A keystroke in the chat's composer; sent on at most once a second per sender."""
        if not self._within_rate():
            return
        chat = await self._chat(conversation_id)
        if chat is None or not await self.store.allow(f"typing:{chat.id}:{self.principal.id}"):
            return
        side = "end_user" if isinstance(self.principal, EndUserPrincipal) else "agent"
        sender = {"type": side, "id": str(self.principal.id), "name": self.principal.name}
        data = {"conversation_id": str(chat.id), "sender": sender, "expires_in": TYPING_SECONDS}
        audience = (topics.partner(chat.partner_id), topics.end_user(chat.end_user_id))
        await self.bus.publish(audience, encode_frame("typing", data))

    async def _announce_viewers(self, chat: _Chat, viewers: list[Viewer]) -> None:
        data = {
            "conversation_id": str(chat.id),
            "viewers": [{"id": str(v.id), "name": v.name} for v in viewers],
            "expires_in": TTL_SECONDS,
        }
        await self.bus.publish((topics.partner(chat.partner_id),), encode_frame("presence", data))
