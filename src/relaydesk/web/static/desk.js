// The agents' chat console (/desk): inbox and open chat, kept live by the socket.

import { createApi, staffHeaders } from "./chat-api.js";
import { el } from "./chat-dom.js";
import { STATUS_TEXT, connectSocket, socketUrl } from "./chat-socket.js";
import { DeskAlerts } from "./desk-alerts.js";
import { CollisionGuard } from "./desk-presence.js";
import { EngagementPanels } from "./desk-engagements.js";
import { Inbox } from "./desk-inbox.js";
import { ThreadPane } from "./desk-thread.js";

const CONVERSATION_IN_URL = /^#([0-9a-f-]{36})$/;

const agentId = document.getElementById("desk").dataset.agentId;
const connection = document.getElementById("connection");
const api = createApi(staffHeaders());

const inbox = new Inbox({ api, agentId, onOpen: openConversation });
const thread = new ThreadPane({
  api,
  agentId,
  channelName: (channelId) => inbox.channelName(channelId),
  onChange: (conversation) => inbox.upsert(conversation),
  onRead: (conversationId) => inbox.markedRead(conversationId),
});
const alerts = new DeskAlerts({
  api,
  agentId,
  openId: () => thread.id,
  onOpen: openConversation,
});
const guard = new CollisionGuard({
  socket: () => socket,
  agentId,
  conversationId: () => thread.id,
});
const engagements = new EngagementPanels({
  api,
  endUserId: () => thread.conversation?.end_user.id,
});

function openConversation(conversationId) {
  inbox.select(conversationId);
  // In the address, so reloading the page comes back to the same chat.
  history.replaceState(null, "", `#${conversationId}`);
  engagements.clear();
  const opening = thread.open(conversationId);
  guard.opened();
  opening.then(() => engagements.refresh());
}

function showStatus(status) {
  connection.dataset.status = status;
  connection.textContent = STATUS_TEXT[status];
  if (status === "signed-out") {
    thread.signOut();
    const signIn = el("a", { text: "Sign in again", attrs: { href: "/login?next=/desk" } });
    connection.append(" · ", signIn);
  }
}

const socket = connectSocket(socketUrl(), {
  onHello() {
    guard.opened();
    inbox.reload();
    thread.catchUp();
    engagements.refresh();
  },
  onFrame({ type, data }) {
    if (type === "message.created") {
      const { conversation, ...message } = data;
      // Unread unless the agent is looking at that chat (HD-19).
      const seen = thread.id === conversation.id && thread.inView();
      const unread = message.sender.type === "end_user" && !seen;
      inbox.upsert(conversation, { unreadAdded: unread ? 1 : 0 });
      thread.receive(message, conversation);
      guard.received(message);
      alerts.receive(message, conversation);
      // A card sent is an engagement received.
      if (message.kind === "engagement") {
        engagements.activity({ end_user_id: conversation.end_user.id });
      }
    } else if (type === "conversation.updated") {
      inbox.upsert(data);
      thread.update(data);
    } else if (type === "presence") {
      guard.presence(data);
    } else if (type === "typing") {
      guard.typed(data);
    } else if (type === "conversation.read") {
      // Read in another of this agent's consoles.
      inbox.markedRead(data.conversation_id, data.last_read_seq);
    } else if (type === "engagement.activity") {
      engagements.activity(data);
    }
  },
  onStatus: showStatus,
});

inbox.reload();
alerts.load();
const linked = CONVERSATION_IN_URL.exec(window.location.hash);
if (linked) openConversation(linked[1]);
