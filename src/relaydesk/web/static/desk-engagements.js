// The open chat's end user and the partner's engagements (HD-13), in two panels of the thread
// header: "Engagement history" (what they hold, as their device shows it) and "Recent activity"
// (their latest events, by type). Open panels reload when a chat opens and when the socket
// says that end user did something.

import { describeError } from "./chat-api.js";
import { el, show, timeElement } from "./chat-dom.js";
import { ENGAGEMENT_TYPES } from "./chat-thread.js";

const $ = (id) => document.getElementById(id);

const STATE_LABEL = {
  received: "Received",
  viewed: "Viewed",
  redeemed: "Redeemed",
  downloaded: "Downloaded",
};
const ACTIVITY_LABEL = {
  ...STATE_LABEL,
  points_earned: "Points earned",
  points_spent: "Points spent",
};
const DATES = [
  ["received_at", "Received"],
  ["viewed_at", "Viewed"],
  ["redeemed_at", "Redeemed"],
  ["downloaded_at", "Downloaded"],
];

const typeLabel = (type) => ENGAGEMENT_TYPES[type] ?? type;

export class EngagementPanels {
  /** `endUserId()` names the open chat's end user, once the chat has loaded. */
  constructor({ api, endUserId }) {
    const type = $("engagement-activity-type");
    const shared = { api, endUserId, others: () => this.panels };
    this.endUserId = endUserId;
    const history = { ...shared, id: "engagement-history", path: "engagement-history" };
    const activity = { ...shared, id: "engagement-activity", path: "recent-activity", type };
    this.panels = [new Panel(history, historyList), new Panel(activity, activityList)];
    type.addEventListener("change", () => this.panels[1].load());
    document.addEventListener("pointerdown", (event) => {
      for (const panel of this.panels) panel.closeUnless(event.target);
    });
  }

  /** Another chat is opening: nothing of the last end user stays shown. */
  clear() {
    for (const panel of this.panels) panel.clear();
  }

  /** Reloads the open panel (after a chat opened, or the socket reconnected). */
  refresh() {
    for (const panel of this.panels) panel.load();
  }

  /** An `engagement.activity` frame. */
  activity({ end_user_id: endUserId }) {
    if (endUserId === this.endUserId()) this.refresh();
  }
}

/** One panel: its toggle, and the list it draws from `/api/v1/end-users/{id}/{path}`. */
class Panel {
  constructor({ api, endUserId, others, id, path, type = null }, draw) {
    Object.assign(this, { api, endUserId, others, path, type, draw });
    this.node = $(id);
    this.toggle = $(`${id}-toggle`);
    this.body = $(`${id}-body`);
    // Bumped by every load, so that answers to older ones are dropped.
    this.loads = 0;
    this.toggle.addEventListener("click", () => (this.node.hidden ? this.open() : this.close()));
    this.node.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      this.close();
      this.toggle.focus();
    });
  }

  open() {
    for (const other of this.others()) if (other !== this) other.close();
    show(this.node, true);
    this.toggle.setAttribute("aria-expanded", "true");
    this.load();
  }

  close() {
    this.loads += 1;
    show(this.node, false);
    this.toggle.setAttribute("aria-expanded", "false");
  }

  closeUnless(target) {
    const inside = this.node.contains(target) || this.toggle.contains(target);
    if (!this.node.hidden && !inside) this.close();
  }

  clear() {
    this.loads += 1;
    this.body.replaceChildren();
  }

  async load() {
    const endUserId = this.endUserId();
    const load = (this.loads += 1);
    if (!endUserId || this.node.hidden) return;
    const { body } = this;
    if (!body.childElementCount) body.append(el("p", { className: "muted", text: "Loading…" }));
    let answer;
    try {
      answer = await this.api.get(`/api/v1/end-users/${endUserId}/${this.path}`, {
        type: this.type?.value,
      });
    } catch (error) {
      if (load !== this.loads) return;
      body.replaceChildren(el("p", { className: "alert", text: describeError(error) }));
      return;
    }
    if (load === this.loads) body.replaceChildren(this.draw(answer.items));
  }
}

function historyList(items) {
  if (!items.length) return el("p", { className: "muted", text: "No engagements yet." });
  const entries = items.map((item) => {
    const dates = [];
    for (const [field, label] of DATES) {
      if (!item[field]) continue;
      if (dates.length) dates.push(" · ");
      dates.push(`${label} `, timeElement(item[field]));
    }
    return el("li", { className: "engagement-entry" }, [
      el("span", { className: "engagement-entry-head" }, [
        el("strong", { text: item.engagement.title }),
        el("span", {
          className: `badge state-${item.state}`,
          text: STATE_LABEL[item.state] ?? item.state,
        }),
      ]),
      el("span", { className: "muted", text: typeLabel(item.engagement.type) }),
      el("span", { className: "engagement-dates" }, dates),
    ]);
  });
  const attrs = { "aria-label": "Engagements held" };
  return el("ul", { className: "engagement-entries", attrs }, entries);
}

function activityList(items) {
  if (!items.length) return el("p", { className: "muted", text: "No activity yet." });
  const entries = items.map((item) => {
    const what = [el("strong", { text: ACTIVITY_LABEL[item.type] ?? item.type })];
    if (item.points) {
      const points = item.points > 0 ? `+${item.points}` : `−${-item.points}`;
      what.push(el("span", { className: "engagement-points", text: `${points} points` }));
    }
    return el("li", { className: "engagement-entry" }, [
      el("span", { className: "engagement-entry-head" }, [...what, timeElement(item.occurred_at)]),
      el("span", { text: item.title }),
      el("span", { className: "muted", text: typeLabel(item.engagement_type) }),
    ]);
  });
  const attrs = { "aria-label": "Activities" };
  return el("ul", { className: "engagement-entries", attrs }, entries);
}
