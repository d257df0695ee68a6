// The no-code condition builder: AND/OR groups of {field, op, value} leaves (the format of
// app/automation/conditions.py), fields and operators as /api/v1/automation-fields lists them.
// Used by the rule editor and by the embedded-process binding form.
import { el, fieldOptions, input, names, select } from "./dom.js";

const NO_VALUE = new Set(["is_empty", "is_not_empty", "changed"]);
const isGroup = (node) => typeof node === "object" && node !== null && ("and" in node || "or" in node);

// Empty groups dropped; null when nothing is left (no condition: always).
export function savedCondition(condition) {
  const prune = (node) => {
    if (!isGroup(node)) return node;
    const key = "and" in node ? "and" : "or";
    return { [key]: node[key].map(prune).filter((c) => !isGroup(c) || (c.and || c.or).length) };
  };
  const out = condition ? prune(JSON.parse(JSON.stringify(condition))) : null;
  return out && isGroup(out) && !(out.and || out.or).length ? null : out;
}

// Renders an editor for `condition` into `container`; `fields` are one record type's fields,
// `operators` the operators per field type, `texts` the page's translated words. The editor
// changes the condition in place and calls `onChange` after every edit; `condition()` returns it.
// `invalid`: the paths the server refused in this condition ("and.1.or.0.value"): their rows are
// marked until the next edit.
export function conditionEditor(container, { condition, fields, operators, texts: T, onChange = () => {}, invalid = [] }) {
  const wrapped = !(condition && isGroup(condition));
  let root = wrapped ? { and: condition && condition.field ? [condition] : [] } : condition;
  // A bare leaf's paths ("value") are the wrapping group's first leaf's.
  let refused = wrapped ? invalid.map((p) => (p ? `and.0.${p}` : "and.0")) : invalid;
  const fieldOf = (name) => fields.find((f) => f.name === name);
  // A value typed: the marks go, the rows stay. A structural change: drawn again, unmarked.
  const edited = () => {
    refused = [];
    container.querySelectorAll(".condition-invalid").forEach((row) => row.classList.remove("condition-invalid"));
    onChange();
  };
  const changed = () => { refused = []; render(); onChange(); };

  function leafEditor(leaf, parent, index, path) {
    const spec = fieldOf(leaf.field) || fields[0];
    leaf.field = spec.name;
    const ops = operators[spec.type] || [];
    if (!ops.includes(leaf.op)) leaf.op = ops[0];
    let valueBox = null;
    if (!NO_VALUE.has(leaf.op)) {
      const shown = Array.isArray(leaf.value) ? leaf.value.join(", ") : leaf.value;
      if (spec.choices.length && leaf.op !== "in") {
        valueBox = select([["", ""], ...spec.choices.map((c) => [c, spec.choice_labels?.[c] || c])], shown, (v) => { leaf.value = v; edited(); }, T.value);
      } else {
        valueBox = input(shown, (v) => { leaf.value = leaf.op === "in" ? names(v) : v; edited(); },
          { "aria-label": T.value, placeholder: spec.type === "date" ? "2026-01-31 / today+30" : "" });
      }
    }
    const bad = refused.some((p) => p === path || p.startsWith(`${path}.`));
    return el("div", { class: `d-flex flex-wrap gap-2 mb-2 condition-leaf editor-row${bad ? " condition-invalid" : ""}` },
      select(fieldOptions(fields), leaf.field, (v) => { leaf.field = v; leaf.value = ""; changed(); }, T.field),
      select(ops.map((op) => [op, T.ops[op] || op]), leaf.op, (v) => { leaf.op = v; changed(); }, T.operator),
      valueBox,
      el("button", { type: "button", class: "btn btn-sm btn-outline-secondary text-nowrap", onclick: () => { parent.splice(index, 1); changed(); } }, T.remove));
  }

  function groupEditor(group, onRemove, path) {
    const key = "and" in group ? "and" : "or";
    const children = group[key];
    const at = (i) => `${path ? `${path}.` : ""}${key}.${i}`;
    return el("div", { class: "border rounded p-2 mb-2 condition-group" },
      el("div", { class: "d-flex flex-wrap gap-2 mb-2" },
        select([["and", T.and], ["or", T.or]], key, (v) => { if (v !== key) { group[v] = children; delete group[key]; } changed(); }, T.join),
        el("button", { type: "button", class: "btn btn-sm btn-outline-primary text-nowrap", onclick: () => { children.push({ field: fields[0].name, op: "", value: "" }); changed(); } }, T.addCondition),
        el("button", { type: "button", class: "btn btn-sm btn-outline-primary text-nowrap", onclick: () => { children.push({ and: [] }); changed(); } }, T.addGroup),
        onRemove ? el("button", { type: "button", class: "btn btn-sm btn-outline-secondary text-nowrap", onclick: onRemove }, T.remove) : null),
      children.map((child, i) => (isGroup(child)
        ? groupEditor(child, () => { children.splice(i, 1); changed(); }, at(i))
        : leafEditor(child, children, i, at(i)))));
  }

  function render() { container.replaceChildren(groupEditor(root, null, "")); }

  render();
  return { condition: () => root };
}
