// One conversation's messages, shown once each and in seq order: the latest page first, older
// pages when scrolled to the top, and newer ones by `after_seq` whenever some may be missing.

import { el, timeElement, watchSentinel } from "./chat-dom.js";
import { attachmentList, directUrl } from "./chat-files.js";

const PAGE_SIZE = 50;
const NEAR_END_PX = 60;

export const ENGAGEMENT_TYPES = {
  message: "Message",
  promo: "Promo",
  coupon: "Coupon",
  sticker_pack: "Sticker Pack",
  ringtone: "Ringtone",
  wallpaper: "Wallpaper",
};
const REDEMPTION = {
  qr_code: "QR code",
  time_based: "Time-based",
  click_to_redeem: "Click to redeem",
  auto_activate: "Activates by itself",
};

export class MessageList {
  /**
   * @param {object} options
   * @param {HTMLElement} options.scrollBox the scrolling element, holding `sentinel` then `list`
   * @param {(params: object) => Promise<{items: object[], next_cursor: ?string}>} options.fetchPage
   * @param {"agent"|"end_user"} options.ownSide whose messages are drawn as the reader's own
   * @param {(error: Error) => void} options.onError
   * @param {(url: string) => string|Promise<string>} [options.fileUrl] where attachments load from
   * @param {(message: object) => ?Node} [options.cardActions] what an engagement card offers
   */
  constructor({
    scrollBox,
    sentinel,
    list,
    fetchPage,
    ownSide,
    onError,
    fileUrl = directUrl,
    cardActions = () => null,
  }) {
    Object.assign(this, { scrollBox, list, fetchPage, ownSide, onError, fileUrl, cardActions });
    this.nodes = new Map();
    this.lastSeq = 0;
    this.olderCursor = null;
    this.loaded = false;
    this.closed = false;
    // Live messages that arrive while the first page is on its way.
    this.early = [];
    list.replaceChildren();
    this.history = watchSentinel(sentinel, scrollBox, () => this.loadOlder());
  }

  close() {
    this.closed = true;
    this.history.stop();
  }

  async loadLatest() {
    const page = await this.fetchPage({ limit: PAGE_SIZE });
    if (this.closed) return;
    this.olderCursor = page.next_cursor;
    this.insert(page.items);
    this.loaded = true;
    this.scrollToEnd();
    const early = this.early.splice(0);
    for (const message of early) this.add(message);
    this.history.recheck();
  }

  /** A message from the socket or a send: shown in place, or fetched with any it skipped. */
  add(message, { scroll = false } = {}) {
    if (this.closed) return;
    if (!this.loaded) {
      this.early.push(message);
      return;
    }
    if (message.seq > this.lastSeq + 1) {
      this.catchUp();
      return;
    }
    const follow = scroll || this.nearEnd();
    this.insert([message]);
    if (follow) this.scrollToEnd();
  }

  /** Fetches every message after the newest shown, page by page (after a reconnect or a gap). */
  async catchUp() {
    if (!this.loaded || this.closed) return;
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = true;
    try {
      do {
        this.catchUpAgain = false;
        let cursor = null;
        do {
          const follow = this.nearEnd();
          const page = await this.fetchPage(
            cursor ? { cursor, limit: PAGE_SIZE } : { after_seq: this.lastSeq, limit: PAGE_SIZE },
          );
          if (this.closed) return;
          this.insert(page.items);
          if (follow) this.scrollToEnd();
          cursor = page.next_cursor;
        } while (cursor);
      } while (this.catchUpAgain);
    } catch (error) {
      this.onError(error);
    } finally {
      this.catchingUp = false;
    }
  }

  async loadOlder() {
    if (!this.loaded || !this.olderCursor || this.loadingOlder || this.closed) return;
    this.loadingOlder = true;
    try {
      const page = await this.fetchPage({ cursor: this.olderCursor, limit: PAGE_SIZE });
      if (this.closed) return;
      // Keep the messages in view where they are while older ones go in above them.
      const fromBottom = this.scrollBox.scrollHeight - this.scrollBox.scrollTop;
      this.insert(page.items);
      this.scrollBox.scrollTop = this.scrollBox.scrollHeight - fromBottom;
      this.olderCursor = page.next_cursor;
    } catch (error) {
      this.onError(error);
      return;
    } finally {
      this.loadingOlder = false;
    }
    this.history.recheck();
  }

  insert(messages) {
    for (const message of messages) {
      if (this.nodes.has(message.id)) continue;
      const node = this.render(message);
      node.dataset.seq = String(message.seq);
      this.nodes.set(message.id, node);
      const later =
        message.seq > this.lastSeq
          ? null
          : [...this.list.children].find((child) => Number(child.dataset.seq) > message.seq);
      this.list.insertBefore(node, later ?? null);
      this.lastSeq = Math.max(this.lastSeq, message.seq);
    }
  }

  render(message) {
    if (message.kind === "activity") {
      return el("li", { className: "activity" }, [
        el("span", { text: message.body }),
        " · ",
        timeElement(message.created_at),
      ]);
    }
    const side = message.sender.type === this.ownSide ? "own" : "theirs";
    const node = el("li", { className: `message ${side}` }, [
      el("span", { className: "meta" }, [
        el("span", { className: "sender", text: message.sender.name }),
        " ",
        timeElement(message.created_at),
      ]),
    ]);
    if (message.attachments?.length) node.append(attachmentList(message.attachments, this.fileUrl));
    if (message.kind === "engagement" && message.engagement) {
      const card = engagementCard(message.engagement, this.fileUrl);
      const actions = this.cardActions(message);
      if (actions) card.append(actions);
      node.append(card);
    } else if (message.body) {
      node.append(el("span", { className: "body", text: message.body }));
    }
    return node;
  }

  nearEnd() {
    const box = this.scrollBox;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_END_PX;
  }

  scrollToEnd() {
    this.scrollBox.scrollTop = this.scrollBox.scrollHeight;
  }
}

/** An engagement sent into a chat (HD-12): its type, title, text, first picture and terms. */
function engagementCard(engagement, fileUrl) {
  const { type, title, description, data = {} } = engagement;
  const label = ENGAGEMENT_TYPES[type] ?? type;
  const card = el("article", {
    className: `engagement-card type-${type}`,
    attrs: { "aria-label": `${label}: ${title}` },
  });
  const imageId =
    data.media_attachment_id ??
    data.media_attachment_ids?.[0] ??
    data.image_attachment_id ??
    (type === "wallpaper" ? data.content_attachment_id : null);
  if (imageId) card.append(cardImage(imageId, fileUrl));
  card.append(
    el("span", { className: "engagement-type", text: label }),
    el("strong", { className: "engagement-title", text: title }),
  );
  if (data.text) card.append(el("p", { className: "engagement-text", text: data.text }));
  if (description) {
    card.append(el("p", { className: "engagement-description", text: description }));
  }
  const terms = engagementTerms(type, data);
  if (terms.length) {
    card.append(el("p", { className: "engagement-terms", text: terms.join(" · ") }));
  }
  if (type === "promo" && data.cta_url) {
    const attrs = { href: data.cta_url, target: "_blank", rel: "noopener noreferrer" };
    const text = data.cta_text || data.cta_url;
    card.append(el("a", { className: "engagement-cta", text, attrs }));
  }
  return card;
}

function engagementTerms(type, data) {
  const terms = [];
  if (type === "coupon" && data.redemption_type) {
    terms.push(REDEMPTION[data.redemption_type] ?? data.redemption_type);
  }
  if (data.points_price) terms.push(`${data.points_price} points`);
  if (data.bonus_points) terms.push(`+${data.bonus_points} bonus points`);
  return terms;
}

/** The picture's preview; files without one (not images) leave the card without a picture. */
function cardImage(attachmentId, fileUrl) {
  const image = el("img", { className: "engagement-image", attrs: { alt: "" } });
  image.hidden = true;
  image.addEventListener("load", () => {
    image.hidden = false;
  });
  image.addEventListener("error", () => image.remove());
  Promise.resolve(fileUrl(`/api/v1/attachments/${attachmentId}/preview`)).then(
    (url) => image.setAttribute("src", url),
    () => image.remove(),
  );
  return image;
}
