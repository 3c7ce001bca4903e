// One conversation's messages, shown once each and in seq order: the latest page first, older
// pages when scrolled to the top, and newer ones by `after_seq` whenever some may be missing.

import { el, timeElement, watchSentinel } from "./chat-dom.js";
import { attachmentList, directUrl } from "./chat-files.js";

const PAGE_SIZE = 50;
const NEAR_END_PX = 60;

export class MessageList {
  /**
   * @param {object} options
   * @param {HTMLElement} options.scrollBox the scrolling element, holding `sentinel` then `list`
   * @param {(params: object) => Promise<{items: object[], next_cursor: ?string}>} options.fetchPage
   * @param {"agent"|"end_user"} options.ownSide whose messages are drawn as the reader's own
   * @param {(error: Error) => void} options.onError
   * @param {(url: string) => string|Promise<string>} [options.fileUrl] where attachments load from
   */
  constructor({ scrollBox, sentinel, list, fetchPage, ownSide, onError, fileUrl = directUrl }) {
    Object.assign(this, { scrollBox, list, fetchPage, ownSide, onError, fileUrl });
    this.nodes = new Map();
    this.lastSeq = 0;
    this.olderCursor = null;
    this.loaded = false;
    this.closed = false;
    // Live messages that arrive while the first page is on its way.
    this.early = [];
    list.replaceChildren();
    this.history = watchSentinel(sentinel, scrollBox, () => this.loadOlder());
  }

  close() {
    this.closed = true;
    this.history.stop();
  }

  async loadLatest() {
    const page = await this.fetchPage({ limit: PAGE_SIZE });
    if (this.closed) return;
    this.olderCursor = page.next_cursor;
    this.insert(page.items);
    this.loaded = true;
    this.scrollToEnd();
    const early = this.early.splice(0);
    for (const message of early) this.add(message);
    this.history.recheck();
  }

  /** A message from the socket or a send: shown in place, or fetched with any it skipped. */
  add(message, { scroll = false } = {}) {
    if (this.closed) return;
    if (!this.loaded) {
      this.early.push(message);
      return;
    }
    if (message.seq > this.lastSeq + 1) {
      this.catchUp();
      return;
    }
    const follow = scroll || this.nearEnd();
    this.insert([message]);
    if (follow) this.scrollToEnd();
  }

  /** Fetches every message after the newest shown, page by page (after a reconnect or a gap). */
  async catchUp() {
    if (!this.loaded || this.closed) return;
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = true;
    try {
      do {
        this.catchUpAgain = false;
        let cursor = null;
        do {
          const follow = this.nearEnd();
          const page = await this.fetchPage(
            cursor ? { cursor, limit: PAGE_SIZE } : { after_seq: this.lastSeq, limit: PAGE_SIZE },
          );
          if (this.closed) return;
          this.insert(page.items);
          if (follow) this.scrollToEnd();
          cursor = page.next_cursor;
        } while (cursor);
      } while (this.catchUpAgain);
    } catch (error) {
      this.onError(error);
    } finally {
      this.catchingUp = false;
    }
  }

  async loadOlder() {
    if (!this.loaded || !this.olderCursor || this.loadingOlder || this.closed) return;
    this.loadingOlder = true;
    try {
      const page = await this.fetchPage({ cursor: this.olderCursor, limit: PAGE_SIZE });
      if (this.closed) return;
      // Keep the messages in view where they are while older ones go in above them.
      const fromBottom = this.scrollBox.scrollHeight - this.scrollBox.scrollTop;
      this.insert(page.items);
      this.scrollBox.scrollTop = this.scrollBox.scrollHeight - fromBottom;
      this.olderCursor = page.next_cursor;
    } catch (error) {
      this.onError(error);
      return;
    } finally {
      this.loadingOlder = false;
    }
    this.history.recheck();
  }

  insert(messages) {
    for (const message of messages) {
      if (this.nodes.has(message.id)) continue;
      const node = this.render(message);
      node.dataset.seq = String(message.seq);
      this.nodes.set(message.id, node);
      const later =
        message.seq > this.lastSeq
          ? null
          : [...this.list.children].find((child) => Number(child.dataset.seq) > message.seq);
      this.list.insertBefore(node, later ?? null);
      this.lastSeq = Math.max(this.lastSeq, message.seq);
    }
  }

  render(message) {
    if (message.kind === "activity") {
      return el("li", { className: "activity" }, [
        el("span", { text: message.body }),
        " · ",
        timeElement(message.created_at),
      ]);
    }
    const side = message.sender.type === this.ownSide ? "own" : "theirs";
    const node = el("li", { className: `message ${side}` }, [
      el("span", { className: "meta" }, [
        el("span", { className: "sender", text: message.sender.name }),
        " ",
        timeElement(message.created_at),
      ]),
    ]);
    if (message.attachments?.length) node.append(attachmentList(message.attachments, this.fileUrl));
    if (message.body) node.append(el("span", { className: "body", text: message.body }));
    return node;
  }

  nearEnd() {
    const box = this.scrollBox;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_END_PX;
  }

  scrollToEnd() {
    this.scrollBox.scrollTop = this.scrollBox.scrollHeight;
  }
}
