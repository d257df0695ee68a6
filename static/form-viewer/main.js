// The form viewer (form-js) for previews and the inbox: window.CrmFormViewer.render(...).
// Embedded fields arrive read-only in the schema; server-side errors are shown per field.
import { Form } from "@bpmn-io/form-js-viewer";
import { dataAsText } from "../shared/data-as-text.js";
import "@bpmn-io/form-js-viewer/dist/assets/form-js.css";
import "./viewer.css";

const readJson = (id) => {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
};

// form-js writes its own validation messages in English; the page passes translations as
// [[regex, template with $1..]] in #form-viewer-text.
function translator(table) {
  const rules = (table || []).map(([pattern, template]) => [new RegExp(pattern), template]);
  return (message) => {
    for (const [re, template] of rules) {
      const match = re.exec(message);
      if (match) return template.replace(/\$(\d)/g, (_, n) => match[Number(n)] ?? "");
    }
    return message;
  };
}

const clone = (value) => JSON.parse(JSON.stringify(value));


function walk(components, visit) {
  for (const component of components || []) {
    visit(component);
    walk(component.components, visit);
  }
}

// Shows "current value: X" under embedded fields whose record changed since the start.
function withDiffs(schema, diffs, template) {
  const out = clone(schema);
  walk(out.components, (component) => {
    if (component.key && diffs && component.key in diffs) {
      const [, now] = diffs[component.key];
      const note = template.replace("{value}", now === null || now === undefined || now === "" ? "—" : String(now));
      component.description = component.description ? `${component.description} · ${note}` : note;
    }
  });
  return out;
}

// form-js writes "Select" in an empty select and "Search" in its search boxes, in English
// whatever the page's language: the page's words replace them as form-js renders them (it
// leaves a text it rendered alone until its value changes, so the replacement stays).
function translateWidgets(container, text) {
  const swap = () => {
    for (const display of container.querySelectorAll(".fjs-select-placeholder")) {
      // The text node itself: form-js keeps hold of it, and would put back one replaced whole.
      for (const node of display.childNodes) {
        if (node.nodeType === Node.TEXT_NODE && node.data === "Select" && text.select !== "Select") node.data = text.select;
      }
    }
    // Written only where it changes: the same text written again is a mutation too, and the
    // observer below would swap forever (the English task page froze at 100% CPU).
    if (text.search !== "Search") {
      for (const input of container.querySelectorAll('input[placeholder="Search"]')) input.placeholder = text.search;
    }
  };
  swap();
  new MutationObserver(swap).observe(container, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["placeholder", "class"],
  });
}

async function render(container, options = {}) {
  const text = { currentValue: "Current value: {value}", select: "Select", search: "Search",
    ...(readJson("form-viewer-text")?.text || {}), ...(options.text || {}) };
  const translate = translator(options.messages || readJson("form-viewer-text")?.messages);
  const schema = withDiffs(options.schema, options.diffs, text.currentValue);
  const form = new Form({
    container,
    properties: { readOnly: Boolean(options.readOnly) },
    additionalModules: [dataAsText],
  });
  const validator = form.get("validator");
  const validateField = validator.validateFieldInstance.bind(validator);
  validator.validateFieldInstance = (instance, value) => validateField(instance, value).map(translate);
  await form.importSchema(schema, options.data || {});
  translateWidgets(container, text);

  const idsByKey = () => {
    const out = {};
    for (const field of form.get("formFieldRegistry").getAll()) if (field.key) out[field.key] = field.id;
    return out;
  };
  const keysById = () => Object.fromEntries(Object.entries(idsByKey()).map(([k, id]) => [id, k]));

  const handle = {
    form,
    // Runs form-js' own checks: { data, errors: {key: [messages]} }.
    submit() {
      const { data, errors } = form.submit();
      const byKey = {};
      const keys = keysById();
      for (const [id, messages] of Object.entries(errors)) byKey[keys[id] || id] = messages;
      return { data, errors: byKey };
    },
    // Server-side errors: {key: message} or [{field, message}].
    showErrors(errors) {
      const list = Array.isArray(errors) ? errors : Object.entries(errors || {}).map(([field, message]) => ({ field, message }));
      const ids = idsByKey();
      const state = {};
      for (const { field, message } of list) {
        const id = ids[field];
        if (id) (state[id] = state[id] || []).push(message);
      }
      form._setState({ errors: state });
      return list.filter(({ field }) => !ids[field]);
    },
    clearErrors() {
      form._setState({ errors: {} });
    },
    destroy() {
      form.destroy();
    },
  };
  return handle;
}

window.CrmFormViewer = { render };

// The designer's preview page: render the sample and check a submission on the server.
async function mountPreview() {
  const config = readJson("form-preview-config");
  if (!config) return;
  const viewer = await render(document.getElementById("form-viewer"), config);
  const result = document.getElementById("preview-result");
  document.getElementById("preview-submit").addEventListener("click", async () => {
    const { data, errors } = viewer.submit();
    if (Object.keys(errors).length) {
      result.className = "text-danger";
      result.textContent = config.text.invalid;
      return;
    }
    const answer = await window.crmFetch(config.validateUrl, { method: "POST", body: { data, version: config.version } });
    viewer.showErrors(answer.errors);
    result.className = answer.valid ? "text-success" : "text-danger";
    result.textContent = answer.valid ? config.text.valid : config.text.invalid;
    result.dataset.valid = String(answer.valid);
  });
  document.getElementById("form-viewer").dataset.ready = "true";
}

mountPreview();
