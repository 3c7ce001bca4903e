// Typing indicators (HD-18), for the console and the end user's app alike: keystrokes tell the
// others at most once a second, and a `typing` frame shows a line until it expires or the
// typist's message arrives.

import { show } from "./chat-dom.js";

const TYPING_EVERY_MS = 1000;

/** A function to call on each keystroke in a chat's composer; `conversationId()` says which. */
export function typingSender(socket, conversationId) {
  let lastSent = 0;
  return () => {
    const id = conversationId();
    if (!id || Date.now() - lastSent < TYPING_EVERY_MS) return;
    lastSent = Date.now();
    socket()?.send({ type: "typing", conversation_id: id });
  };
}

/** The "… is typing" line of one open chat; `describe(senders)` words it. */
export class TypingNotice {
  constructor(node, describe) {
    Object.assign(this, { node, describe });
    // Typists by id: who they are, and the timer that drops them once their frame expires.
    this.typists = new Map();
  }

  show({ sender, expires_in }) {
    clearTimeout(this.typists.get(sender.id)?.timer);
    const timer = setTimeout(() => this.stopped(sender.id), expires_in * 1000);
    this.typists.set(sender.id, { sender, timer });
    this.render();
  }

  /** The typist sent their message, or left. */
  stopped(senderId) {
    clearTimeout(this.typists.get(senderId)?.timer);
    if (this.typists.delete(senderId)) this.render();
  }

  clear() {
    for (const { timer } of this.typists.values()) clearTimeout(timer);
    this.typists.clear();
    this.render();
  }

  render() {
    const senders = [...this.typists.values()].map((typist) => typist.sender);
    this.node.textContent = senders.length ? this.describe(senders) : "";
    show(this.node, senders.length > 0);
  }
}
