// Attachments in the chat pages (HD-11): the composer's pin icon and tray of uploads, each with
// its progress, and the files of a message shown as previews, players or download links.

import { ApiError } from "./chat-api.js";
import { el, show } from "./chat-dom.js";

const UPLOAD_PATH = "/api/v1/attachments";

const sizeFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${sizeFormat.format(bytes / 1024)} KB`;
  return `${sizeFormat.format(bytes / (1024 * 1024))} MB`;
}

/** POSTs one file with XMLHttpRequest, the one browser API that reports upload progress. */
function uploadFile(headersFor, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", UPLOAD_PATH);
    request.responseType = "json";
    request.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(headersFor("POST"))) {
      request.setRequestHeader(name, value);
    }
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      const body = request.response ?? {};
      if (request.status === 201) resolve(body);
      else reject(new ApiError(request.status, body));
    });
    request.addEventListener("error", () => reject(new TypeError("network")));
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}

/**
 * The composer's files: the pin icon opens the file picker, each chosen file uploads at once
 * and shows its progress in the tray; `ids()` are those ready to send.
 */
export class AttachmentTray {
  constructor({ button, input, tray, headersFor }) {
    Object.assign(this, { button, input, tray, headersFor });
    this.items = [];
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      for (const file of input.files) this.add(file);
      input.value = "";
    });
  }

  add(file) {
    const progress = el("progress", { attrs: { max: "1", value: "0", "aria-label": file.name } });
    const status = el("span", { className: "file-status muted", text: formatSize(file.size) });
    const remove = el("button", {
      className: "icon-button",
      text: "×",
      attrs: { type: "button", "aria-label": `Remove ${file.name}` },
    });
    const node = el("li", { className: "upload" }, [
      el("span", { className: "file-name", text: file.name }),
      status,
      progress,
      remove,
    ]);
    const item = { node, attachment: null, failed: false };
    uploadFile(this.headersFor, file, (share) => {
      progress.value = share;
    })
      .then((attachment) => {
        item.attachment = attachment;
        node.classList.add("uploaded");
        progress.remove();
      })
      .catch((error) => {
        item.failed = true;
        node.classList.add("failed");
        progress.remove();
        status.textContent =
          error instanceof ApiError ? error.message : "The upload failed. Check the connection.";
      });
    remove.addEventListener("click", () => {
      this.items = this.items.filter((other) => other !== item);
      node.remove();
      this.refresh();
    });
    this.items.push(item);
    this.tray.append(node);
    this.refresh();
  }

  uploading() {
    return this.items.some((item) => !item.attachment && !item.failed);
  }

  ids() {
    return this.items.filter((item) => item.attachment).map((item) => item.attachment.id);
  }

  clear() {
    this.items = [];
    this.tray.replaceChildren();
    this.refresh();
  }

  setDisabled(disabled) {
    this.button.disabled = disabled;
  }

  refresh() {
    show(this.tray, this.items.length > 0);
  }
}

/**
 * A message's files: images as previews that open the file, videos as players, documents as
 * download links. `fileUrl(url)` turns an API address into one the browser may load (the end
 * user's page fetches with its token and hands back a blob: address).
 */
export function attachmentList(attachments, fileUrl) {
  return el(
    "div",
    { className: "attachments" },
    attachments.map((attachment) => attachmentNode(attachment, fileUrl)),
  );
}

function attachmentNode(attachment, fileUrl) {
  const label = `${attachment.filename} (${formatSize(attachment.size)})`;
  if (attachment.kind === "image") {
    const image = el("img", { attrs: { alt: attachment.filename, loading: "lazy" } });
    const link = el("a", { className: "image", attrs: { title: label, target: "_blank" } }, [image]);
    setUrl(fileUrl, attachment.preview_url ?? attachment.url, (url) => image.setAttribute("src", url));
    setUrl(fileUrl, attachment.url, (url) => link.setAttribute("href", url));
    return link;
  }
  if (attachment.kind === "video") {
    const video = el("video", {
      attrs: { controls: "", preload: "metadata", title: label, "aria-label": attachment.filename },
    });
    setUrl(fileUrl, attachment.url, (url) => video.setAttribute("src", url));
    return video;
  }
  const link = el("a", { className: "document", attrs: { download: attachment.filename } }, [
    el("span", { className: "file-name", text: attachment.filename }),
    el("span", { className: "muted", text: formatSize(attachment.size) }),
  ]);
  setUrl(fileUrl, attachment.url, (url) => link.setAttribute("href", url));
  return link;
}

function setUrl(fileUrl, url, apply) {
  Promise.resolve(fileUrl(url)).then(apply, () => {});
}

/** For pages signed in by cookie: the API's addresses load as they are. */
export const directUrl = (url) => url;

/** For pages holding a bearer token: each file fetched once, kept as a blob: address. */
export function blobUrls(headersFor) {
  const cache = new Map();
  return (url) => {
    if (!cache.has(url)) {
      const loaded = fetch(url, { headers: headersFor("GET") }).then(async (response) => {
        if (!response.ok) throw new ApiError(response.status, {});
        return URL.createObjectURL(await response.blob());
      });
      loaded.catch(() => cache.delete(url));
      cache.set(url, loaded);
    }
    return cache.get(url);
  };
}

/** A message's summary in a list: its text, else what its files are. */
export function messageSummary(message) {
  if (message.body) return message.body;
  const count = message.attachments?.length ?? 0;
  if (!count) return "";
  return count === 1 ? `📎 ${message.attachments[0].filename}` : `📎 ${count} files`;
}
