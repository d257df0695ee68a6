// The form designer: the form-js editor, a side panel binding fields to CRM record fields
// (embedded fields, stored as properties.crm_field), a preview, and saving new versions.
import { FormEditor } from "@bpmn-io/form-js-editor";
import { Form } from "@bpmn-io/form-js-viewer";
import { dataAsText } from "../shared/data-as-text.js";
import "@bpmn-io/form-js-viewer/dist/assets/form-js.css";
import "@bpmn-io/form-js-editor/dist/assets/form-js-editor.css";
import "@bpmn-io/form-js-editor/dist/assets/dragula.css";
import "@bpmn-io/form-js-editor/dist/assets/properties-panel.css";
import "./designer.css";
import { chineseFieldNames, translateEditorChrome } from "./zh.js";

const INPUT_TYPES = new Set(["textfield", "textarea", "number", "checkbox", "checklist", "radio", "select", "taglist", "datetime"]);
const CRM_FIELD = "crm_field";

const config = JSON.parse(document.getElementById("form-designer-config").textContent);
const T = config.text;
const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

const EMPTY_SCHEMA = { type: "default", components: [], schemaVersion: 19 };

const $ = (selector) => document.querySelector(selector);
const messages = $("#designer-messages");

// "schema.comment" → the field as the designer sees it on the canvas: 审批意见 (comment).
function where(field) {
  const key = /^schema\.(.+)$/.exec(field)?.[1];
  if (!key) return field;
  const stack = [...(editor.saveSchema().components || [])];
  while (stack.length) {
    const component = stack.shift();
    if (component.key === key || component.id === key) return component.label ? `${component.label} (${key})` : key;
    stack.push(...(component.components || []));
  }
  return key;
}

function say(kind, text, details = []) {
  messages.replaceChildren();
  const box = document.createElement("div");
  box.className = `alert alert-${kind} py-2 my-2`;
  box.textContent = text;
  if (details.length) {
    const list = document.createElement("ul");
    list.className = "mb-0 small";
    for (const d of details) {
      const item = document.createElement("li");
      item.textContent = d.field ? `${where(d.field)}: ${d.message}` : d.message;
      list.appendChild(item);
    }
    box.appendChild(list);
  }
  messages.appendChild(box);
}

// The palette offers only the field types the server accepts (app/forms/validation.py): a
// file upload dragged in would only be refused at saving.
const paletteTypes = document.createElement("style");
paletteTypes.textContent = `.fjs-palette-field${config.fieldTypes.map((type) => `:not([data-field-type="${type}"])`).join("")} { display: none; }`;
document.head.appendChild(paletteTypes);

// In Chinese: field type names through form-js's field registry, the rest where it is shown (zh.js).
const chinese = document.documentElement.lang.startsWith("zh");
const editor = new FormEditor({ container: $("#form-editor"), additionalModules: chinese ? [chineseFieldNames] : [] });
if (chinese) translateEditorChrome($("#form-editor"));
window.crmFormEditor = editor; // for tests and the console
const modeling = editor.get("modeling");
const registry = editor.get("formFieldRegistry");
const selection = editor.get("selection");

const boundPaths = () => new Set(registry.getAll().map((f) => f.properties?.[CRM_FIELD]).filter(Boolean));

function uniqueKey(base) {
  const taken = new Set(registry.getAll().map((f) => f.key));
  let key = base;
  for (let n = 2; taken.has(key); n += 1) key = `${base}_${n}`;
  return key;
}

function bind(field, path) {
  const properties = { ...(field.properties || {}) };
  if (path) properties[CRM_FIELD] = path;
  else delete properties[CRM_FIELD];
  // Embedded fields show the record's value; nobody types into them.
  modeling.editFormField(field, { properties, readonly: Boolean(path) });
}

function addEmbedded(entry) {
  const { schema } = editor._getState();
  const field = modeling.addFormField(
    { type: entry.type, key: uniqueKey(entry.name), label: entry.label, readonly: true, properties: { [CRM_FIELD]: entry.path } },
    schema,
    schema.components.length,
  );
  selection.set(field);
}

function renderFieldList() {
  const type = $("#record-type").value;
  const group = config.catalogue.find((g) => g.type === type) || config.catalogue[0];
  const selected = selection.get();
  const canBind = selected && INPUT_TYPES.has(selected.type);
  const bound = boundPaths();
  const list = $("#crm-field-list");
  list.replaceChildren();
  for (const entry of group.fields) {
    const item = document.createElement("li");
    item.className = "list-group-item d-flex align-items-center gap-1 px-2 py-1";
    item.dataset.crmField = entry.path;
    const label = document.createElement("span");
    label.className = "me-auto text-truncate";
    label.textContent = entry.label;
    label.title = entry.path;
    item.appendChild(label);
    if (bound.has(entry.path)) {
      const badge = document.createElement("span");
      badge.className = "badge text-bg-success";
      badge.textContent = "✓";
      item.appendChild(badge);
    }
    const add = document.createElement("button");
    add.type = "button";
    add.className = "btn btn-sm btn-outline-primary py-0";
    add.textContent = T.add;
    add.dataset.action = "add";
    add.addEventListener("click", () => addEmbedded(entry));
    item.appendChild(add);
    const bindButton = document.createElement("button");
    bindButton.type = "button";
    bindButton.className = "btn btn-sm btn-outline-secondary py-0";
    bindButton.textContent = T.bind;
    bindButton.title = T.bindTitle;
    bindButton.dataset.action = "bind";
    bindButton.disabled = !canBind;
    bindButton.addEventListener("click", () => bind(selection.get(), entry.path));
    item.appendChild(bindButton);
    list.appendChild(item);
  }
  renderSelection();
}

function renderSelection() {
  const info = $("#selected-field-info");
  const field = selection.get();
  info.replaceChildren();
  if (!field || field.type === "default") {
    info.textContent = T.noSelection;
    return;
  }
  const title = document.createElement("div");
  title.textContent = fill(T.selected, { label: field.label || field.key || field.type });
  info.appendChild(title);
  if (!INPUT_TYPES.has(field.type)) {
    info.append(T.notInput);
    return;
  }
  const path = field.properties?.[CRM_FIELD];
  if (!path && !field.readonly) info.appendChild(requiredWhenEditor(field));
  if (path) {
    const line = document.createElement("div");
    line.className = "d-flex align-items-center gap-2 mt-1";
    const code = document.createElement("code");
    code.textContent = fill(T.boundTo, { field: path });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-sm btn-outline-danger py-0";
    remove.id = "unbind-field";
    remove.textContent = T.unbind;
    remove.addEventListener("click", () => bind(field, null));
    line.append(code, remove);
    info.appendChild(line);
  }
}

// "Required when other field = value": our server-side rule (properties.required_when),
// e.g. a rejection needs a comment.
function requiredWhenEditor(field) {
  const box = document.createElement("div");
  box.className = "mt-2";
  box.id = "required-when";
  const label = document.createElement("label");
  label.className = "form-label mb-1";
  label.textContent = T.requiredWhen;
  label.htmlFor = "required-when-field";
  const [otherKey = "", op = "=", expected = ""] = (/^\s*(\w+)\s*(!=|=)\s*(.*?)\s*$/.exec(field.properties?.required_when || "") || []).slice(1);
  const other = document.createElement("select");
  other.className = "form-select form-select-sm mb-1";
  other.id = "required-when-field";
  other.add(new Option(T.requiredWhenNever, ""));
  for (const candidate of registry.getAll()) {
    if (candidate.id !== field.id && candidate.key && INPUT_TYPES.has(candidate.type)) {
      other.add(new Option(`${candidate.label || candidate.key} (${candidate.key})`, candidate.key, false, candidate.key === otherKey));
    }
  }
  const row = document.createElement("div");
  row.className = "d-flex gap-1";
  const operator = document.createElement("select");
  operator.className = "form-select form-select-sm w-auto";
  operator.id = "required-when-op";
  operator.add(new Option("=", "=", false, op === "="));
  operator.add(new Option("≠", "!=", false, op === "!="));
  const value = document.createElement("input");
  value.className = "form-control form-control-sm";
  value.id = "required-when-value";
  value.value = expected;
  value.placeholder = T.value;
  // A choice field is compared by its stored value (reject), not the label shown (驳回): offer
  // the values, and take a typed label as its value.
  const optionsOf = (key) => (registry.getAll().find((c) => c.key === key)?.values || []).filter((o) => o && o.value !== undefined);
  const suggestions = document.createElement("datalist");
  suggestions.id = "required-when-options";
  value.setAttribute("list", suggestions.id);
  const suggest = () => suggestions.replaceChildren(...optionsOf(other.value).map((o) => new Option(o.label || String(o.value), String(o.value))));
  other.addEventListener("change", suggest);
  suggest();
  const apply = document.createElement("button");
  apply.type = "button";
  apply.className = "btn btn-sm btn-outline-primary";
  apply.id = "required-when-apply";
  apply.textContent = T.apply;
  apply.addEventListener("click", () => {
    const properties = { ...(field.properties || {}) };
    const typed = value.value.trim();
    const option = optionsOf(other.value).find((o) => o.label === typed);
    if (option) value.value = String(option.value);
    if (other.value) properties.required_when = `${other.value}${operator.value}${option ? option.value : typed}`;
    else delete properties.required_when;
    modeling.editFormField(field, { properties });
  });
  row.append(operator, value, suggestions, apply);
  box.append(label, other, row);
  return box;
}

editor.on("selection.changed", renderFieldList);
editor.on("changed", renderFieldList);
$("#record-type").addEventListener("change", renderFieldList);

// Preview: the same schema in the form-js viewer (with its bpmn.io watermark).
let preview = null;
$("#toggle-preview").addEventListener("click", async () => {
  const showing = !$("#form-preview").classList.contains("d-none");
  if (showing) {
    preview?.destroy();
    preview = null;
    $("#form-preview").classList.add("d-none");
    $("#form-editor").classList.remove("d-none");
    $("#toggle-preview").textContent = T.preview;
    return;
  }
  // As approvers will see it: what is typed into its fields is shown as text in its text blocks.
  preview = new Form({ container: $("#form-preview"), additionalModules: [dataAsText] });
  await preview.importSchema(editor.saveSchema(), {});
  $("#form-editor").classList.add("d-none");
  $("#form-preview").classList.remove("d-none");
  $("#toggle-preview").textContent = T.previewBack;
});

// Unsaved changes: the browser asks before leaving the page.
let dirty = false;
editor.on("commandStack.changed", () => {
  dirty = true;
});
window.addEventListener("beforeunload", (event) => {
  if (dirty) {
    event.preventDefault();
    event.returnValue = "";
  }
});

let baseVersion = config.version || 0; // 0: a new form, whose key must not be taken
async function saveForm({ dropFieldsInUse = false } = {}) {
  const key = $("#form-key").value.trim();
  const name = $("#form-name").value.trim();
  if (!key || !name) {
    say("warning", T.keyRequired);
    return;
  }
  const button = $("#save-form");
  button.disabled = true;
  messages.replaceChildren();
  try {
    const schema = editor.saveSchema();
    const saved = await window.crmFetch(config.saveUrl, {
      method: "POST", body: { key, name, schema, base_version: baseVersion, drop_fields_in_use: dropFieldsInUse },
    });
    dirty = false;
    const unchanged = baseVersion === saved.version;
    baseVersion = saved.version;
    say("success", fill(unchanged ? T.unchanged : T.saved, { version: saved.version }));
    $("#form-version").textContent = fill(T.editingVersion, { version: saved.version });
    if (!config.key) {
      // A new form now has a key: further saves are versions of it.
      config.key = key;
      $("#form-key").readOnly = true;
      history.replaceState(null, "", config.designUrl.replace("__KEY__", encodeURIComponent(key)));
    }
  } catch (error) {
    say(error.code === "fields_in_use" ? "warning" : "danger", error.message || T.error, error.details);
    if (error.code === "fields_in_use") {
      // The designer may mean it (the processes change next): saving anyway is one click away.
      const anyway = document.createElement("button");
      anyway.type = "button";
      anyway.id = "save-anyway";
      anyway.className = "btn btn-sm btn-outline-danger mt-2";
      anyway.textContent = T.saveAnyway;
      anyway.addEventListener("click", () => saveForm({ dropFieldsInUse: true }));
      messages.lastElementChild.appendChild(anyway);
    }
  } finally {
    button.disabled = false;
  }
}
$("#save-form").addEventListener("click", () => saveForm());

editor.importSchema(config.schema || EMPTY_SCHEMA).then(() => {
  dirty = false;
  // A form bound to a contract's fields reopens on the contract's, not the first record type's.
  const [bound] = boundPaths();
  if (bound && config.catalogue.some((g) => g.type === bound.split(".")[0])) $("#record-type").value = bound.split(".")[0];
  renderFieldList();
  $("#form-editor").dataset.ready = "true";
});
