// Small helpers shared by the designer's pages.

// Strings translated by the server (Babel), handed over in a JSON script tag (CSP: no inline JS).
let strings = null;
export function t(key) {
  if (strings === null) {
    const node = document.getElementById("designer-i18n");
    strings = node ? JSON.parse(node.textContent) : {};
  }
  return strings[key] || key;
}

export function pageData(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

export function api(url, options) {
  return window.crmFetch(url, options);
}

export function debounce(fn, wait) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, wait);
  };
  debounced.pending = () => timer !== null;
  debounced.flush = (...args) => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      fn(...args);
    }
  };
  return debounced;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function downloadText(name, text, type = "application/xml") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Names listed as "Process data: a, b (what b is)" in the process documentation: the data a
// process starts with (the convention of the shipped diagrams).
export function processDataNames(rootBusinessObject) {
  const process = rootBusinessObject.processRef || rootBusinessObject;
  const docs = (process.documentation || []).map((d) => d.text || "").join("\n");
  const match = docs.match(/Process data:\s*([^\n]+)/i);
  if (!match) return [];
  return match[1].split(",").map((part) => (part.trim().match(/^[A-Za-z_]\w*/) || [])[0]).filter(Boolean);
}
