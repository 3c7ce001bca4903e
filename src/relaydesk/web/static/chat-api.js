// fetch() for the JSON API: problems become ApiErrors, message sends are retried safely.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `The server answered ${status}.`);
    this.status = status;
    this.code = problem.code;
    this.problem = problem;
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD"]);
// Pauses before resending a message whose answer was lost; the same client_message_id makes a
// resend of a message that did arrive come back as the original.
const RESEND_DELAYS_MS = [1000, 2000, 4000];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client_message_id; crypto.randomUUID exists only on HTTPS and localhost pages. */
function newClientMessageId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) =>
    byte.toString(16).padStart(2, "0"),
  ).join("");
  const parts = [hex.slice(0, 8), hex.slice(8, 12), `4${hex.slice(13, 16)}`];
  return [...parts, `a${hex.slice(17, 20)}`, hex.slice(20)].join("-");
}

/**
 * client_message_ids for sends. When a send fails without an answer, the message may still
 * have arrived; sending the same text to the same place again reuses its id, so the server
 * answers with the original instead of storing it twice.
 */
export class MessageIds {
  idFor(target, body) {
    const unsent = this.unsent;
    this.unsent = null;
    return unsent?.target === target && unsent.body === body ? unsent.id : newClientMessageId();
  }

  failed(target, body, id, error) {
    if (!(error instanceof ApiError)) this.unsent = { target, body, id };
  }
}

function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** `headersFor(method)` adds the credentials: a bearer token, or the CSRF token for cookies. */
export function createApi(headersFor) {
  async function request(method, path, body) {
    const headers = { Accept: "application/json", ...headersFor(method) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  return {
    get: (path, params = {}) => request("GET", withQuery(path, params)),
    post: (path, body) => request("POST", path, body),
    patch: (path, body) => request("PATCH", path, body),

    /** POSTs a message, resending it after network failures and server errors. */
    async send(path, body) {
      for (let attempt = 0; ; attempt += 1) {
        try {
          return await request("POST", path, body);
        } catch (error) {
          const lost = !(error instanceof ApiError) || error.status >= 500;
          if (!lost || attempt >= RESEND_DELAYS_MS.length) throw error;
          await sleep(RESEND_DELAYS_MS[attempt]);
        }
      }
    },
  };
}

/** Credentials of the signed-in staff member's page: the cookie, and the CSRF token. */
export function staffHeaders() {
  const token = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  return (method) => (SAFE_METHODS.has(method) ? {} : { "X-CSRF-Token": token });
}

/** Something to tell a person about a failed request. */
export function describeError(error) {
  if (error instanceof ApiError) return error.message;
  return "The server could not be reached. Check the connection and try again.";
}
