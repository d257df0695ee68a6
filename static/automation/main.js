// The no-code rule editor: dropdowns for record type, event, fields and the operators of each
// field type, AND/OR groups, one small form per action, save and dry run through the API.
import { conditionEditor, savedCondition } from "./conditions.js";
import { el, fieldOptions, input, names, select } from "./dom.js";

// The condition builder's words serve the dry run's table too.
const T = { ...JSON.parse(document.getElementById("condition-text").textContent),
  ...JSON.parse(document.getElementById("editor-text").textContent) };
const root = document.getElementById("rule-editor");
const $ = (id) => document.getElementById(id);
const TIME_EVENTS = new Set(["date_before", "date_after", "idle"]);
let meta = null;
let rule = JSON.parse($("rule-data").textContent) || {
  name: "", description: "", entity: "customer", event: "created", event_options: {}, condition: null,
  actions: [], enabled: true, blocking: false, once_per_record: false, position: 0,
};

const entity = (name = rule.entity) => meta.entities.find((e) => e.name === name);
const fields = (name) => entity(name)?.fields || [];
const fieldOf = (name, ent) => fields(ent).find((f) => f.name === name);
const lines = (text) => (text || "").split("\n").map((l) => l.trim()).filter(Boolean);

// --- header -------------------------------------------------------------------------------
function renderHeader() {
  $("rule-name").value = rule.name;
  $("rule-description").value = rule.description || "";
  $("rule-enabled").checked = rule.enabled;
  $("rule-blocking").checked = rule.blocking;
  $("rule-once").checked = !!rule.once_per_record;
  $("rule-position").value = String(rule.position ?? 0);
  $("rule-entity").replaceChildren(...meta.entities.map((e) => el("option", { value: e.name, selected: e.name === rule.entity }, e.label)));
  const events = entity().events;
  if (!events.includes(rule.event)) rule.event = events[0];
  $("rule-event").replaceChildren(...events.map((ev) => el("option", { value: ev, selected: ev === rule.event }, T.events[ev] || ev)));
  const timed = TIME_EVENTS.has(rule.event);
  $("event-days-box").classList.toggle("d-none", !timed);
  $("event-field-box").classList.toggle("d-none", !timed);
  if (timed) {
    // Custom date fields count for days before/after, not for idle time.
    const dates = [...fields().filter((f) => (f.type === "date" || f.type === "datetime")
      && (rule.event !== "idle" || !f.name.startsWith("custom."))),
      ...(rule.event === "idle" ? entity().idle_fields : [])];
    rule.event_options = rule.event_options || {};
    // A deal is idle in its stage (Bitrix24's and amoCRM's "no movement for N days").
    const idleSince = rule.entity === "opportunity" ? "stage_entered_at" : "updated_at";
    rule.event_options.field = rule.event_options.field || (rule.event === "idle" ? idleSince : dates[0]?.name);
    rule.event_options.days = rule.event_options.days ?? (rule.event === "idle" ? 3 : 30);
    $("event-field").replaceChildren(...dates.map((f) => el("option", { value: f.name, selected: f.name === rule.event_options.field }, f.label)));
    $("event-days").value = rule.event_options.days;
  }
}

// --- conditions ---------------------------------------------------------------------------
function renderConditions(invalid = []) {
  rule.condition = conditionEditor($("condition-root"), { condition: rule.condition, fields: fields(), operators: meta.operators, texts: T, invalid }).condition();
}

// --- actions ------------------------------------------------------------------------------
function valueSpecEditor(item, targetEntity, sourceEntity) {
  const target = fieldOf(item.field, targetEntity);
  const modes = Object.keys(T.modes).filter((m) => m !== "today" || ["date", "datetime"].includes(target?.type))
    .filter((m) => m !== "template" || target?.type === "text");
  item.mode = modes.includes(item.mode) ? item.mode : "value";
  const parts = [select(modes.map((m) => [m, T.modes[m]]), item.mode, (v) => { item.mode = v; renderActions(); }, T.valueMode)];
  if (item.mode === "value") {
    parts.push(target?.choices.length
      ? select([["", T.none], ...target.choices.map((c) => [c, target.choice_labels?.[c] || c])], item.value, (v) => { item.value = v; }, T.value)
      : input(item.value, (v) => { item.value = v; }, { "aria-label": T.value }));
  } else if (item.mode === "copy") {
    parts.push(select(fieldOptions(fields(sourceEntity)), item.from, (v) => { item.from = v; }, T.from));
    item.from = item.from || fields(sourceEntity)[0]?.name;
  } else if (item.mode === "template") {
    parts.push(input(item.template, (v) => { item.template = v; }, { "aria-label": T.template, placeholder: T.template }));
  }
  if (item.mode === "today" || (item.mode === "copy" && ["date", "datetime"].includes(target?.type))) {
    parts.push(input(item.days ?? 0, (v) => { item.days = parseInt(v, 10) || 0; }, { type: "number", "aria-label": T.days, style: "max-width:6rem" }));
  }
  return parts;
}

function assignmentsEditor(list, targetEntity, sourceEntity) {
  const writable = (f) => f.writable;
  return el("div", {},
    list.map((item, i) => el("div", { class: "d-flex flex-wrap gap-2 mb-2 editor-row" },
      select(fieldOptions(fields(targetEntity), writable), item.field, (v) => { item.field = v; renderActions(); }, T.field),
      valueSpecEditor(item, targetEntity, sourceEntity),
      el("button", { type: "button", class: "btn btn-sm btn-outline-secondary text-nowrap", onclick: () => { list.splice(i, 1); renderActions(); } }, T.remove))),
    el("button", { type: "button", class: "btn btn-sm btn-outline-primary", onclick: () => {
      list.push({ field: fields(targetEntity).find(writable)?.name, mode: "value", value: "" }); renderActions();
    } }, T.addField));
}

const labelled = (text, node) => el("label", { class: "form-label small w-100" }, text, node);
// Pickers: the page's lists of active people and of groups (a single name is picked whole).
const PEOPLE = { list: "rule-users" };
const GROUPS = { list: "rule-groups" };
// A comma-separated list of people or groups gets its own suggestions, each carrying what is
// typed so far, so picking a name adds it to the list instead of replacing the list.
let nameLists = 0;
function nameListInput(value, onchange, source) {
  const offers = el("datalist", { id: `${source}-${++nameLists}` });
  const offer = (text) => {
    const cut = Math.max(text.lastIndexOf(","), text.lastIndexOf("，"));
    const typed = cut < 0 ? "" : `${text.slice(0, cut + 1).trim()} `;
    const chosen = new Set(names(typed));
    offers.replaceChildren(...[...$(source).options].filter((o) => !chosen.has(o.value))
      .map((o) => el("option", { value: typed + o.value }, o.label)));
  };
  const box = input(value, (v) => { onchange(v); offer(v); }, { list: offers.id });
  offer(box.value);
  return el("span", {}, box, offers);
}
const listInput = (action, key, label) => labelled(label, nameListInput((action[key] || []).join(", "),
  (v) => { action[key] = names(v); }, (key === "users" ? PEOPLE : GROUPS).list));
const mapText = (obj) => Object.entries(obj || {}).map(([k, v]) => `${k}=${v}`).join("\n");
const parseMap = (text) => Object.fromEntries(lines(text).map((l) => l.split("=").map((s) => s.trim())).filter((p) => p.length === 2));
const textarea = (value, onchange, label) => el("textarea", { class: "form-control form-control-sm", rows: 2, "aria-label": label, oninput: (e) => onchange(e.target.value) }, value || "");

const ACTION_EDITORS = {
  set_fields: (a) => { a.values = a.values || []; return assignmentsEditor(a.values, rule.entity, rule.entity); },
  create_record: (a) => {
    a.entity = a.entity || "contract"; a.mapping = a.mapping || [];
    return el("div", {}, labelled(T.entity, select(meta.entities.map((e) => [e.name, e.label]), a.entity, (v) => { a.entity = v; a.mapping = []; renderActions(); }, T.entity)),
      assignmentsEditor(a.mapping, a.entity, rule.entity));
  },
  assign_owner: (a) => {
    a.strategy = a.strategy || "user";
    const parts = [labelled(T.strategy, select(Object.entries(T.strategies), a.strategy, (v) => { a.strategy = v; renderActions(); }, T.strategy))];
    if (a.strategy === "user") parts.push(labelled(T.user, input(a.user, (v) => { a.user = v; }, PEOPLE)));
    if (a.strategy === "round_robin" || a.strategy === "fewest_open") parts.push(labelled(T.group, input(a.group, (v) => { a.group = v; }, GROUPS)));
    if (a.strategy === "field_map") {
      a.field = a.field || "province";
      parts.push(labelled(T.field, select(fieldOptions(fields()), a.field, (v) => { a.field = v; }, T.field)),
        labelled(T.map, textarea(mapText(a.map), (v) => { a.map = parseMap(v); }, T.map)),
        labelled(T.default, input(a.default, (v) => { a.default = v; }, PEOPLE)));
    }
    return el("div", {}, parts);
  },
  share: (a) => el("div", {}, listInput(a, "users", T.users), listInput(a, "groups", T.groups)),
  notify: (a) => el("div", {}, listInput(a, "users", T.users), listInput(a, "groups", T.groups),
    // The box inside its label: clicking the words ticks it, and it has a name to read out.
    el("label", { class: "form-check mb-2 small d-block" }, el("input", { class: "form-check-input", type: "checkbox", checked: !!a.to_owner, onchange: (e) => { a.to_owner = e.target.checked; } }), el("span", { class: "form-check-label" }, T.toOwner)),
    labelled(T.template, textarea(a.template, (v) => { a.template = v; }, T.template))),
  create_todo: (a) => {
    a.assignee = a.assignee || "owner";
    const dates = fieldOptions(fields(rule.entity), (f) => f.type === "date");
    a.deadline = a.deadline || { mode: "today", days: 7 };
    return el("div", {}, labelled(T.assignee, input(a.assignee, (v) => { a.assignee = v; }, PEOPLE)),
      labelled(T.title, input(a.title, (v) => { a.title = v; })),
      labelled(T.description, textarea(a.description, (v) => { a.description = v; }, T.description)),
      labelled(T.deadline, el("div", { class: "d-flex gap-2" },
        select([["today", T.today], ...dates], a.deadline.mode === "copy" ? a.deadline.from : "today", (v) => {
          a.deadline = v === "today" ? { mode: "today", days: a.deadline.days || 0 } : { mode: "copy", from: v, days: a.deadline.days || 0 };
        }, T.deadline),
        input(a.deadline.days ?? 0, (v) => { a.deadline.days = parseInt(v, 10) || 0; }, { type: "number", "aria-label": T.days }))),
      labelled(T.start, input(a.start?.days ?? "", (v) => { a.start = v === "" ? null : { mode: "today", days: parseInt(v, 10) || 0 }; }, { type: "number", min: 0 })));
  },
  webhook: (a) => el("div", {}, labelled(T.url, input(a.url, (v) => { a.url = v; }, { type: "url" })),
    labelled(T.secret, input(a.secret, (v) => { a.secret = v; })),
    el("div", { class: "d-flex gap-2" },
      labelled(T.timeout, input(a.timeout ?? 10, (v) => { a.timeout = parseInt(v, 10) || 10; }, { type: "number", min: 1, max: 60 })),
      labelled(T.attempts, input(a.max_attempts ?? 5, (v) => { a.max_attempts = parseInt(v, 10) || 5; }, { type: "number", min: 1, max: 10 })))),
  start_workflow: (a) => el("div", {}, labelled(T.processKey, input(a.process_key, (v) => { a.process_key = v; })),
    labelled(T.formMap, textarea(mapText(a.mapping), (v) => { a.mapping = parseMap(v); }, T.formMap))),
};

function renderActions() {
  $("action-list").replaceChildren(...rule.actions.map((action, i) => el("div", { class: "border rounded p-2 mb-2 rule-action", "data-type": action.type },
    el("div", { class: "d-flex justify-content-between mb-2" }, el("strong", {}, `${i + 1}. ${T.actions[action.type] || action.type}`),
      el("span", { class: "d-flex gap-2" },
        i > 0 ? el("button", { type: "button", class: "btn btn-sm btn-outline-secondary text-nowrap", onclick: () => { rule.actions.splice(i - 1, 0, rule.actions.splice(i, 1)[0]); renderActions(); } }, T.moveUp) : null,
        el("button", { type: "button", class: "btn btn-sm btn-outline-secondary text-nowrap", onclick: () => { rule.actions.splice(i, 1); renderActions(); } }, T.remove))),
    ACTION_EDITORS[action.type](action))));
}

// --- save, delete, dry run ----------------------------------------------------------------
function definition() {
  const out = JSON.parse(JSON.stringify(rule));
  out.condition = savedCondition(out.condition);
  if (!TIME_EVENTS.has(out.event)) out.event_options = {};
  for (const key of ["id", "created_by", "created_at", "updated_at", "version"]) delete out[key];
  return out;
}

function showErrors(error) {
  const box = $("rule-errors");
  box.replaceChildren(el("div", {}, error.details?.length ? T.invalid : error.message), el("ul", { class: "mb-0" }, (error.details || []).map((d) => el("li", {}, `${where(d.field)}: ${d.message}`))));
  box.classList.remove("d-none");
  // The actions named in the errors get a red border, so the author sees which one to fix.
  const broken = new Set((error.details || []).map((d) => /^actions\.(\d+)/.exec(d.field || "")?.[1]).filter(Boolean));
  document.querySelectorAll(".rule-action").forEach((card, i) => card.classList.toggle("border-danger", broken.has(String(i))));
  // ... and the conditions named get a red outline.
  const refused = (error.details || []).map((d) => /^condition\.(.+)$/.exec(d.field || "")?.[1]).filter(Boolean);
  if (refused.length) renderConditions(refused);
}

// "actions.2.template" → "Action 3 (Notify) · template": where the author finds it on the page.
function where(field) {
  const action = /^actions\.(\d+)(?:\.(.+))?$/.exec(field || "");
  if (action) {
    const type = rule.actions[Number(action[1])]?.type;
    return `${T.action} ${Number(action[1]) + 1}${type ? ` (${T.actions[type] || type})` : ""}${action[2] ? ` · ${action[2]}` : ""}`;
  }
  // "condition.and.1.or.1.value" → "Condition 2.2 · Value", as app.automation.wording.condition_place says it.
  const condition = /^condition(?:\.(.+))?$/.exec(field || "");
  if (condition) {
    const parts = (condition[1] || "").split(".");
    const number = parts.filter((p) => /^\d+$/.test(p)).map((p) => Number(p) + 1).join(".");
    const part = { field: T.field, op: T.operator, value: T.value }[parts[parts.length - 1]];
    const place = number ? T.conditionAt.replace("{number}", number) : T.conditions;
    return part ? `${place} · ${part}` : place;
  }
  // A field of the rule itself, by its label on this page ("名称", not "name").
  const top = (field || "").split(".")[0];
  if (top === "actions") return T.action;
  const label = document.querySelector(`label[for="rule-${top === "once_per_record" ? "once" : top}"]`);
  return label ? label.textContent.trim() : field;
}

// Edits not saved yet: leaving the page asks first (a renamed rule was lost to a menu click).
let unsaved = false;

// One save at a time: a double-click on Save made two identical rules.
let saving = false;
async function save() {
  if (saving) return;
  saving = true;
  $("rule-errors").classList.add("d-none"); $("rule-saved").classList.add("d-none");
  const id = root.dataset.ruleId;
  try {
    const saved = await window.crmFetch(id ? `/api/v1/automation-rules/${id}` : "/api/v1/automation-rules",
      { method: id ? "PATCH" : "POST", body: id ? { ...definition(), version: rule.version } : definition() });
    unsaved = false;
    if (!id) {  // a click while the page goes to the new rule changes it, not makes another
      root.dataset.ruleId = saved.id; rule = saved;
      window.location.href = `/automation/rules/${saved.id}?saved=1`; return;
    }
    rule = saved; render(); $("rule-saved").classList.remove("d-none");
  } catch (error) { showErrors(error); } finally { saving = false; }
}

// A value as the rule editor names it: a choice by its label (审批通过, not "approved").
function shownValue(field, value) {
  const labels = field?.choice_labels || {};
  if (Array.isArray(value) && value.every((v) => v in labels)) return value.map((v) => labels[v]).join(", ");
  return typeof value === "string" && value in labels ? labels[value] : JSON.stringify(value);
}

function renderDryRun(result) {
  const leafRows = result.conditions.map((c) => el("tr", {}, el("td", {}, fieldOf(c.field)?.label || c.field), el("td", {}, T.ops[c.op] || c.op),
    el("td", {}, shownValue(fieldOf(c.field), c.value ?? "")), el("td", {}, shownValue(fieldOf(c.field), c.actual ?? null)),
    el("td", {}, c.result ? "✔" : "✘")));
  $("dry-result").replaceChildren(
    el("div", { class: `alert ${result.matched ? "alert-success" : "alert-secondary"}`, id: "dry-verdict" }, result.matched ? T.matched : T.notMatched),
    // Conditions hold, yet the real run would not act now (once per record, a time rule not due).
    result.held ? el("div", { class: "alert alert-warning", id: "dry-held" }, result.held) : "",
    leafRows.length ? el("table", { class: "table table-sm" }, el("thead", {}, el("tr", {}, el("th", {}, T.field), el("th", {}, T.operator), el("th", {}, T.value), el("th", {}, T.actual), el("th", {}, T.result))), el("tbody", {}, leafRows)) : "",
    ...result.actions.map((a) => el("div", { class: "border rounded p-2 mb-2 small dry-action" },
      el("strong", {}, `${a.index + 1}. ${T.actions[a.type] || a.type}`), " ",
      // "Would fail" must not look like "would run" under the green "conditions hold".
      el("span", { class: `badge ${a.status === "would_fail" ? "text-bg-danger" : "text-bg-light"}`, "data-status": a.status }, T.statuses[a.status] || a.status),
      a.error ? el("div", { class: "text-danger" }, a.error) : null,
      (a.said || []).length ? el("ul", { class: "mb-0 mt-1 dry-said" }, a.said.map((line) => el("li", {}, line))) : null,
      el("details", { class: "mt-1" }, el("summary", { class: "text-muted" }, T.details),
        el("pre", { class: "mb-0" }, JSON.stringify(a.plan ?? {}, null, 2))))));
}

async function dryRun() {
  $("rule-errors").classList.add("d-none");
  $("dry-result").replaceChildren(); // an earlier verdict must not pass for this run's
  // Said beside the button that was pressed; the rule's own field errors also mark the form above.
  // A bad sample or change is the dry run's own input: said here by field label, not under
  // "the rule cannot be saved yet" above, which would blame a rule that is fine.
  const failed = (error) => {
    const aboutInput = (d) => /^(record|changes)(\.|$)|^record_id$/.test(d.field || "");
    const input = (error.details || []).filter(aboutInput);
    const named = (field) => { const name = field.split(".")[1]; return name ? fieldOf(name)?.label || name : field; };
    const ruleDetails = (error.details || []).filter((d) => !aboutInput(d));
    // What is wrong with the rule, said here too as Save says it ("Action 2 (Share) · users:
    // Unknown user 销售经理"), not "The rule is not valid: actions.1.users".
    const said = [...input.map((d) => `${named(d.field)}: ${d.message}`), ...ruleDetails.map((d) => `${where(d.field)}: ${d.message}`)];
    $("dry-result").replaceChildren(el("div", { class: "alert alert-danger", id: "dry-error" },
      ruleDetails.length ? T.invalid : error.message,
      said.length ? el("ul", { class: "mb-0" }, said.map((line) => el("li", {}, line))) : null));
    if (ruleDetails.length) showErrors({ ...error, details: ruleDetails });
  };
  const body = { rule: definition() };
  const recordId = $("dry-record-id").value.trim();
  const sample = $("dry-sample").value.trim();
  if (recordId) body.record_id = parseInt(recordId, 10);
  else if (sample) { try { body.record = JSON.parse(sample); } catch { failed({ message: T.badJson }); return; } }
  else { failed({ message: T.needRecord }); return; }
  const changes = $("dry-changes").value.trim();
  if (changes) { try { body.changes = JSON.parse(changes); } catch { failed({ message: T.badChanges }); return; } }
  const id = root.dataset.ruleId;
  try {
    renderDryRun(await window.crmFetch(id ? `/api/v1/automation-rules/${id}/dry-run` : "/api/v1/automation-rules/dry-run", { method: "POST", body }));
  } catch (error) { failed(error); }
}

// The dry run's examples use the rule's record type (an opportunity's amount, not a customer's capital).
function renderDryRunExamples() {
  const own = fields(rule.entity).filter((f) => f.writable);
  const number = own.find((f) => f.type === "number");
  const text = own.find((f) => f.type === "text");
  const choice = own.find((f) => f.type === "choice" && f.choices.length > 1);
  const sample = { ...(text ? { [text.name]: text.label } : {}), ...(number ? { [number.name]: 100000 } : {}) };
  $("dry-sample").placeholder = JSON.stringify(sample);
  $("dry-changes").placeholder = choice ? JSON.stringify({ [choice.name]: choice.choices.slice(0, 2) })
    : text ? JSON.stringify({ [text.name]: ["", text.label] }) : "";
}

function render() { renderHeader(); renderConditions(); renderActions(); renderDryRunExamples(); }

async function start() {
  meta = await window.crmFetch("/api/v1/automation-fields");
  $("new-action-type").replaceChildren(...Object.entries(T.actions).map(([k, v]) => el("option", { value: k }, v)));
  // Typed values live in ``rule`` at once, so re-rendering (e.g. after choosing a record type) keeps them.
  $("rule-name").addEventListener("input", (e) => { rule.name = e.target.value; });
  $("rule-description").addEventListener("input", (e) => { rule.description = e.target.value; });
  $("rule-enabled").addEventListener("change", (e) => { rule.enabled = e.target.checked; });
  $("rule-blocking").addEventListener("change", (e) => { rule.blocking = e.target.checked; });
  $("rule-once").addEventListener("change", (e) => { rule.once_per_record = e.target.checked; });
  $("rule-position").addEventListener("input", (e) => { rule.position = Math.max(0, Math.trunc(Number(e.target.value) || 0)); });
  $("rule-entity").addEventListener("change", (e) => {
    // Another record type has other fields: its conditions go. Asked first, not done silently
    // (switched there and back, a rule lost its conditions and was one Save from acting always).
    // So do the fields its actions set or copy (a set-fields action showed another field than it held).
    const anyLeaf = (node) => !!node && (!!node.field || (node.and || node.or || []).some(anyLeaf));
    const fielded = (a) => (a.type === "set_fields" && (a.values || []).length)
      || (a.type === "create_record" && (a.mapping || []).length);
    if ((anyLeaf(rule.condition) || rule.actions.some(fielded)) && !window.confirm(T.confirmEntity)) {
      e.target.value = rule.entity; return;
    }
    rule.actions.filter(fielded).forEach((a) => { if (a.type === "set_fields") a.values = []; else a.mapping = []; });
    rule.entity = e.target.value; rule.condition = null; rule.event_options = {}; render();
  });
  $("rule-event").addEventListener("change", (e) => { rule.event = e.target.value; rule.event_options = {}; render(); });
  $("event-field").addEventListener("change", (e) => { rule.event_options.field = e.target.value; });
  $("event-days").addEventListener("input", (e) => { rule.event_options.days = parseInt(e.target.value, 10) || 0; });
  $("add-action").addEventListener("click", () => { rule.actions.push({ type: $("new-action-type").value }); renderActions(); });
  $("save-rule").addEventListener("click", save);
  $("dry-run").addEventListener("click", dryRun);
  // The dry run's own boxes are no edit of the rule.
  const dryBoxes = new Set(["dry-record-id", "dry-sample", "dry-changes"]);
  ["input", "change"].forEach((kind) => root.addEventListener(kind, (e) => { if (!dryBoxes.has(e.target.id)) unsaved = true; }));
  // Adding, removing or moving a condition or an action is an edit too.
  root.addEventListener("click", (e) => {
    const button = e.target.closest("button");
    if (button && !["save-rule", "dry-run", "delete-rule"].includes(button.id)) unsaved = true;
  });
  window.addEventListener("beforeunload", (event) => { if (unsaved) event.preventDefault(); });
  $("delete-rule")?.addEventListener("click", async () => {
    if (!window.confirm(T.confirmDelete)) return;
    unsaved = false;
    await window.crmFetch(`/api/v1/automation-rules/${root.dataset.ruleId}`, { method: "DELETE" });
    window.location.href = "/automation/";
  });
  render();
  // A new rule's first save opens its own page: said there (it said nothing, later saves did).
  if (new URLSearchParams(window.location.search).has("saved")) {
    $("rule-saved").classList.remove("d-none");
    window.history.replaceState(null, "", window.location.pathname);
  }
}

start();
