// The embedded-process binding form: its condition is built with the automation rules' no-code
// builder and kept as JSON in the hidden "condition" input the form posts. That input comes
// filled by the server, so a page whose script fails still saves the condition it showed.
import { conditionEditor, savedCondition } from "../automation/conditions.js";

const hidden = document.getElementById("condition");
const action = document.getElementById("action");
const container = document.getElementById("condition-root");
const texts = JSON.parse(document.getElementById("condition-text").textContent);
const entityOf = () => action.value.split(".")[0];
// What the server refused in the condition it sends back, marked until the designer edits.
const invalid = JSON.parse(container.dataset.refused || "[]");
let meta = null;
let entity = null;
let editor = null;

function stored() {
  try { return hidden.value ? JSON.parse(hidden.value) : null; } catch { return null; }
}

function store() {
  const condition = savedCondition(editor.condition());
  hidden.value = condition ? JSON.stringify(condition) : "";
}

function build(condition) {
  entity = entityOf();
  const fields = meta.entities.find((e) => e.name === entity)?.fields || [];
  editor = conditionEditor(container, { condition, fields, operators: meta.operators, texts, onChange: store, invalid });
}

// The mapping offers the fields of the chosen action's record type only; a field picked for
// another type is cleared rather than posted (the server would refuse it). The other types'
// groups leave the list (hidden, Safari still showed them, and every list held 46 fields).
const fieldGroups = new Map();
for (const group of document.querySelectorAll("#mapping optgroup[data-entity]")) {
  if (!fieldGroups.has(group.dataset.entity)) fieldGroups.set(group.dataset.entity, group.cloneNode(true));
}
function offerFieldsOf(type) {
  for (const select of document.querySelectorAll("#mapping select[name=map_field]")) {
    const picked = select.value;
    select.querySelectorAll("optgroup").forEach((group) => group.remove());
    const group = fieldGroups.get(type);
    if (group) select.append(group.cloneNode(true));
    select.value = [...select.options].some((option) => option.value === picked) ? picked : "";
  }
}

// Only customers (report) and contracts (approval) have a status a process keeps: the option is
// shown, and sent, for the record types the server names.
function offerReportStatusFor(type) {
  const box = document.getElementById("report_pending");
  if (!box) return;
  const offered = box.dataset.entities.split(" ").includes(type);
  box.closest(".form-check").hidden = !offered;
  if (!offered) box.checked = false;
}

async function start() {
  offerFieldsOf(entityOf());
  offerReportStatusFor(entityOf());
  action.addEventListener("change", () => { offerFieldsOf(entityOf()); offerReportStatusFor(entityOf()); });
  // Another record type has other fields: its condition starts empty, as in the rule editor.
  // Listening before the fields have loaded, so a quick change is not missed.
  action.addEventListener("change", () => {
    if (!meta || entityOf() === entity) return;
    invalid.length = 0;
    build(null);
    store();
  });
  meta = await window.crmFetch("/api/v1/automation-fields");
  // Until the designer edits it, the hidden input keeps what the server sent (even text the
  // builder cannot show, so the server's message about it stays true).
  build(stored());
}

start();
