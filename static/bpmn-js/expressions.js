// Conditions and ISO-8601 values as the engine's restricted expression language reads them.

export const OPERATORS = ["==", "!=", ">", ">=", "<", "<=", "contains", "not_contains", "empty", "not_empty"];
const UNARY = new Set(["empty", "not_empty"]);
const IDENT = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/;

export function isUnary(op) {
  return UNARY.has(op);
}

// A value typed in the builder: numbers and true/false stay literals, the rest is quoted text.
export function literal(value) {
  const text = String(value ?? "").trim();
  if (/^-?\d+(\.\d+)?$/.test(text) || text === "true" || text === "false" || text === "null") return text;
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function unliteral(text) {
  text = text.trim();
  const quoted = text.match(/^'((?:[^'\\]|\\.)*)'$/) || text.match(/^"((?:[^"\\]|\\.)*)"$/);
  if (quoted) return quoted[1].replace(/\\(.)/g, "$1");
  return text;
}

export function rowToExpression({ field, op, value }) {
  if (!IDENT.test(field || "")) return null;
  if (op === "empty") return `!${field}`;
  if (op === "not_empty") return `!!${field}`;
  if (op === "contains") return `${literal(value)} in ${field}`;
  if (op === "not_contains") return `${literal(value)} not in ${field}`;
  return `${field} ${op} ${literal(value)}`;
}

// rows + "&&" / "||" → "${...}"; null when a row is incomplete.
export function buildCondition(rows, join) {
  const parts = rows.map(rowToExpression);
  if (!parts.length || parts.some((p) => p === null)) return null;
  return "${" + parts.join(join === "||" ? " || " : " && ") + "}";
}

const ROW_PATTERNS = [
  [/^!!\s*([\w.]+)$/, (m) => ({ field: m[1], op: "not_empty", value: "" })],
  [/^!\s*([\w.]+)$/, (m) => ({ field: m[1], op: "empty", value: "" })],
  [/^('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)\s+not\s+in\s+([\w.]+)$/,
    (m) => ({ field: m[2], op: "not_contains", value: unliteral(m[1]) })],
  [/^('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)\s+in\s+([\w.]+)$/,
    (m) => ({ field: m[2], op: "contains", value: unliteral(m[1]) })],
  [/^([\w.]+)\s*(==|!=|>=|<=|>|<)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)$/,
    (m) => ({ field: m[1], op: m[2], value: unliteral(m[3]) })],
];

// "a && b && c" → parts and "&&", splitting only outside quoted text; null when && and ||
// are mixed or parentheses group things (the builder cannot show that: raw mode).
function splitTopLevel(text) {
  const parts = [];
  let join = null;
  let quote = null;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i += 1;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === "(" || c === ")") {
      return null;
    } else if ((c === "&" || c === "|") && text[i + 1] === c) {
      const op = c + c;
      if (join && join !== op) return null;
      join = op;
      parts.push(text.slice(start, i));
      start = i + 2;
      i += 1;
    }
  }
  parts.push(text.slice(start));
  return { parts, join: join || "&&" };
}

// The builder's rows for an expression it could have written, else null (raw mode).
export function parseCondition(expression) {
  let text = (expression || "").trim();
  if (!text) return { rows: [], join: "&&" };
  const wrapped = text.match(/^[$#]\{([\s\S]*)\}$/);
  if (wrapped) text = wrapped[1].trim();
  const split = splitTopLevel(text);
  if (split === null) return null;
  const { parts, join } = split;
  const rows = [];
  for (const part of parts) {
    const found = ROW_PATTERNS.map(([re, make]) => {
      const m = part.trim().match(re);
      return m ? make(m) : null;
    }).find(Boolean);
    if (!found) return null;
    rows.push(found);
  }
  return { rows, join };
}

// --- ISO-8601 ---------------------------------------------------------------------------
export const UNITS = { M: "minutes", H: "hours", D: "days", W: "weeks" };

export function durationToIso(amount, unit) {
  const n = Number.parseInt(amount, 10);
  if (!Number.isFinite(n) || n <= 0) return null;
  if (unit === "D") return `P${n}D`;
  if (unit === "W") return `P${n}W`;
  return `PT${n}${unit}`; // minutes and hours are time parts: PT30M, PT2H (PT1D is invalid)
}

export function isoToDuration(text) {
  const m = (text || "").trim().match(/^P(?:(\d+)([DW])|T(\d+)([HM]))$/i);
  if (!m) return null;
  return m[1] ? { amount: m[1], unit: m[2].toUpperCase() } : { amount: m[3], unit: m[4].toUpperCase() };
}

// <input type="datetime-local"> value (local time) → UTC ISO-8601 with Z.
export function localToIso(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function isoToLocal(text) {
  const date = new Date(text || "");
  if (!text || Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function isExpression(text) {
  return /^\s*[$#]\{[\s\S]*\}\s*$/.test(text || "");
}
