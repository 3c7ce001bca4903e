// The collision guard at the console (HD-18): the colleagues who have the open chat in front of
// them, shown by their initials, and "Ana is replying…" while one of them types.

import { el, show } from "./chat-dom.js";
import { TypingNotice, typingSender } from "./chat-typing.js";

// The server forgets a console it has not heard from in 45 seconds; this says "still here".
const STILL_VIEWING_EVERY_MS = 20_000;

const initials = (name) =>
  name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");

export class CollisionGuard {
  /** `socket()` is the live connection, `conversationId()` the open chat's id or null. */
  constructor({ socket, agentId, conversationId }) {
    Object.assign(this, { socket, agentId, conversationId });
    this.viewersNode = document.getElementById("thread-viewers");
    // A colleague "is replying", the end user "is typing".
    this.typing = new TypingNotice(document.getElementById("thread-typing"), (senders) =>
      senders
        .map((s) => `${s.name} ${s.type === "agent" ? "is replying…" : "is typing…"}`)
        .join(" "),
    );
    // Each chat's viewers as last announced, until that announcement expires.
    this.viewers = new Map();
    const keystroke = typingSender(socket, conversationId);
    document.getElementById("composer-text").addEventListener("input", keystroke);
    setInterval(() => this.sayViewing(), STILL_VIEWING_EVERY_MS);
  }

  /** The console opened a chat (or, after reconnecting, shows it still). */
  opened() {
    this.typing.clear();
    this.sayViewing();
    this.render();
  }

  sayViewing() {
    this.socket()?.send({ type: "viewing", conversation_id: this.conversationId() });
  }

  presence({ conversation_id, viewers, expires_in }) {
    clearTimeout(this.viewers.get(conversation_id)?.timer);
    const timer = setTimeout(() => {
      this.viewers.delete(conversation_id);
      this.render();
    }, expires_in * 1000);
    this.viewers.set(conversation_id, { viewers, timer });
    if (conversation_id === this.conversationId()) this.render();
  }

  typed(data) {
    if (data.conversation_id === this.conversationId() && data.sender.id !== this.agentId) {
      this.typing.show(data);
    }
  }

  /** A message is in: its sender has stopped typing. */
  received(message) {
    this.typing.stopped(message.sender.id);
  }

  render() {
    const shown = this.viewers.get(this.conversationId())?.viewers ?? [];
    const others = shown.filter((viewer) => viewer.id !== this.agentId);
    const avatars = others.map((viewer) =>
      el("span", {
        className: "avatar",
        text: initials(viewer.name),
        attrs: { title: viewer.name, "aria-hidden": "true" },
      }),
    );
    const names = others.map((viewer) => viewer.name).join(", ");
    this.viewersNode.replaceChildren(
      ...avatars,
      el("span", { className: "viewers-names", text: `Also viewing: ${names}` }),
    );
    show(this.viewersNode, others.length > 0);
  }
}
