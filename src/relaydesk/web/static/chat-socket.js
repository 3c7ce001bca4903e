// The live connection to GET /api/v1/ws: pings, reconnects with backoff, and says when to catch
// up. Frames sent while it was down are lost, so every `hello` means "fetch what you missed".

const PING_EVERY_MS = 25_000;
const MAX_BACKOFF_MS = 30_000;
const AUTH_FAILURES = new Set([4401, 4403]);

export function socketUrl(accessToken) {
  const url = new URL("/api/v1/ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (accessToken) url.searchParams.set("access_token", accessToken);
  return url.toString();
}

/**
 * Keeps a socket open until `stop()`; `send(frame)` sends while it is open (and drops the frame
 * otherwise: what is sent is ephemeral, like typing).
 * - `onHello()`: (re)connected; fetch whatever may have been missed.
 * - `onFrame(frame)`: any other server frame but `pong`.
 * - `onStatus(status)`: "live", "reconnecting" or "signed-out" (4401/4403: no more attempts).
 */
export function connectSocket(url, { onHello, onFrame, onStatus }) {
  let socket;
  let failures = 0;
  let pinger;
  let retry;
  let stopped = false;

  function open() {
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      pinger = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        failures = 0;
        onStatus("live");
        onHello();
      } else if (frame.type !== "pong") {
        onFrame(frame);
      }
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pinger);
      if (stopped) return;
      if (AUTH_FAILURES.has(event.code)) {
        stopped = true;
        onStatus("signed-out");
        return;
      }
      onStatus("reconnecting");
      // Exponential backoff with jitter, so a restarted server is not hit by everyone at once.
      const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures);
      failures += 1;
      retry = setTimeout(open, ceiling / 2 + (Math.random() * ceiling) / 2);
    });
  }

  function reconnectNow() {
    if (!stopped && socket.readyState === WebSocket.CLOSED) {
      clearTimeout(retry);
      open();
    }
  }

  window.addEventListener("online", reconnectNow);
  open();
  return {
    send(frame) {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    },
    stop() {
      stopped = true;
      clearTimeout(retry);
      window.removeEventListener("online", reconnectNow);
      socket.close();
    },
  };
}

export const STATUS_TEXT = {
  live: "Live",
  reconnecting: "Reconnecting…",
  "signed-out": "Signed out",
};
