// The console's open chat: header with status and owner, the messages, the composer (taking or
// taking over the chat as the API asks) and "Finish conversation". What the agent sees of it
// counts as read (HD-19).

import { CannedPicker } from "./canned-picker.js";
import { MessageIds, describeError, staffHeaders } from "./chat-api.js";
import { el, sendOnEnter, show } from "./chat-dom.js";
import { AttachmentTray } from "./chat-files.js";
import { MessageList } from "./chat-thread.js";
import { STATUS_LABEL } from "./desk-inbox.js";
import { EngagementPicker } from "./engagement-picker.js";

const $ = (id) => document.getElementById(id);
// Messages that come in a burst are marked read with one request.
const READ_PAUSE_MS = 300;

export class ThreadPane {
  /** `onChange(conversation)` hears of changes this pane learnt from the API itself,
   * `onRead(conversationId)` that the agent has read the open chat. */
  constructor({ api, agentId, channelName, onChange, onRead }) {
    Object.assign(this, { api, agentId, channelName, onChange, onRead });
    this.id = null;
    this.conversation = null;
    this.messages = null;
    this.signedOut = false;
    this.messageIds = new MessageIds();
    this.ui = {
      empty: $("thread-empty"),
      head: $("thread-head"),
      title: $("thread-title"),
      status: $("thread-status"),
      finish: $("finish"),
      messagesBox: $("messages"),
      error: $("thread-error"),
      composer: $("composer"),
      note: $("composer-note"),
      text: $("composer-text"),
      send: $("send"),
      transcriptPage: $("transcript-page"),
      transcriptDownload: $("transcript-download"),
    };
    this.ui.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    sendOnEnter(this.ui.text, this.ui.composer);
    this.canned = new CannedPicker({ api, textarea: this.ui.text, conversationId: () => this.id });
    this.engagements = new EngagementPicker({
      api,
      textarea: this.ui.text,
      conversationId: () => this.id,
      onSent: (message) => this.showSent(message),
    });
    this.ui.finish.addEventListener("click", () => this.finish());
    // Messages that came while the console was in a background tab are read on coming back.
    document.addEventListener("visibilitychange", () => this.markRead());
    this.files = new AttachmentTray({
      button: $("attach"),
      input: $("attach-input"),
      tray: $("upload-tray"),
      headersFor: staffHeaders(),
    });
  }

  async open(conversationId) {
    this.messages?.close();
    this.id = conversationId;
    this.conversation = null;
    const { ui } = this;
    ui.title.textContent = "";
    ui.status.replaceChildren();
    ui.text.value = "";
    this.files.clear();
    this.showError("");
    for (const part of [ui.head, ui.messagesBox, ui.composer]) show(part, true);
    show(ui.empty, false);
    this.messages = new MessageList({
      scrollBox: ui.messagesBox,
      sentinel: $("history-sentinel"),
      list: $("message-list"),
      fetchPage: (params) =>
        this.api.get(`/api/v1/conversations/${conversationId}/messages`, params),
      ownSide: "agent",
      onError: (error) => this.showError(describeError(error)),
    });
    try {
      const [conversation] = await Promise.all([
        this.api.get(`/api/v1/conversations/${conversationId}`),
        this.messages.loadLatest(),
      ]);
      this.update(conversation);
      this.markRead();
    } catch (error) {
      if (this.id === conversationId) this.showError(describeError(error));
    }
    if (this.id === conversationId && !ui.text.disabled) ui.text.focus();
  }

  /** The open chat's header and composer, from the newest state of it seen. */
  update(conversation) {
    if (conversation.id !== this.id) return;
    const seen = this.conversation;
    if (seen && Date.parse(conversation.last_message_at) < Date.parse(seen.last_message_at)) return;
    this.conversation = conversation;
    this.linkTranscript(conversation.id);
    const { ui } = this;
    ui.title.textContent = conversation.end_user.name;
    const parts = [
      el("span", { text: this.channelName(conversation.channel_id) }),
      el("span", {
        className: `badge status-${conversation.status}`,
        text: STATUS_LABEL[conversation.status],
      }),
    ];
    if (conversation.status === "active" && conversation.owner) {
      parts.push(el("span", { className: "owner", text: conversation.owner.name }));
    }
    if (conversation.status === "finished" && conversation.finished_by) {
      parts.push(el("span", { text: `Finished by ${conversation.finished_by.name}` }));
    }
    ui.status.replaceChildren(...parts);
    const finished = conversation.status === "finished";
    show(ui.finish, !finished && !this.signedOut);
    show(ui.note, finished);
    ui.text.disabled = ui.send.disabled = finished || this.signedOut;
    this.files.setDisabled(finished || this.signedOut);
  }

  /** The header's transcript links, pointed at the open chat. */
  linkTranscript(conversationId) {
    const path = `/api/v1/conversations/${conversationId}/transcript`;
    this.ui.transcriptPage.href = `${path}.html`;
    this.ui.transcriptDownload.href = `${path}.txt`;
  }

  /** A message.created event. */
  receive(message, conversation) {
    if (conversation.id !== this.id) return;
    this.messages.add(message);
    this.update(conversation);
    if (message.sender.type === "end_user") this.markRead();
  }

  /** Whether the agent sees the open chat now: its messages are read as they come. */
  inView() {
    return Boolean(this.id) && document.visibilityState === "visible";
  }

  /** Marks the open chat read up to its newest message, once the agent can see it. */
  markRead() {
    clearTimeout(this.readPause);
    this.readPause = setTimeout(async () => {
      const id = this.id;
      if (!this.inView() || !this.conversation) return;
      try {
        await this.api.post(`/api/v1/conversations/${id}/read`);
        this.onRead(id);
      } catch {
        // Still unread; the next message or the next look marks it again.
      }
    }, READ_PAUSE_MS);
  }

  /** After a reconnect: the messages and state missed while the socket was down. */
  catchUp() {
    if (!this.id) return;
    this.messages.catchUp();
    this.refresh();
  }

  async refresh() {
    const id = this.id;
    try {
      const conversation = await this.api.get(`/api/v1/conversations/${id}`);
      this.update(conversation);
      this.onChange(conversation);
    } catch (error) {
      if (this.id === id) this.showError(describeError(error));
    }
  }

  async submit() {
    const { ui } = this;
    if (!this.id) return;
    if (this.files.uploading()) {
      this.showError("Wait for the files to finish uploading, then send.");
      return;
    }
    const body = ui.text.value.trim();
    const attachmentIds = this.files.ids();
    if (!body && !attachmentIds.length) return;
    const id = this.id;
    ui.text.value = "";
    const sent = await this.send(id, body, attachmentIds);
    if (this.id !== id) return;
    if (sent) this.files.clear();
    else if (!ui.text.value) ui.text.value = body;
  }

  async send(id, body, attachmentIds) {
    const path = `/api/v1/conversations/${id}/messages`;
    const content = [body, ...attachmentIds].join("\n");
    const clientMessageId = this.messageIds.idFor(path, content);
    const message = { client_message_id: clientMessageId, body, take_over: false };
    if (attachmentIds.length) message.attachment_ids = attachmentIds;
    this.showError("");
    try {
      for (;;) {
        try {
          const created = await this.api.send(path, message);
          if (this.id === id) this.messages.add(created, { scroll: true });
          break;
        } catch (error) {
          if (error.code !== "conversation_taken" || message.take_over) throw error;
          const owner = error.problem.owner?.name ?? "another agent";
          if (!window.confirm(`This chat is handled by ${owner}. Take it over?`)) return false;
          message.take_over = true;
        }
      }
    } catch (error) {
      this.messageIds.failed(path, content, message.client_message_id, error);
      if (error.code === "conversation_finished") this.refresh();
      else if (this.id === id) this.showError(describeError(error));
      return false;
    }
    this.tookChat(id);
    return true;
  }

  /** A message sent from elsewhere in the composer (an engagement card). */
  showSent(message) {
    if (message.conversation_id !== this.id) return;
    this.messages.add(message, { scroll: true });
    this.tookChat(this.id);
  }

  tookChat(id) {
    const { status, owner } = this.conversation ?? {};
    const mine = status === "active" && owner?.id === this.agentId;
    // Taking the chat changed its status and owner; without the socket nobody else says so.
    if (!mine && this.id === id) this.refresh();
  }

  async finish() {
    const id = this.id;
    this.showError("");
    try {
      const conversation = await this.api.post(`/api/v1/conversations/${id}/finish`);
      this.update(conversation);
      this.onChange(conversation);
    } catch (error) {
      if (error.code === "conversation_finished") this.refresh();
      else this.showError(describeError(error));
    }
  }

  signOut() {
    this.signedOut = true;
    const { ui } = this;
    ui.text.disabled = ui.send.disabled = true;
    this.files.setDisabled(true);
    show(ui.finish, false);
  }

  showError(text) {
    this.ui.error.textContent = text;
    show(this.ui.error, Boolean(text));
  }
}
