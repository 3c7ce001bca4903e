// Canned responses in the console's composer (HD-14): a button opening a searchable panel of
// the categories and their responses, and "/" plus a few letters offering matching responses
// to pick with the keyboard. A picked response comes from the API with its placeholders filled
// for the open chat and goes in at the caret; it is never sent by itself.

import { describeError } from "./chat-api.js";
import { el, show, wireComposerPanel } from "./chat-dom.js";

const $ = (id) => document.getElementById(id);

// A "/" at the start or after whitespace, then a letter and more letters, digits, "-" or "_",
// right before the caret.
const SLASH_QUERY = /(?:^|\s)\/(\p{L}[\p{L}\p{N}_-]*)$/u;
const SUGGESTIONS_SHOWN = 8;
const LOOKUP_PAUSE_MS = 120;
const KEY_MOVES = { ArrowDown: 1, ArrowUp: -1 };

const contains = (text, query) => (text ?? "").toLocaleLowerCase().includes(query);

export class CannedPicker {
  /** `conversationId()` names the open chat, whose names fill the placeholders. */
  constructor({ api, textarea, conversationId }) {
    Object.assign(this, { api, textarea, conversationId });
    this.toggle = $("canned-toggle");
    this.panel = $("canned-picker-panel");
    this.search = $("canned-picker-search");
    this.results = $("canned-picker-results");
    this.list = $("canned-suggestions");
    this.problem = $("canned-problem");
    // The panel's categories, each with its responses.
    this.library = [];
    this.suggestions = [];
    this.active = -1;
    // The "/query" the suggestions are for: where it starts and ends in the text.
    this.slash = null;
    // Escape closed the suggestions for the "/query" starting here; typing on keeps them shut.
    this.dismissedAt = null;
    // Bumped by every new lookup, so that answers to older ones are dropped.
    this.lookups = 0;

    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", this.list.id);
    textarea.setAttribute("aria-expanded", "false");
    textarea.addEventListener("input", () => this.lookUpSoon());
    textarea.addEventListener("click", () => this.lookUpSoon());
    textarea.addEventListener("blur", () => this.closeSuggestions());
    // Listening on the form while the event travels down runs before the textarea's own
    // keydown listeners, where Enter sends the message.
    textarea.form.addEventListener("keydown", (event) => this.onComposerKey(event), true);
    // Pressing an option must not take the focus (and with it the caret) from the textarea.
    this.list.addEventListener("mousedown", (event) => event.preventDefault());
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[data-index]");
      if (option) this.pickSuggestion(Number(option.dataset.index));
    });

    this.search.addEventListener("input", () => this.drawPanel());
    this.panel.addEventListener("keydown", (event) => this.onPanelKey(event));
    this.results.addEventListener("click", (event) => {
      const choice = event.target.closest("[data-response-id]");
      if (choice) this.pickFromPanel(choice.dataset.responseId);
    });
    wireComposerPanel({
      toggle: this.toggle,
      panel: this.panel,
      textarea,
      open: () => this.openPanel(),
      close: () => this.closePanel(),
      onDisabled: () => {
        this.closeSuggestions();
        this.closePanel();
      },
    });
  }

  // --- Typing "/" ---------------------------------------------------------------------------

  slashBeforeCaret() {
    const { value, selectionStart, selectionEnd } = this.textarea;
    if (selectionStart !== selectionEnd) return null;
    const match = SLASH_QUERY.exec(value.slice(0, selectionStart));
    if (!match) return null;
    const query = match[1];
    return { start: selectionStart - query.length - 1, end: selectionStart, query };
  }

  lookUpSoon() {
    clearTimeout(this.pause);
    this.lookups += 1;
    const slash = this.slashBeforeCaret();
    if (!slash || slash.start === this.dismissedAt) {
      if (!slash) this.dismissedAt = null;
      this.hideSuggestions();
      return;
    }
    this.pause = setTimeout(() => this.lookUp(slash, this.lookups), LOOKUP_PAUSE_MS);
  }

  async lookUp(slash, lookup) {
    let page;
    try {
      page = await this.api.get("/api/v1/canned/responses", { q: slash.query, limit: 50 });
    } catch (error) {
      if (lookup === this.lookups) this.showProblem(describeError(error));
      return;
    }
    if (lookup !== this.lookups) return;
    const query = slash.query.toLocaleLowerCase();
    // The API matches the text too; "/" offers what the title or shortcut names.
    this.suggestions = page.items
      .filter((response) => contains(response.title, query) || contains(response.shortcode, query))
      .slice(0, SUGGESTIONS_SHOWN);
    this.slash = slash;
    this.drawSuggestions();
  }

  drawSuggestions() {
    if (!this.suggestions.length) {
      this.hideSuggestions();
      return;
    }
    const options = this.suggestions.map((response, index) =>
      el(
        "li",
        {
          className: "canned-option",
          attrs: { role: "option", id: `canned-option-${index}`, "data-index": index },
        },
        responseParts(response, "canned-option"),
      ),
    );
    this.list.replaceChildren(...options);
    show(this.list, true);
    this.textarea.setAttribute("aria-expanded", "true");
    this.highlight(0);
  }

  highlight(index) {
    const count = this.suggestions.length;
    this.active = (index + count) % count;
    [...this.list.children].forEach((option, position) => {
      option.setAttribute("aria-selected", String(position === this.active));
    });
    const active = this.list.children[this.active];
    this.textarea.setAttribute("aria-activedescendant", active.id);
    active.scrollIntoView({ block: "nearest" });
  }

  /** Enter or Tab inserts the highlighted response, arrows move, Escape closes the list. */
  onComposerKey(event) {
    if (event.target !== this.textarea || this.list.hidden || event.isComposing) return;
    if (event.key in KEY_MOVES) {
      this.highlight(this.active + KEY_MOVES[event.key]);
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.pickSuggestion(this.active);
    } else if (event.key === "Escape") {
      this.dismissedAt = this.slash.start;
      this.closeSuggestions();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  pickSuggestion(index) {
    const response = this.suggestions[index];
    const slash = this.slash;
    this.closeSuggestions();
    if (response) this.insert(response, slash);
  }

  hideSuggestions() {
    show(this.list, false);
    this.suggestions = [];
    this.active = -1;
    this.slash = null;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  closeSuggestions() {
    clearTimeout(this.pause);
    this.lookups += 1;
    this.hideSuggestions();
  }

  // --- The panel ----------------------------------------------------------------------------

  async openPanel() {
    this.closeSuggestions();
    show(this.panel, true);
    this.toggle.setAttribute("aria-expanded", "true");
    this.search.value = "";
    this.library = [];
    this.results.replaceChildren(el("p", { className: "muted", text: "Loading…" }));
    this.search.focus();
    try {
      const [categories, responses] = await Promise.all([
        this.everything("/api/v1/canned/categories"),
        this.everything("/api/v1/canned/responses"),
      ]);
      this.library = categories.map((category) => ({
        category,
        responses: responses.filter((response) => response.category_id === category.id),
      }));
    } catch (error) {
      this.results.replaceChildren(el("p", { className: "alert", text: describeError(error) }));
      return;
    }
    if (!this.panel.hidden) this.drawPanel();
  }

  /** Every item of a list, page after page. */
  async everything(path) {
    const items = [];
    let cursor = null;
    do {
      const page = await this.api.get(path, { limit: 200, cursor });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  drawPanel() {
    const query = this.search.value.trim().toLocaleLowerCase();
    const groups = [];
    for (const { category, responses } of this.library) {
      const matching = responses.filter(
        (response) =>
          !query ||
          [response.title, response.shortcode, response.body].some((text) => contains(text, query)),
      );
      if (!matching.length) continue;
      const choices = matching.map((response) =>
        el("li", {}, [
          el(
            "button",
            {
              className: "canned-choice",
              attrs: {
                type: "button",
                "data-response-id": response.id,
                "aria-label": response.title,
              },
            },
            responseParts(response, "canned-choice"),
          ),
        ]),
      );
      groups.push(
        el("section", { className: "canned-group", attrs: { "aria-label": category.name } }, [
          el("h3", { text: category.name }),
          el("ul", {}, choices),
        ]),
      );
    }
    if (groups.length) {
      this.results.replaceChildren(...groups);
      return;
    }
    const none = this.library.length ? "No responses match." : "No canned responses yet.";
    this.results.replaceChildren(el("p", { className: "muted", text: none }));
  }

  /** Escape closes the panel; Enter in its search box picks the first match (not sends). */
  onPanelKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      this.closePanel();
      this.toggle.focus();
    } else if (event.key === "Enter" && event.target === this.search) {
      event.preventDefault();
      const first = this.results.querySelector("[data-response-id]");
      if (first) this.pickFromPanel(first.dataset.responseId);
    }
  }

  pickFromPanel(responseId) {
    const response = this.library
      .flatMap((group) => group.responses)
      .find((candidate) => candidate.id === responseId);
    this.closePanel();
    this.textarea.focus();
    if (response) this.insert(response, null);
  }

  closePanel() {
    show(this.panel, false);
    this.toggle.setAttribute("aria-expanded", "false");
  }

  // --- Inserting ----------------------------------------------------------------------------

  /** Puts the response's filled text in place of the typed "/query", else at the caret. */
  async insert(response, slash) {
    const conversationId = this.conversationId();
    if (!conversationId) return;
    this.showProblem("");
    let filled;
    try {
      filled = await this.api.get(`/api/v1/conversations/${conversationId}/canned/${response.id}`);
    } catch (error) {
      this.showProblem(describeError(error));
      return;
    }
    const { textarea } = this;
    if (this.conversationId() !== conversationId || textarea.disabled) return;
    const typed = slash && textarea.value.slice(slash.start, slash.end) === `/${slash.query}`;
    const [start, end] = typed
      ? [slash.start, slash.end]
      : [textarea.selectionStart, textarea.selectionEnd];
    textarea.setRangeText(filled.text, start, end, "end");
    textarea.focus();
  }

  showProblem(text) {
    this.problem.textContent = text;
    show(this.problem, Boolean(text));
  }
}

/** A response's title, shortcut and the start of its text, as a suggestion or panel choice. */
function responseParts(response, prefix) {
  const parts = [el("span", { className: `${prefix}-title`, text: response.title })];
  if (response.shortcode) parts.push(el("kbd", { text: `/${response.shortcode}` }));
  parts.push(el("span", { className: `${prefix}-text`, text: response.body }));
  return parts;
}
