// Data for a test run (start data, a user task's answer) as a small form of labelled inputs,
// with an "edit as JSON" view of the same object for power users.
import { el, t } from "./util.js";

const NAME = /^[A-Za-z_]\w*$/;

// A free text input: what parses as JSON (42, 3.5, true, null, "42") is sent as that value,
// anything else as the text itself, so designers type numbers without writing JSON (the rule
// is shown under the start data in modeler.html).
function readTyped(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function showTyped(value) {
  if (value === undefined) return "";
  return typeof value === "string" && readTyped(value) === value ? value : JSON.stringify(value);
}

// One input per field kind; a value the kind cannot hold (a number in a text field, after
// editing the JSON) falls back to a free input, so switching views never changes the data.
function control(field, value, id) {
  const attrs = { id, name: field.name, class: "form-control" };
  if (field.kind === "choice") {
    const choices = [...(field.required ? [] : [{ value: null, label: "—" }]), ...field.choices];
    const chosen = value === undefined ? 0 : choices.findIndex((c) => c.value === value);
    if (chosen >= 0) {
      const select = el("select", { ...attrs, class: "form-select" },
        choices.map((c) => el("option", { value: c.value === null ? "" : String(c.value) }, c.label ?? String(c.value))));
      select.selectedIndex = chosen;
      return { node: select, read: () => choices[select.selectedIndex].value };
    }
  }
  if (field.kind === "checkbox" && (value === undefined || typeof value === "boolean")) {
    const box = el("input", { ...attrs, type: "checkbox", class: "form-check-input mt-0", checked: value === true });
    return { node: el("div", { class: "input-group-text" }, box), read: () => box.checked };
  }
  if (field.kind === "number" && (value === undefined || value === null || typeof value === "number")) {
    const input = el("input", { ...attrs, type: "number", step: "any", value: value ?? "" });
    return { node: input, read: () => (input.value === "" ? null : Number(input.value)) };
  }
  if ((field.kind === "text" || field.kind === "textarea") && (value == null || typeof value === "string")) {
    const input = el(field.kind === "textarea" ? "textarea" : "input", { ...attrs, rows: field.kind === "textarea" ? 1 : null });
    input.value = value ?? "";
    return { node: input, read: () => (stillEmpty(value, input) ? null : input.value) };
  }
  const input = el("input", { ...attrs, value: value === null ? "" : showTyped(value) });
  return { node: input, read: () => (stillEmpty(value, input) ? null : readTyped(input.value)) };
}

// A record's empty field starts the process as null: shown as an empty input (not the text
// "null"), and null still unless the designer types something.
function stillEmpty(value, input) {
  return value === null && input.value === "";
}

// fields: [{name, label?, kind: "typed"|"text"|"textarea"|"number"|"checkbox"|"choice", choices?, required?}].
// open: rows may be removed and added (start data); otherwise the form's fields stay and only
// names the JSON adds may be removed.
export function dataEditor({ fields, values = {}, open = false, idPrefix, json = false }) {
  const known = new Map(fields.map((f) => [f.name, f]));
  const node = el("div", { class: "testrun-data" });
  let rows = [];
  let jsonText = null;

  function build(data, names) {
    rows = names.map((name) => {
      const field = known.get(name) || { name, kind: "typed" };
      const id = `${idPrefix}-${name}`;
      const input = control(field, data[name], id);
      const removable = open || !known.has(name);
      const row = el("div", { class: "input-group input-group-sm mb-1 testrun-field", "data-field": name },
        el("label", { class: "input-group-text", for: id, title: name },
          field.label && field.label !== name ? [el("span", {}, field.label), el("code", {}, name)] : el("code", {}, name)),
        input.node,
        removable ? el("button", {
          type: "button", class: "btn btn-outline-secondary testrun-remove", "aria-label": `${t("Remove")} ${name}`,
          onclick: () => { rows = rows.filter((r) => r.name !== name); row.remove(); },
        }, "×") : null);
      return { name, read: input.read, row };
    });
    node.replaceChildren(...rows.map((r) => r.row), ...(open ? [addRow()] : []));
  }

  // "Add a variable" for names the diagram scan missed.
  function addRow() {
    const name = el("input", {
      class: "form-control", maxlength: 64, placeholder: t("variable name"),
      "aria-label": t("variable name"), id: `${idPrefix}-new-name`,
    });
    const add = () => {
      const value = name.value.trim();
      name.setCustomValidity(NAME.test(value) ? "" : t("A name starts with a letter or _ and has only letters, digits and _."));
      if (!name.reportValidity()) return;
      if (!rows.some((r) => r.name === value)) build({ ...read(), [value]: "" }, [...rows.map((r) => r.name), value]);
      node.querySelector(`[name="${value}"]`).focus();
    };
    name.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); add(); } });
    name.addEventListener("input", () => name.setCustomValidity(""));
    return el("div", { class: "input-group input-group-sm mb-1 testrun-add" }, name,
      el("button", { type: "button", class: "btn btn-outline-secondary", id: `${idPrefix}-add`, onclick: add }, t("Add a variable")));
  }

  function parseJson() {
    let data;
    try {
      data = JSON.parse(jsonText.value || "{}");
    } catch {
      data = null;
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) throw new Error(t("Sample data must be a JSON object."));
    return data;
  }

  function read() {
    if (jsonText) return parseJson();
    return Object.fromEntries(rows.map((r) => [r.name, r.read()]));
  }

  function showForm(data) {
    const names = open ? Object.keys(data) : [...fields.map((f) => f.name), ...Object.keys(data).filter((n) => !known.has(n))];
    jsonText = null;
    build(data, names);
  }

  function showJson(data) {
    jsonText = el("textarea", { class: "form-control form-control-sm font-monospace testrun-json", rows: Math.min(8, Object.keys(data).length + 2), "aria-label": t("Data as JSON") });
    jsonText.value = JSON.stringify(data, null, 1);
    node.replaceChildren(jsonText);
  }

  showForm(values);
  if (json) showJson(read());

  return {
    node,
    read,
    // Throws (and stays in JSON) when the JSON is not an object.
    setJson(on) {
      if (on === Boolean(jsonText)) return;
      const data = read();
      if (on) showJson(data);
      else showForm(data);
    },
  };
}
