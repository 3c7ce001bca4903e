// The end user's demo app (/app): followed channels, and a chat with each, live.
// The end user's JWT comes from `#token=<jwt>` or the paste field and stays in sessionStorage.

import { ApiError, MessageIds, createApi, describeError } from "./chat-api.js";
import { el, sendOnEnter, show } from "./chat-dom.js";
import { AttachmentTray, blobUrls } from "./chat-files.js";
import { STATUS_TEXT, connectSocket, socketUrl } from "./chat-socket.js";
import { MessageList } from "./chat-thread.js";
import { TypingNotice, typingSender } from "./chat-typing.js";

const TOKEN_KEY = "relaydesk.endUserToken";
const SELF_REDEEMED = new Set(["click_to_redeem", "time_based"]);
const DOWNLOADS = new Set(["sticker_pack", "ringtone", "wallpaper"]);
const DONE = { redeemed: "Redeemed", downloaded: "Downloaded" };
const TOKEN_REFUSED = "Signed out: the token is not valid or has expired.";
const $ = (id) => document.getElementById(id);
const ui = {
  who: $("who"),
  connection: $("connection"),
  forget: $("forget"),
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  error: $("app-error"),
  channelsView: $("channels-view"),
  followed: $("followed"),
  noChannels: $("no-channels"),
  chatView: $("chat-view"),
  chatTitle: $("chat-title"),
  unavailable: $("chat-unavailable"),
  composer: $("composer"),
  text: $("composer-text"),
  send: $("send"),
  banner: $("ad-banner"),
};

let token = null;
let api = null;
// Files load with the token, so the page shows them from blob: addresses.
let fileUrl = null;
const bearer = () => ({ Authorization: `Bearer ${token}` });
const files = new AttachmentTray({
  button: $("attach"),
  input: $("attach-input"),
  tray: $("upload-tray"),
  headersFor: bearer,
});
let socket = null;
// An agent typing in the open chat (HD-18); and telling the agents when I type.
const typing = new TypingNotice($("typing"), (senders) =>
  senders.map((sender) => `${sender.name} is typing…`).join(" "),
);
const keystroke = typingSender(() => socket, () => open?.conversationId);
let channels = new Map();
const messageIds = new MessageIds();
// The open chat: its channel, and its conversation once there is one.
let open = null;
const isOpen = (channelId) => open?.channel.id === channelId;

function tokenFromFragment() {
  const fromUrl = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    // Out of the address bar, so the token is not bookmarked, shared or kept in history.
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** The token's claims, only to greet the end user by name; the server checks the token. */
function claimsOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(payload), (char) => char.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

function showError(text) {
  ui.error.textContent = text;
  show(ui.error, Boolean(text));
}

function fail(error) {
  if (error instanceof ApiError && error.status === 401) askForToken(TOKEN_REFUSED);
  else showError(describeError(error));
}

function start(newToken) {
  token = newToken;
  api = createApi(bearer);
  fileUrl = blobUrls(bearer);
  const { name } = claimsOf(token);
  ui.who.textContent = name ? `Signed in as ${name}` : "Signed in";
  showError("");
  show(ui.tokenForm, false);
  show(ui.forget, true);
  show(ui.connection, true);
  showChannels();
  loadChannels();
  loadBanner();
  socket = connectSocket(socketUrl(token), {
    onHello() {
      loadChannels();
      open?.messages?.catchUp();
    },
    onFrame,
    onStatus(status) {
      ui.connection.textContent = STATUS_TEXT[status];
      ui.connection.dataset.status = status;
      if (status === "signed-out") askForToken(TOKEN_REFUSED);
    },
  });
}

/** Forgets the token (refused, expired or let go) and shows the paste field. */
function askForToken(message) {
  socket?.stop();
  socket = null;
  sessionStorage.removeItem(TOKEN_KEY);
  closeChat();
  channels = new Map();
  ui.who.textContent = "Paste an end user's token to play the tenant's app.";
  for (const part of [ui.channelsView, ui.chatView, ui.forget, ui.connection, ui.banner]) {
    show(part, false);
  }
  show(ui.tokenForm, true);
  showError(message);
}

/** The banner slot: an ad fetched once as the app starts (serving it counts an impression).
 * Nothing shows when none is served, and an ad that fails to load is simply left out. */
async function loadBanner() {
  const forToken = token;
  ui.banner.replaceChildren();
  show(ui.banner, false);
  let ad;
  try {
    ({ items: [ad] } = await api.get("/api/v1/me/ads", { placement: "banner" }));
  } catch {
    return;
  }
  // Signed out meanwhile, or an address the page won't link to: no banner.
  if (sessionStorage.getItem(TOKEN_KEY) !== forToken) return;
  if (!ad || !/^https?:\/\//i.test(ad.click_url)) return;
  const picture = el("img", { className: "ad-media", attrs: { alt: "" } });
  const words = [el("span", { className: "ad-label", text: "Ad" })];
  words.push(el("strong", { className: "ad-title", text: ad.title }));
  if (ad.subtitle) words.push(el("span", { className: "ad-subtitle", text: ad.subtitle }));
  const cta = el("a", {
    className: "ad-cta",
    text: ad.cta_text || "Learn more",
    attrs: { href: ad.click_url, target: "_blank", rel: "noopener noreferrer nofollow" },
  });
  ui.banner.replaceChildren(picture, el("div", { className: "ad-words" }, words), cta);
  show(ui.banner, true);
  fileUrl(ad.media_url).then(
    (url) => {
      picture.src = url;
    },
    () => picture.remove(),
  );
}

async function loadChannels() {
  try {
    const page = await api.get("/api/v1/me/channels", { limit: 200 });
    channels = new Map(page.items.map((channel) => [channel.id, channel]));
    renderChannels();
    if (open && channels.has(open.channel.id)) {
      open.channel = channels.get(open.channel.id);
      renderAvailability();
    }
  } catch (error) {
    fail(error);
  }
}

function renderChannels() {
  const items = [...channels.values()].map((channel) => {
    const parts = [el("strong", { text: channel.name })];
    if (channel.description) {
      parts.push(el("span", { className: "muted", text: channel.description }));
    }
    if (!channel.chat_enabled) {
      parts.push(el("span", { className: "badge", text: "Chat unavailable" }));
    }
    const attrs = { type: "button", "data-id": channel.id };
    return el("li", {}, [el("button", { className: "channel", attrs }, parts)]);
  });
  ui.followed.replaceChildren(...items);
  show(ui.noChannels, items.length === 0);
}

function showChannels() {
  closeChat();
  show(ui.chatView, false);
  show(ui.channelsView, true);
}

function closeChat() {
  open?.messages?.close();
  open = null;
  typing.clear();
  files.clear();
}

async function openChannel(channelId) {
  closeChat();
  open = { channel: channels.get(channelId), conversationId: null, messages: null };
  ui.chatTitle.textContent = open.channel.name;
  ui.text.value = "";
  $("message-list").replaceChildren();
  showError("");
  renderAvailability();
  show(ui.channelsView, false);
  show(ui.chatView, true);
  try {
    const conversation = await conversationWith(channelId);
    if (conversation && isOpen(channelId)) await attach(conversation.id);
  } catch (error) {
    fail(error);
  }
  if (!ui.text.disabled) ui.text.focus();
}

async function conversationWith(channelId) {
  const page = await api.get("/api/v1/me/conversations", { channel_id: channelId, limit: 1 });
  return page.items[0] ?? null;
}

/** Shows a conversation's messages in the open chat: its latest page, then live ones. */
async function attach(conversationId) {
  if (open.conversationId === conversationId) return;
  open.conversationId = conversationId;
  open.held = heldEngagements();
  open.messages = new MessageList({
    scrollBox: $("messages"),
    sentinel: $("history-sentinel"),
    list: $("message-list"),
    fetchPage: (params) => api.get(`/api/v1/me/conversations/${conversationId}/messages`, params),
    ownSide: "end_user",
    onError: fail,
    fileUrl,
    cardActions,
  });
  await open.messages.loadLatest();
}

/** The engagements I hold by delivery id, for the cards' states; none when that fails. */
async function heldEngagements() {
  try {
    const page = await api.get("/api/v1/me/engagements", { limit: 200 });
    return new Map(page.items.map((delivery) => [delivery.id, delivery]));
  } catch {
    return new Map();
  }
}

/** Under an engagement card: marks it viewed, and offers to redeem or download it. */
function cardActions(message) {
  const { type, data, delivery_id: deliveryId } = message.engagement;
  if (!deliveryId) return null;
  const verb =
    (type === "coupon" && SELF_REDEEMED.has(data.redemption_type) && "redeem") ||
    (DOWNLOADS.has(type) && "download") ||
    null;
  const state = el("span", { className: "engagement-state", attrs: { "aria-live": "polite" } });
  const problem = el("span", { className: "engagement-problem", attrs: { "aria-live": "polite" } });
  const box = el("div", { className: "engagement-actions" });
  const button = verb
    ? el("button", { text: verb === "redeem" ? "Redeem" : "Download", attrs: { type: "button" } })
    : null;
  const showState = (delivery) => {
    state.textContent = DONE[delivery.state] ?? "";
    if (button && delivery.state === "redeemed") button.remove();
  };
  button?.addEventListener("click", async () => {
    button.disabled = true;
    problem.textContent = "";
    try {
      const delivery = await api.post(`/api/v1/me/engagements/${deliveryId}/${verb}`);
      showState(delivery);
      if (verb === "download" && data.content_attachment_id) {
        await saveFile(`/api/v1/attachments/${data.content_attachment_id}`, message.engagement);
      }
    } catch (error) {
      if (error.code === "already_redeemed") showState({ state: "redeemed" });
      problem.textContent = describeError(error);
    } finally {
      button.disabled = false;
    }
  });
  if (button) box.append(button);
  box.append(state, problem);
  open.held.then((held) => {
    const delivery = held.get(deliveryId);
    if (delivery) showState(delivery);
    if (!delivery || delivery.state === "received") markViewed(deliveryId);
  });
  return box;
}

const viewed = new Set();

/** The card showed in the open chat: viewed, once per delivery and page. */
function markViewed(deliveryId) {
  if (viewed.has(deliveryId)) return;
  viewed.add(deliveryId);
  api.post(`/api/v1/me/engagements/${deliveryId}/view`).catch(() => viewed.delete(deliveryId));
}

/** Downloads a file the page may only fetch with the token, through its blob: address. */
async function saveFile(url, engagement) {
  const link = el("a", { attrs: { href: await fileUrl(url), download: engagement.title } });
  document.body.append(link);
  link.click();
  link.remove();
}

function renderAvailability() {
  const available = open.channel.chat_enabled;
  show(ui.unavailable, !available);
  ui.text.disabled = ui.send.disabled = !available;
  files.setDisabled(!available);
}

function onFrame({ type, data }) {
  if (type === "message.created") {
    const { conversation, ...message } = data;
    if (!open || conversation.channel_id !== open.channel.id) return;
    typing.stopped(message.sender.id);
    if (open.conversationId === conversation.id) open.messages.add(message);
    else if (!open.conversationId) attach(conversation.id).catch(fail);
  } else if (type === "channel.updated") {
    updateChannel(data);
  } else if (type === "typing") {
    if (data.sender.type === "agent" && data.conversation_id === open?.conversationId) {
      typing.show(data);
    }
  }
}

function updateChannel({ id, name, description, chat_enabled }) {
  if (!channels.has(id)) return;
  const channel = { ...channels.get(id), name, description, chat_enabled };
  channels.set(id, channel);
  renderChannels();
  if (isOpen(id)) {
    open.channel = channel;
    ui.chatTitle.textContent = channel.name;
    renderAvailability();
  }
}

async function send(body, attachmentIds) {
  const channelId = open.channel.id;
  const path = `/api/v1/channels/${channelId}/chat/messages`;
  const content = [body, ...attachmentIds].join("\n");
  const message = { client_message_id: messageIds.idFor(path, content), body };
  if (attachmentIds.length) message.attachment_ids = attachmentIds;
  try {
    const created = await api.send(path, message);
    if (!isOpen(channelId)) return true;
    if (open.conversationId === created.conversation_id) {
      open.messages.add(created, { scroll: true });
    } else {
      await attach(created.conversation_id);
    }
    return true;
  } catch (error) {
    messageIds.failed(path, content, message.client_message_id, error);
    if (error.code === "chat_disabled") {
      updateChannel({ ...channels.get(channelId), chat_enabled: false });
    }
    fail(error);
    return false;
  }
}

ui.followed.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-id]");
  if (button) openChannel(button.dataset.id);
});
$("back").addEventListener("click", showChannels);
ui.composer.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!open) return;
  if (files.uploading()) {
    showError("Wait for the files to finish uploading, then send.");
    return;
  }
  const body = ui.text.value.trim();
  const attachmentIds = files.ids();
  if (!body && !attachmentIds.length) return;
  const channelId = open.channel.id;
  ui.text.value = "";
  showError("");
  const sent = await send(body, attachmentIds);
  if (!isOpen(channelId)) return;
  if (sent) files.clear();
  else if (!ui.text.value) ui.text.value = body;
});
sendOnEnter(ui.text, ui.composer);
ui.text.addEventListener("input", keystroke);
ui.forget.addEventListener("click", () => askForToken(""));
ui.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const pasted = ui.tokenInput.value.trim();
  if (!pasted) return;
  sessionStorage.setItem(TOKEN_KEY, pasted);
  ui.tokenInput.value = "";
  start(pasted);
});

const saved = tokenFromFragment();
if (saved) start(saved);
else askForToken("");
