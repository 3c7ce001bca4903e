// The Engagements page's form: shows only the chosen type's fields, and uploads each picked
// file at once so the form itself sends only the upload's id.
// Listeners sit on the document: htmx swaps the form in and out and runs no scripts it brings.

const UPLOADS = "/api/v1/attachments";

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

/** Shows the fieldset of the chosen type; the others are disabled so nothing of theirs is sent. */
function showFieldsOf(form) {
  const type = form.querySelector('[name="type"]')?.value ?? "";
  for (const fieldset of form.querySelectorAll("fieldset[data-engagement-types]")) {
    const on = fieldset.dataset.engagementTypes.split(" ").includes(type);
    fieldset.hidden = !on;
    fieldset.disabled = !on;
  }
}

async function uploadOne(file) {
  const body = new FormData();
  body.append("file", file);
  const response = await fetch(UPLOADS, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken() },
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`${file.name}: ${answer.detail ?? "the file could not be uploaded."}`);
  }
  return answer.id;
}

function hiddenInput(name, value) {
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  return input;
}

/** Uploads the files picked in `input` and keeps their ids beside it. */
async function upload(input) {
  const box = input.closest("[data-file-field]");
  const name = box.dataset.fileField;
  const status = box.querySelector("[data-file-status]");
  const submit = input.form?.querySelector('button[type="submit"]');
  const files = [...input.files];
  if (!files.length) return;
  if (submit) submit.disabled = true;
  status.classList.remove("engagement-file-error");
  status.textContent = "Uploading…";
  try {
    const ids = [];
    for (const file of files) ids.push(await uploadOne(file));
    if (!input.multiple) {
      for (const old of box.querySelectorAll(`input[type="hidden"][name="${name}"]`)) old.remove();
    }
    for (const id of ids) box.append(hiddenInput(name, id));
    const count = box.querySelectorAll(`input[type="hidden"][name="${name}"]`).length;
    const names = files.map((file) => file.name).join(", ");
    status.textContent = input.multiple ? `${names} attached (${count} in all)` : `${names} attached`;
  } catch (error) {
    status.classList.add("engagement-file-error");
    status.textContent = error instanceof Error ? error.message : "The file could not be uploaded.";
  } finally {
    if (submit) submit.disabled = false;
    input.value = "";
  }
}

function clearFiles(button) {
  const box = button.closest("[data-file-field]");
  const name = box.dataset.fileField;
  for (const old of box.querySelectorAll(`input[type="hidden"][name="${name}"]`)) old.remove();
  if (!box.querySelector('input[type="file"]').multiple) box.append(hiddenInput(name, ""));
  box.querySelector("[data-file-status]").textContent = "No file attached";
  button.remove();
}

document.addEventListener("change", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return;
  const form = target.closest("form[data-engagement-form]");
  if (!form) return;
  if (target.matches('select[name="type"]')) showFieldsOf(form);
  if (target.matches('input[type="file"][data-upload-for]')) upload(target);
});

document.addEventListener("click", (event) => {
  const target = event.target;
  if (target instanceof HTMLElement && target.matches("[data-clear-files]")) clearFiles(target);
});
