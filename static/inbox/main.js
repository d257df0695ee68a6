// Inbox pages: the task form and its actions, claim/release, delegate/reassign/comment,
// attachments, withdraw, operator actions, and the diagram with completed/active/path markers.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "./inbox.css";
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";

import { askInDialog } from "../shared/ask-dialog.js";
import { reloadSaying } from "../shared/done-message.js";

const readJson = (id) => {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
};

const fail = (error) => window.alert(error.message || String(error));

// A form's refusal said in the form: next to the field it concerns, what was typed kept (an
// alert said "输入有误：comment" and hid why: "use 1 to 4000 characters").
function showFormError(form, error) {
  form.querySelectorAll(".is-invalid").forEach((field) => field.classList.remove("is-invalid"));
  form.querySelectorAll(".form-error").forEach((node) => node.remove());
  const details = error.details || [];
  const loose = [];
  for (const detail of details) {
    const field = detail.field && form.elements.namedItem(detail.field);
    if (field && field.classList) {
      field.classList.add("is-invalid");
      const said = document.createElement("div");
      said.className = "invalid-feedback form-error";
      said.textContent = detail.message;
      field.after(said);
    } else {
      loose.push(detail.message);
    }
  }
  const box = document.createElement("div");
  box.className = "alert alert-danger small py-1 mb-2 form-error";
  box.setAttribute("role", "alert");
  box.textContent = details.length && !loose.length ? error.message.split(/[:：]/)[0] : [error.message, ...loose]
    .filter((text, index, all) => text && all.indexOf(text) === index).join(" ");
  form.prepend(box);
}

// ---------------------------------------------------------------- diagram
async function mountDiagram() {
  const config = readJson("diagram-config");
  const container = document.getElementById("diagram");
  if (!config || !container) return;
  const viewer = new NavigatedViewer({ container });
  try {
    await viewer.importXML(config.xml);
  } catch (error) {
    container.textContent = error.message;
    return;
  }
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const mark = (ids, css) => (ids || []).forEach((id) => registry.get(id) && canvas.addMarker(id, css));
  const markers = config.markers || {};
  mark(markers.completed, "inbox-completed");
  mark(markers.active, "inbox-active");
  // Flows come as [source, target] pairs: mark the sequence flow between them.
  const taken = new Set((markers.flows || []).map(([source, target]) => `${source}>${target}`));
  registry
    .filter((el) => el.type === "bpmn:SequenceFlow")
    .forEach((el) => {
      const bo = el.businessObject;
      if (taken.has(`${bo.sourceRef?.id}>${bo.targetRef?.id}`)) canvas.addMarker(el.id, "inbox-path");
    });
  canvas.zoom("fit-viewport", "auto");
  container.dataset.ready = "true";
  container.dataset.markedActive = (markers.active || []).join(",");
}

// ---------------------------------------------------------------- the task form
// Back to the inbox as it was left (its filter, sort and page): after each decision the
// approver re-applied the filter to find the next task.
const INBOX_QUERY = "crm-inbox-query";
if (document.getElementById("inbox-filters")) {
  const query = new URLSearchParams(window.location.search);
  query.delete("completed");
  sessionStorage.setItem(INBOX_QUERY, query.toString());
}

function inboxAsLeft(url) {
  const target = new URL(url, window.location.origin);
  for (const [key, value] of new URLSearchParams(sessionStorage.getItem(INBOX_QUERY) || "")) {
    if (!target.searchParams.has(key)) target.searchParams.set(key, value);
  }
  return target.pathname + target.search;
}

// After a refused answer, to the first field marked wrong (as the record forms do), else back to
// the button: disabled while sending, it had dropped focus to the page's top.
function focusFirstError(button) {
  // form-js renders its errors after this turn of the event loop.
  setTimeout(() => {
    const field = document.querySelector('#task-form [aria-invalid="true"], #task-form .fjs-has-errors input');
    (field || button).focus();
  }, 0);
}

async function mountTask() {
  const config = readJson("task-config");
  if (!config) return;
  const message = document.getElementById("action-message");
  const errorBox = document.getElementById("form-errors");
  const formNode = document.getElementById("task-form");
  let viewer = null;
  if (formNode && config.form.schema) {
    viewer = await window.CrmFormViewer.render(formNode, config.form);
    formNode.dataset.ready = "true";
  }
  const say = (text, css) => {
    if (!message) return;
    message.textContent = text;
    message.className = `small align-self-center ${css || ""}`;
  };
  const showErrors = (details) => {
    const rest = viewer ? viewer.showErrors(details) : details;
    errorBox.classList.toggle("d-none", !rest.length);
    errorBox.textContent = rest.map((d) => (d.field ? `${d.field}: ${d.message}` : d.message)).join("; ");
  };
  const values = () => (viewer ? viewer.submit() : { data: {}, errors: {} });
  // A decision and comment typed, then Home clicked: they were gone. Leaving with answers not
  // sent or saved as a draft asks first.
  let unsent = false;
  ["input", "change"].forEach((type) => formNode?.addEventListener(type, () => { unsent = true; }));
  window.addEventListener("beforeunload", (event) => {
    if (unsent && document.body.dataset.taskDone !== "true") event.preventDefault();
  });

  document.getElementById("complete-button")?.addEventListener("click", async (event) => {
    const { data, errors } = values();
    if (Object.keys(errors).length) {
      say(config.text.fix, "text-danger");
      focusFirstError(event.target);
      return;
    }
    event.target.disabled = true;
    try {
      await window.crmFetch(config.urls.complete, { method: "POST", body: { data } });
      say(config.text.completed, "text-success");
      document.body.dataset.taskDone = "true";
      setTimeout(() => window.location.assign(inboxAsLeft(config.urls.inbox)), 600);
    } catch (error) {
      event.target.disabled = false;
      if (error.details?.length) showErrors(error.details);
      // Only a refusal naming fields is the form's to fix (an ended session is a 400 or 401 too).
      say(error.details?.length ? config.text.fix : config.text.error + error.message, "text-danger");
      focusFirstError(event.target);
    }
  });
  document.getElementById("draft-button")?.addEventListener("click", async () => {
    const { data } = viewer ? viewer.form.submit() : { data: {} };
    try {
      await window.crmFetch(config.urls.draft, { method: "POST", body: { data } });
      unsent = false;
      say(config.text.draftSaved, "text-success");
    } catch (error) {
      say(config.text.error + error.message, "text-danger");
    }
  });
}

// ---------------------------------------------------------------- small forms posting JSON
function jsonForm(id, toBody) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await window.crmFetch(form.dataset.url, { method: "POST", body: toBody(new FormData(form)) });
      reloadSaying(form.dataset.done); // the page shows the new state and says what was done
    } catch (error) {
      showFormError(form, error);
    }
  });
}

jsonForm("delegate-form", (f) => ({ to: f.get("to"), comment: f.get("comment") || null, return_to_delegator: f.get("return_to_delegator") === "on" }));
jsonForm("reassign-form", (f) => ({ to: f.get("to"), comment: f.get("comment") || null }));
jsonForm("comment-form", (f) => ({ comment: f.get("comment") }));
// Retry after fixing data: the textarea holds a JSON object (empty: retry as is).
jsonForm("retry-form", (f) => {
  const text = (f.get("data") || "").trim();
  return { data: text ? JSON.parse(text) : null };
});

document.getElementById("attachment-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await window.crmFetch(event.target.dataset.url, { method: "POST", body: new FormData(event.target) });
    reloadSaying(event.target.dataset.done);
  } catch (error) {
    showFormError(event.target, error);
  }
});

document.querySelectorAll("form[data-reassign-url]").forEach((form) => {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await window.crmFetch(form.dataset.reassignUrl, { method: "POST", body: { to: new FormData(form).get("to") } });
      reloadSaying(form.dataset.done);
    } catch (error) {
      showFormError(form, error);
    }
  });
});

// ---------------------------------------------------------------- buttons
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-task-action], [data-withdraw-url], [data-operator-url]");
  if (!button) return;
  const url = button.dataset.url || button.dataset.withdrawUrl || button.dataset.operatorUrl;
  let body = {};
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  if (button.dataset.reasonPrompt) {
    // Asked in the page's dialog (inbox/_reason_dialog.html), not the browser's prompt.
    const reason = await askInDialog(document.getElementById("reason-dialog"),
      { title: button.dataset.reasonPrompt, confirm: button.textContent.trim() });
    if (reason === null) return; // cancelled
    body = { reason };
  }
  button.disabled = true;
  try {
    await window.crmFetch(url, { method: "POST", body });
    reloadSaying(button.dataset.done);
  } catch (error) {
    button.disabled = false;
    // Out of date (taken or closed meanwhile): the page shows how things stand now, and why.
    if (error.status === 409) reloadSaying(error.message, "warning");
    else fail(error);
  }
});

mountDiagram();
mountTask();
