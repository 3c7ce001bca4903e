// The Partnership, Add-ons and Requests pages: Reject opens the row's dialog for the
// description, Cancel closes it. Without scripts the Reject link leads to a page with the same
// form instead. A row htmx swaps in with its dialog open (the description was refused) shows that
// dialog as a modal again. Listeners sit on the document: htmx swaps rows in and out.

function showModal(dialog) {
  // The server can only send a dialog open, not modal: closed first, it can become modal.
  if (dialog.open) {
    dialog.close();
  }
  dialog.showModal();
  dialog.querySelector("textarea")?.focus();
}

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-dialog]")) {
    event.target.closest("dialog")?.close();
    return;
  }
  const opener = event.target.closest("a[data-dialog]");
  const dialog = opener && document.getElementById(opener.dataset.dialog);
  if (!dialog) {
    return;
  }
  event.preventDefault();
  showModal(dialog);
});

document.addEventListener("htmx:load", (event) => {
  for (const dialog of event.detail.elt.querySelectorAll("dialog.reject-dialog[open]")) {
    showModal(dialog);
  }
});
