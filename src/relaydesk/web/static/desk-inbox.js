// The console's left column: filter tabs with live counts (all chats, and those with messages
// the agent has not read), channel filter, search, and the list of chats (newest activity first,
// endless scroll, unread ones marked) kept current by the socket's events.

import { describeError } from "./chat-api.js";
import { el, show, snippetNodes, timeElement, watchSentinel } from "./chat-dom.js";
import { messageSummary } from "./chat-files.js";

const PAGE_SIZE = 30;
const SEARCH_PAUSE_MS = 250;
const COUNTS_PAUSE_MS = 150;
const EXPORT_PATH = "/api/v1/conversations/export.csv";
export const STATUS_LABEL = { unanswered: "Unanswered", active: "Active", finished: "Finished" };

const activityTime = (conversation) => Date.parse(conversation.last_message_at);

function newerThan(a, b) {
  const difference = activityTime(a) - activityTime(b);
  return difference > 0 || (difference === 0 && a.id > b.id);
}

export class Inbox {
  constructor({ api, agentId, onOpen }) {
    Object.assign(this, { api, agentId, onOpen });
    this.tabs = [...document.querySelectorAll('[role="tab"][data-filter]')];
    this.countNodes = [...document.querySelectorAll("[data-count]")];
    this.unreadNodes = [...document.querySelectorAll("[data-unread]")];
    this.title = document.title;
    this.channelSelect = document.getElementById("channel-filter");
    this.channelNames = new Map(
      [...this.channelSelect.options].filter((o) => o.value).map((o) => [o.value, o.text]),
    );
    this.searchBox = document.getElementById("inbox-search");
    this.list = document.getElementById("conversations");
    this.note = document.getElementById("inbox-note");

    const selected = this.tabs.find((tab) => tab.getAttribute("aria-selected") === "true");
    this.filter = selected.dataset.filter;
    this.q = "";
    this.items = [];
    this.nextCursor = null;
    this.version = 0;
    this.selectedId = null;
    // Set while the first page of a reload is on its way.
    this.meanwhile = null;
    // Each chat's list item, drawn again only when the chat changed.
    this.drawn = new Map();
    // Each chat's status and owner as last seen in an event: counts move only when these do.
    this.states = new Map();
    // Each chat's unread messages as last learnt: socket frames go to every agent, so they
    // carry none; the console adds the end user's new messages to what the API said.
    this.unread = new Map();

    for (const tab of this.tabs) {
      tab.addEventListener("click", () => {
        this.filter = tab.dataset.filter;
        this.searchBox.value = this.q = "";
        this.reload();
      });
    }
    this.channelSelect.addEventListener("change", () => this.reload());
    let pause;
    this.searchBox.addEventListener("input", () => {
      clearTimeout(pause);
      pause = setTimeout(() => {
        this.q = this.searchBox.value.trim();
        this.reload();
      }, SEARCH_PAUSE_MS);
    });
    this.list.addEventListener("click", (event) => {
      const item = event.target.closest("button[data-id]");
      if (item) this.onOpen(item.dataset.id);
    });
    // Registered after the tabs' own listeners, so the export sees the filter just picked.
    this.exportLink = document.getElementById("export-finished");
    for (const tab of this.tabs) tab.addEventListener("click", () => this.showExport());
    this.channelSelect.addEventListener("change", () => this.showExport());
    this.searchBox.addEventListener("input", () => this.showExport());
    this.showExport();
    this.more = watchSentinel(
      document.getElementById("inbox-sentinel"),
      document.getElementById("inbox-scroll"),
      () => this.loadMore(),
    );
  }

  channelName(channelId) {
    return this.channelNames.get(channelId) ?? "Channel";
  }

  /** The Finished tab's CSV export, of the channel and search text shown. */
  showExport() {
    const params = new URLSearchParams();
    const channelId = this.channelSelect.value;
    const q = this.searchBox.value.trim();
    if (channelId) params.set("channel_id", channelId);
    if (q) params.set("q", q);
    const query = params.toString();
    this.exportLink.href = query ? `${EXPORT_PATH}?${query}` : EXPORT_PATH;
    show(this.exportLink, this.filter === "finished");
  }

  query() {
    // A search looks through every chat; the tabs apply again once it is cleared.
    return {
      filter: this.q ? "all" : this.filter,
      channel_id: this.channelSelect.value,
      q: this.q,
      limit: PAGE_SIZE,
    };
  }

  /** The first page afresh, and the counts: on filter changes and after (re)connecting. */
  async reload() {
    const version = ++this.version;
    for (const tab of this.tabs) {
      tab.setAttribute("aria-selected", String(!this.q && tab.dataset.filter === this.filter));
    }
    this.refreshCounts();
    // Events that come while the page is on its way may be newer than the page itself.
    this.meanwhile = [];
    try {
      const page = await this.api.get("/api/v1/conversations", this.query());
      if (version !== this.version) return;
      this.learnUnread(page.items);
      this.items = page.items;
      this.nextCursor = page.next_cursor;
      for (const conversation of this.meanwhile) this.merge(conversation);
      this.meanwhile = null;
      this.render();
    } catch (error) {
      if (version !== this.version) return;
      this.meanwhile = null;
      this.showNote(describeError(error), true);
      return;
    }
    this.more.recheck();
  }

  async loadMore() {
    if (!this.nextCursor || this.loadingMore) return;
    const version = this.version;
    this.loadingMore = true;
    try {
      const page = await this.api.get("/api/v1/conversations", {
        ...this.query(),
        cursor: this.nextCursor,
      });
      if (version !== this.version) return;
      this.learnUnread(page.items);
      const shown = new Set(this.items.map((conversation) => conversation.id));
      this.items.push(...page.items.filter((conversation) => !shown.has(conversation.id)));
      this.nextCursor = page.next_cursor;
      this.render();
    } catch (error) {
      this.showNote(describeError(error), true);
      return;
    } finally {
      this.loadingMore = false;
    }
    this.more.recheck();
  }

  /** The tabs' counts and the page title's; a short pause sends one request for a burst. */
  refreshCounts() {
    clearTimeout(this.countsPause);
    this.countsPause = setTimeout(async () => {
      const channelId = this.channelSelect.value;
      try {
        const counts = await this.api.get("/api/v1/conversations/counts", {
          channel_id: channelId,
        });
        if (channelId !== this.channelSelect.value) return;
        for (const node of this.countNodes) node.textContent = String(counts[node.dataset.count]);
        for (const node of this.unreadNodes) {
          const unread = counts.unread[node.dataset.unread];
          node.textContent = String(unread);
          node.setAttribute("aria-label", `${unread} with unread messages`);
          show(node, unread > 0);
        }
        // Chats waiting show in the browser's tab while the agent works in another.
        document.title = counts.unanswered ? `(${counts.unanswered}) ${this.title}` : this.title;
      } catch {
        // The next event or reconnect asks again; the list itself shows request failures.
      }
    }, COUNTS_PAUSE_MS);
  }

  /** A chat as an event or an answer has it now: moved, added or dropped from the list;
   * `unreadAdded` counts the end user's messages in it the agent has not seen. */
  upsert(conversation, { unreadAdded = 0 } = {}) {
    const state = `${conversation.status} ${conversation.owner?.id ?? ""}`;
    if (this.states.get(conversation.id) !== state || unreadAdded) this.refreshCounts();
    this.states.set(conversation.id, state);
    const counted = this.unread.has(conversation.id);
    const unread =
      conversation.unread_count ?? (this.unread.get(conversation.id) ?? 0) + unreadAdded;
    this.unread.set(conversation.id, unread);
    // A chat not loaded yet (new to this list, or back from the owner timer) may hold older
    // unread messages: the server counts them.
    if (conversation.unread_count == null && !counted) this.fetchUnread(conversation.id);
    const known = { ...conversation, unread_count: unread };
    this.meanwhile?.push(known);
    this.merge(known);
    this.render();
  }

  learnUnread(conversations) {
    for (const { id, unread_count } of conversations) this.unread.set(id, unread_count);
  }

  /** The agent has read a chat: here, or in another console up to `lastReadSeq`. */
  markedRead(conversationId, lastReadSeq = null) {
    this.refreshCounts();
    const newest = this.items.find((shown) => shown.id === conversationId)?.last_message;
    // A message newer than what was read there came in meanwhile: the server counts.
    if (lastReadSeq !== null && newest && newest.seq > lastReadSeq) {
      this.fetchUnread(conversationId);
    } else {
      this.setUnread(conversationId, 0);
    }
  }

  async fetchUnread(conversationId) {
    try {
      const { unread_count } = await this.api.get(`/api/v1/conversations/${conversationId}`);
      this.setUnread(conversationId, unread_count);
    } catch {
      // Counted from the next message on; a reload asks again.
    }
  }

  setUnread(conversationId, count) {
    this.unread.set(conversationId, count);
    this.items = this.items.map((shown) =>
      shown.id === conversationId && shown.unread_count !== count
        ? { ...shown, unread_count: count }
        : shown,
    );
    this.render();
  }

  merge(conversation) {
    const index = this.items.findIndex((shown) => shown.id === conversation.id);
    const current = this.items[index];
    if (current && activityTime(conversation) < activityTime(current)) return;
    if (current) this.items.splice(index, 1);
    if (this.belongs(conversation, current)) {
      this.place({ ...conversation, snippet: conversation.snippet ?? current?.snippet ?? null });
    }
  }

  belongs(conversation, current) {
    const channelId = this.channelSelect.value;
    if (channelId && conversation.channel_id !== channelId) return false;
    // An event cannot say whether a chat matches the search, so results are only kept.
    if (this.q) return Boolean(current);
    if (this.filter === "mine") {
      return conversation.status === "active" && conversation.owner?.id === this.agentId;
    }
    return conversation.status === this.filter;
  }

  place(conversation) {
    const position = this.items.findIndex((shown) => newerThan(conversation, shown));
    if (position >= 0) this.items.splice(position, 0, conversation);
    // Older than every loaded chat: it comes with a later page, if any.
    else if (!this.nextCursor) this.items.push(conversation);
  }

  select(conversationId) {
    this.selectedId = conversationId;
    for (const { node } of this.drawn.values()) {
      const button = node.firstElementChild;
      button.setAttribute("aria-current", String(button.dataset.id === conversationId));
    }
  }

  render() {
    const nodes = this.items.map((conversation) => this.itemFor(conversation));
    this.list.replaceChildren(...nodes);
    const shown = new Set(this.items.map((conversation) => conversation.id));
    for (const id of this.drawn.keys()) if (!shown.has(id)) this.drawn.delete(id);
    this.select(this.selectedId);
    if (this.items.length) this.showNote(this.q ? `Results for “${this.q}” in all chats` : "");
    else this.showNote(this.q ? `No chats match “${this.q}”.` : "No chats here.");
  }

  showNote(text, isError = false) {
    this.note.textContent = text;
    this.note.classList.toggle("alert", isError);
    show(this.note, Boolean(text));
  }

  itemFor(conversation) {
    const drawn = this.drawn.get(conversation.id);
    if (drawn?.conversation === conversation) return drawn.node;
    const node = this.draw(conversation);
    this.drawn.set(conversation.id, { conversation, node });
    return node;
  }

  draw(conversation) {
    const status = [
      el("span", {
        className: `badge status-${conversation.status}`,
        text: STATUS_LABEL[conversation.status],
      }),
    ];
    if (conversation.status === "active" && conversation.owner) {
      status.push(el("span", { className: "owner", text: conversation.owner.name }));
    }
    if (conversation.status === "finished" && conversation.finished_by) {
      status.push(
        el("span", { className: "muted", text: `Finished by ${conversation.finished_by.name}` }),
      );
    }
    const preview = conversation.snippet
      ? el("span", { className: "preview snippet" }, snippetNodes(conversation.snippet))
      : el("span", {
          className: "preview",
          text: conversation.last_message ? messageSummary(conversation.last_message) : "",
        });
    const attrs = { type: "button", "data-id": conversation.id };
    const unread = conversation.unread_count ?? 0;
    const unreadBadge = unread
      ? [
          el("span", {
            className: "unread-badge",
            text: String(unread),
            attrs: { "aria-label": `${unread} unread` },
          }),
        ]
      : [];
    return el("li", {}, [
      el("button", { className: unread ? "conversation unread" : "conversation", attrs }, [
        el("span", { className: "line" }, [
          el("strong", { className: "name", text: conversation.end_user.name }),
          ...unreadBadge,
          timeElement(conversation.last_message_at),
        ]),
        el("span", { className: "line" }, [
          el("span", { className: "channel", text: this.channelName(conversation.channel_id) }),
          ...status,
        ]),
        preview,
      ]),
    ]);
  }
}
