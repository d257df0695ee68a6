// Small DOM helpers of the no-code editors (automation rules, embedded-process bindings).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function select(options, value, onchange, label) {
  return el("select", { class: "form-select form-select-sm", "aria-label": label, onchange: (e) => onchange(e.target.value) },
    options.map(([key, text]) => el("option", { value: key, selected: String(key) === String(value ?? "") }, text)));
}

export function input(value, onchange, attrs = {}) {
  return el("input", { class: "form-control form-control-sm", value: value ?? "", oninput: (e) => onchange(e.target.value), ...attrs });
}

export const names = (text) => (text || "").split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
export const fieldOptions = (fields, filter = () => true) => fields.filter(filter).map((f) => [f.name, `${f.label} (${f.name})`]);
