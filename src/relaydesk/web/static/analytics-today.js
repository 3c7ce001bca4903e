// Basic chat analytics (/desk/analytics/today): the server paints the last 24 hours, this keeps
// them current from the API whenever a chat opens or changes status, and every minute, since
// the window moves on even when nothing happens.

import { createApi, describeError, staffHeaders } from "./chat-api.js";
import { el } from "./chat-dom.js";
import { STATUS_TEXT, connectSocket, socketUrl } from "./chat-socket.js";
import { formatDuration } from "./analytics-format.js";

// A burst of changes (an agent finishing ten chats) asks for the figures once.
const REFRESH_AFTER_MS = 1000;
const ROLL_EVERY_MS = 60_000;

const root = document.getElementById("basic-analytics");
const channelId = root.dataset.channelId;
const connection = document.getElementById("connection");
const problem = document.getElementById("analytics-problem");
const api = createApi(staffHeaders());

let refreshTimer = null;
let asked = 0;

function refreshSoon() {
  refreshTimer ??= setTimeout(refresh, REFRESH_AFTER_MS);
}

async function refresh() {
  refreshTimer = null;
  const ask = ++asked;
  try {
    const summary = await api.get("/api/v1/analytics/chat/summary", { channel_id: channelId });
    // An earlier answer arriving after a later one must not put older figures back.
    if (ask !== asked) return;
    problem.hidden = true;
    show(summary);
  } catch (error) {
    problem.textContent = describeError(error);
    problem.hidden = false;
  }
}

function show(summary) {
  for (const node of root.querySelectorAll("[data-figure]")) {
    const value = summary[node.dataset.figure];
    node.textContent = node.dataset.figure.startsWith("avg_") ? formatDuration(value) : value;
  }
  fillTable("per-channel", summary.per_channel, (row) => [
    row.finished,
    row.active,
    row.unanswered,
    formatDuration(row.avg_response_seconds),
    formatDuration(row.avg_handling_seconds),
  ]);
  fillTable("per-agent", summary.per_agent, (row) => [
    row.finished,
    row.active,
    formatDuration(row.avg_response_seconds),
    formatDuration(row.avg_handling_seconds),
  ]);
}

/** Rows as the server renders them: the name as the row's header, then `cells(row)`. */
function fillTable(id, rows, cells) {
  const body = document.getElementById(id).tBodies[0];
  body.replaceChildren(
    ...rows.map((row) =>
      el("tr", {}, [
        el("th", { text: row.name, attrs: { scope: "row" } }),
        ...cells(row).map((text) => el("td", { text })),
      ]),
    ),
  );
}

function showStatus(status) {
  connection.dataset.status = status;
  connection.textContent = STATUS_TEXT[status];
}

connectSocket(socketUrl(), {
  onHello: refreshSoon,
  onFrame({ type, data }) {
    // A brand-new chat arrives as its first message only, with no status change to announce.
    const opened = type === "message.created" && data.conversation.status === "unanswered";
    if (type === "conversation.updated" || opened) refreshSoon();
  },
  onStatus: showStatus,
});
setInterval(refreshSoon, ROLL_EVERY_MS);

document.getElementById("analytics-channel").addEventListener("change", (event) => {
  event.target.form.requestSubmit();
});
