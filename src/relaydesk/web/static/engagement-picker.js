// Engagements in the console's composer (HD-12): a button beside the canned responses opening
// the engagements available to the open chat's end user, all types or one. A chosen one is
// sent, after asking, as a card into the thread, taking the chat as a reply does.

import { MessageIds, describeError } from "./chat-api.js";
import { el, show, wireComposerPanel } from "./chat-dom.js";
import { ENGAGEMENT_TYPES } from "./chat-thread.js";

const $ = (id) => document.getElementById(id);

export class EngagementPicker {
  /** `conversationId()` names the open chat; `onSent(message)` shows a sent card. */
  constructor({ api, textarea, conversationId, onSent }) {
    Object.assign(this, { api, conversationId, onSent });
    this.toggle = $("engagement-toggle");
    this.panel = $("engagement-picker-panel");
    this.type = $("engagement-type");
    this.results = $("engagement-picker-results");
    this.problem = $("engagement-problem");
    this.messageIds = new MessageIds();
    this.available = [];
    // Bumped by every load, so that answers to older ones are dropped.
    this.loads = 0;

    this.type.addEventListener("change", () => this.load());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      this.closePanel();
      this.toggle.focus();
    });
    this.results.addEventListener("click", (event) => {
      const choice = event.target.closest("[data-engagement-id]");
      if (choice) this.pick(choice.dataset.engagementId);
    });
    wireComposerPanel({
      toggle: this.toggle,
      panel: this.panel,
      textarea,
      open: () => this.openPanel(),
      close: () => this.closePanel(),
      onDisabled: () => this.closePanel(),
    });
  }

  openPanel() {
    show(this.panel, true);
    this.toggle.setAttribute("aria-expanded", "true");
    this.type.value = "";
    this.showProblem("");
    this.type.focus();
    this.load();
  }

  closePanel() {
    this.loads += 1;
    show(this.panel, false);
    this.toggle.setAttribute("aria-expanded", "false");
  }

  async load() {
    const conversationId = this.conversationId();
    if (!conversationId) return;
    const load = (this.loads += 1);
    this.results.replaceChildren(el("p", { className: "muted", text: "Loading…" }));
    let answer;
    try {
      answer = await this.api.get(`/api/v1/conversations/${conversationId}/available-engagements`, {
        type: this.type.value,
      });
    } catch (error) {
      if (load === this.loads) {
        this.results.replaceChildren(el("p", { className: "alert", text: describeError(error) }));
      }
      return;
    }
    if (load !== this.loads) return;
    this.available = answer.items;
    this.draw();
  }

  draw() {
    if (!this.available.length) {
      const none = "Nothing to send to this end user right now.";
      this.results.replaceChildren(el("p", { className: "muted", text: none }));
      return;
    }
    const choices = this.available.map((engagement) => {
      const parts = [
        el("span", { className: "engagement-choice-type", text: typeLabel(engagement.type) }),
        el("span", { className: "engagement-choice-title", text: engagement.title }),
      ];
      if (engagement.description) {
        const text = engagement.description;
        parts.push(el("span", { className: "engagement-choice-text", text }));
      }
      const attrs = {
        type: "button",
        "data-engagement-id": engagement.id,
        "aria-label": `${typeLabel(engagement.type)}: ${engagement.title}`,
      };
      return el("li", {}, [el("button", { className: "engagement-choice", attrs }, parts)]);
    });
    this.results.replaceChildren(
      el("ul", { attrs: { "aria-label": "Available engagements" } }, choices),
    );
  }

  async pick(engagementId) {
    const engagement = this.available.find((candidate) => candidate.id === engagementId);
    const conversationId = this.conversationId();
    if (!engagement || !conversationId) return;
    const name = typeLabel(engagement.type).toLocaleLowerCase();
    if (!window.confirm(`Are you sure you want to send this ${name}?`)) return;
    this.showProblem("");
    const sent = await this.send(conversationId, engagement);
    if (sent === "sent" && this.conversationId() === conversationId) this.closePanel();
    else if (sent === "not_available" && !this.panel.hidden) this.load();
  }

  /** POSTs the card, asking before taking a colleague's chat over; says how it went. */
  async send(conversationId, engagement) {
    const path = `/api/v1/conversations/${conversationId}/engagements`;
    const body = {
      client_message_id: this.messageIds.idFor(path, engagement.id),
      engagement_id: engagement.id,
      take_over: false,
    };
    try {
      for (;;) {
        try {
          this.onSent(await this.api.send(path, body));
          return "sent";
        } catch (error) {
          if (error.code !== "conversation_taken" || body.take_over) throw error;
          const owner = error.problem.owner?.name ?? "another agent";
          if (!window.confirm(`This chat is handled by ${owner}. Take it over?`)) return "kept";
          body.take_over = true;
        }
      }
    } catch (error) {
      this.messageIds.failed(path, engagement.id, body.client_message_id, error);
      if (this.conversationId() === conversationId) this.showProblem(describeError(error));
      return error.code === "engagement_not_available" ? "not_available" : "failed";
    }
  }

  showProblem(text) {
    this.problem.textContent = text;
    show(this.problem, Boolean(text));
  }
}

const typeLabel = (type) => ENGAGEMENT_TYPES[type] ?? type;
