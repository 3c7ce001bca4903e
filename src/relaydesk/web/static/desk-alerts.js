// The console's alerts (HD-17): a chime and a browser notification when a chat opens and when
// the end user writes in one of the agent's chats. The "Alerts" menu mutes each of the four;
// the choices are kept on the server, so they follow the agent to other browsers.

import { describeError } from "./chat-api.js";
import { show } from "./chat-dom.js";
import { messageSummary } from "./chat-files.js";

const SETTINGS_PATH = "/api/v1/me/alerts";
const PREVIEW_LENGTH = 100;
// A5 then E6, each note swelling and fading within NOTE_SECONDS: about 0.3 s in all.
const NOTES = [
  { frequency: 880, offset: 0 },
  { frequency: 1318.5, offset: 0.15 },
];
const NOTE_SECONDS = 0.15;
const LOUDNESS = 0.2;
const SILENCE = 0.0001;

/**
 * Which alert a message calls for: "unanswered" when it opens a chat session (the end user's
 * first message, or the line saying they reopened a finished chat), "my_chats" when the end
 * user writes in a chat this agent owns. An agent's own doings are neither.
 */
function alertKind(message, conversation, agentId) {
  const fromEndUser = message.sender.type === "end_user";
  if (message.activity?.action === "reopened" || (fromEndUser && message.seq === 1)) {
    return "unanswered";
  }
  const mine = conversation.status === "active" && conversation.owner?.id === agentId;
  return fromEndUser && message.kind !== "activity" && mine ? "my_chats" : null;
}

function preview(message) {
  const text = messageSummary(message).replace(/\s+/g, " ").trim();
  return text.length > PREVIEW_LENGTH ? `${text.slice(0, PREVIEW_LENGTH - 1)}…` : text;
}

/** A two-note chime made on the spot, so there is no sound file to load. */
class Chime {
  constructor() {
    // Browsers let a page play sound only once the person has used it; every press may be the
    // one that lets it (again, for a context the browser suspended meanwhile).
    const unlock = () => {
      this.context ??= new AudioContext();
      if (this.context.state === "suspended") this.context.resume();
    };
    document.addEventListener("pointerdown", unlock);
    document.addEventListener("keydown", unlock);
  }

  play() {
    const { context } = this;
    if (context?.state !== "running") return;
    const oscillator = context.createOscillator();
    const volume = context.createGain();
    const start = context.currentTime;
    volume.gain.setValueAtTime(SILENCE, start);
    for (const { frequency, offset } of NOTES) {
      const at = start + offset;
      oscillator.frequency.setValueAtTime(frequency, at);
      volume.gain.exponentialRampToValueAtTime(LOUDNESS, at + 0.01);
      volume.gain.exponentialRampToValueAtTime(SILENCE, at + NOTE_SECONDS);
    }
    oscillator.connect(volume).connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + NOTES.at(-1).offset + NOTE_SECONDS);
  }
}

export class DeskAlerts {
  /** `openId()` is the chat shown in the console; `onOpen(id)` shows one. */
  constructor({ api, agentId, openId, onOpen }) {
    Object.assign(this, { api, agentId, openId, onOpen });
    this.chime = new Chime();
    this.ui = {
      menu: document.getElementById("alerts-menu"),
      settings: document.getElementById("alert-settings"),
      error: document.getElementById("alerts-error"),
      allow: document.getElementById("allow-notifications"),
      blocked: document.getElementById("notifications-blocked"),
    };
    // The boxes are the settings: alerts read them, changes save them.
    this.boxes = Object.fromEntries([...this.ui.settings.elements].map((box) => [box.name, box]));
    this.ui.settings.addEventListener("change", (event) => this.save(event.target));
    this.ui.allow.addEventListener("click", async () => {
      await Notification.requestPermission();
      this.showPermission();
    });
    // The permission can change in the browser's settings while the page is open.
    this.ui.menu.addEventListener("toggle", () => this.showPermission());
    this.showPermission();
  }

  async load() {
    try {
      const settings = await this.api.get(SETTINGS_PATH);
      for (const [name, on] of Object.entries(settings)) this.boxes[name].checked = on;
    } catch (error) {
      this.showError(`Your alert choices could not be loaded. ${describeError(error)}`);
    } finally {
      this.ui.settings.disabled = false;
    }
  }

  async save(box) {
    this.showError("");
    try {
      await this.api.patch(SETTINGS_PATH, { [box.name]: box.checked });
    } catch (error) {
      box.checked = !box.checked;
      this.showError(`Not saved. ${describeError(error)}`);
    }
  }

  showError(text) {
    this.ui.error.textContent = text;
    show(this.ui.error, Boolean(text));
  }

  showPermission() {
    const permission = window.Notification?.permission;
    show(this.ui.allow, permission === "default");
    show(this.ui.blocked, permission === "denied");
  }

  /** A `message.created` frame: a chime and a notification, if it calls for them. */
  receive(message, conversation) {
    const kind = alertKind(message, conversation, this.agentId);
    if (!kind || (kind === "my_chats" && this.inSight(conversation.id))) return;
    if (this.boxes[`${kind}_sound`].checked) this.chime.play();
    if (this.boxes[`${kind}_notification`].checked) this.notify(kind, message, conversation);
  }

  inSight(conversationId) {
    const shown = conversationId === this.openId();
    return shown && document.visibilityState === "visible" && document.hasFocus();
  }

  notify(kind, message, conversation) {
    if (window.Notification?.permission !== "granted") return;
    const name = conversation.end_user.name;
    const title = kind === "unanswered" ? `New chat from ${name}` : `New message from ${name}`;
    // An activity line already names the end user ("Mia reopened the chat").
    const body = message.kind === "activity" ? message.body : `${name}: ${preview(message)}`;
    // One per chat: a burst of messages replaces the notification instead of piling up.
    const notification = new Notification(title, { body, tag: `chat-${conversation.id}` });
    notification.addEventListener("click", () => {
      window.focus();
      this.onOpen(conversation.id);
      notification.close();
    });
  }
}
