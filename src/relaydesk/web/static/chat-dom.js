// DOM helpers for the chat pages. User text only ever goes in as text nodes (textContent).

export function el(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const clockTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});

/** A <time> showing the hour for today, the day and hour before that. */
export function timeElement(iso) {
  const date = new Date(iso);
  const today = date.toDateString() === new Date().toDateString();
  return el("time", {
    text: (today ? clockTime : dayAndTime).format(date),
    attrs: { datetime: iso, title: date.toLocaleString() },
  });
}

/** A search snippet's nodes: the parts the API put in [brackets] become <mark>s. */
export function snippetNodes(snippet) {
  const nodes = [];
  let shown = 0;
  for (const match of snippet.matchAll(/\[([^\]]*)\]/g)) {
    if (match.index > shown) nodes.push(document.createTextNode(snippet.slice(shown, match.index)));
    nodes.push(el("mark", { text: match[1] }));
    shown = match.index + match[0].length;
  }
  if (shown < snippet.length) nodes.push(document.createTextNode(snippet.slice(shown)));
  return nodes;
}

export function show(node, visible) {
  node.hidden = !visible;
}

/** Enter sends, Shift+Enter (or Enter while an input method composes) adds a new line. */
export function sendOnEnter(textarea, form) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

/** Observes a sentinel inside a scroll box; `onVisible` runs whenever it comes into view.
 * `recheck()` observes afresh, which reports a sentinel still in view after a page loaded. */
export function watchSentinel(sentinel, scrollBox, onVisible) {
  const observer = new IntersectionObserver(
    (entries) => {
      if (entries.some((entry) => entry.isIntersecting)) onVisible();
    },
    { root: scrollBox, rootMargin: "150px" },
  );
  observer.observe(sentinel);
  return {
    recheck() {
      observer.unobserve(sentinel);
      observer.observe(sentinel);
    },
    stop() {
      observer.disconnect();
    },
  };
}

/**
 * What the composer's panels (canned responses, engagements) share: their button opens and
 * closes them, a press elsewhere closes them, and while the composer is switched off (a
 * finished chat, signed out) the button is too and `onDisabled` runs.
 */
export function wireComposerPanel({ toggle, panel, textarea, open, close, onDisabled }) {
  toggle.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.addEventListener("pointerdown", (event) => {
    const inside = panel.contains(event.target) || toggle.contains(event.target);
    if (!panel.hidden && !inside) close();
  });
  const follow = () => {
    toggle.disabled = textarea.disabled;
    if (textarea.disabled) onDisabled();
  };
  new MutationObserver(follow).observe(textarea, {
    attributes: true,
    attributeFilter: ["disabled"],
  });
  follow();
}
