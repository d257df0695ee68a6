// The test-run panel: start the saved draft in the server's sandbox with sample data,
// complete its tasks as anyone, see what the operations would have done, discard it.
import { dataEditor } from "./data-form.js";
import { api, debounce, el, pageData, processDataNames, t } from "./util.js";

// What a form field of the task's form (form-js schema) becomes in the test-run form.
const KINDS = { radio: "choice", select: "choice", checkbox: "checkbox", number: "number", textarea: "textarea", textfield: "text" };

function schemaFields(components) {
  return (components || []).flatMap((c) => [c, ...schemaFields(c.components)]);
}

function taskField(name, component) {
  if (component) {
    const kind = KINDS[component.type] === "choice" && !Array.isArray(component.values) ? "text" : KINDS[component.type] || "typed";
    return { name, kind, label: component.label, required: Boolean(component.validate?.required), choices: component.values };
  }
  // The shipped approval flows branch on decision == 'approve'; anything else takes the reject path.
  if (name === "decision") {
    return { name, kind: "choice", required: true, choices: [{ value: "approve", label: t("Approve") }, { value: "reject", label: t("Reject") }] };
  }
  return { name, kind: "text" };
}

// "泉州晋江纺织有限公司 #12" as offered in the list, or just "12".
const RECORD_ID = /(?:^|#)(\d+)\s*$/;
const recordLabel = (record) => record.name || record.title || record.content || "";

// Operation parameters and task data as "key: value" lines.
function keyValues(data) {
  const entries = Object.entries(data || {});
  if (!entries.length) return null;
  const shown = (value) => (value === null || value === "" ? "—" : typeof value === "string" ? value : JSON.stringify(value));
  return el("dl", { class: "testrun-values" }, entries.flatMap(([key, value]) => [el("dt", {}, key), el("dd", {}, shown(value))]));
}

export function setupTestRun(root, modeler, urls, save) {
  const panel = root.querySelector("#designer-testrun");
  const canvas = modeler.get("canvas");
  const registry = modeler.get("elementRegistry");
  const labels = new Map((pageData("designer-fields") || []).map((f) => [f.name, f.label]));
  const schemas = new Map();
  let run = null;
  let marked = [];
  let startData = null;
  let taskData = [];

  const body = panel.querySelector("#testrun-body");
  const error = panel.querySelector("#testrun-error");
  const asJson = panel.querySelector("#testrun-json");

  // The variables the diagram reads, plus whatever ``values`` brings (a record's start data).
  function newStartData(values = {}) {
    const names = [...new Set([...processDataNames(canvas.getRootElement().businessObject), ...Object.keys(values)])];
    startData = dataEditor({
      fields: names.map((name) => ({ name, label: labels.get(name), kind: "typed" })),
      values: { ...Object.fromEntries(names.map((name) => [name, ""])), ...values },
      open: true, idPrefix: "testrun-start", json: asJson.checked,
    });
    panel.querySelector("#testrun-data").replaceChildren(startData.node);
  }

  // Start data from a real record, as a CRM action bound to this process (an embedded process)
  // would start it: the binding's mapping and form fill it on the server.
  const fill = panel.querySelector("#testrun-fill");
  const bindingChoice = fill.querySelector("#testrun-binding");
  const recordInput = fill.querySelector("#testrun-record");

  async function offerFill() {
    const key = pageData("designer-draft").key;
    const page = await api(`${urls.bindings}?process_key=${encodeURIComponent(key)}&per_page=100`).catch(() => null);
    const items = page?.items || [];
    bindingChoice.replaceChildren(...items.map((b) => el("option", { value: b.id, "data-entity": b.entity }, b.name)));
    fill.hidden = !items.length;
  }

  const suggestRecords = debounce(async () => {
    const list = urls.records[bindingChoice.selectedOptions[0]?.dataset.entity];
    const text = recordInput.value.trim();
    if (!list || !text || RECORD_ID.test(text)) return;
    const page = await api(`${list}?q=${encodeURIComponent(text)}&per_page=8`).catch(() => null);
    fill.querySelector("#testrun-records").replaceChildren(
      ...(page?.items || []).map((record) => el("option", { value: `${recordLabel(record)} #${record.id}` })));
  }, 250);

  // A name that finds one record is as good as picking it from the list.
  async function onlyMatch(text) {
    const list = urls.records[bindingChoice.selectedOptions[0]?.dataset.entity];
    if (!list || !text) return null;
    const page = await api(`${list}?q=${encodeURIComponent(text)}&per_page=2`).catch(() => null);
    if (page?.items?.length !== 1) return null;
    recordInput.value = `${recordLabel(page.items[0])} #${page.items[0].id}`;
    return String(page.items[0].id);
  }

  async function fillFromRecord(event) {
    event.preventDefault();
    const id = recordInput.value.match(RECORD_ID)?.[1] || await onlyMatch(recordInput.value.trim());
    recordInput.setCustomValidity(id ? "" : t("Pick a record from the list, or type its id."));
    if (!recordInput.reportValidity()) return;
    try {
      const sample = await api(`${urls.bindings}/${bindingChoice.value}/start-data?record=${id}`);
      newStartData(sample.data);
      fill.querySelector("#testrun-filled").textContent = t("Filled from %(record)s.").replace("{record}", sample.record.label);
      error.hidden = true;
    } catch (e) {
      fail(e);
    }
  }

  recordInput.addEventListener("input", () => {
    recordInput.setCustomValidity("");
    suggestRecords();
  });
  fill.addEventListener("submit", fillFromRecord);

  // The task's form (when the forms module knows it) gives labels, choices and types.
  function formSchema(key) {
    if (!schemas.has(key)) schemas.set(key, api(`${urls.forms}/${encodeURIComponent(key)}`).then((form) => form.schema).catch(() => null));
    return schemas.get(key);
  }

  async function fieldsOf(task) {
    const schema = task.form_key ? await formSchema(task.form_key) : null;
    const components = new Map(schemaFields(schema?.components).map((c) => [c.key, c]));
    return task.fields.map((name) => taskField(name, components.get(name)));
  }

  function mark(tasks) {
    marked.forEach((id) => registry.get(id) && canvas.removeMarker(id, "crm-test-active"));
    marked = tasks.map((task) => task.bpmn_id).filter((id) => registry.get(id));
    marked.forEach((id) => canvas.addMarker(id, "crm-test-active"));
  }

  // Groups by the names people know (销售经理), not their keys: the directory, read once.
  let groupNames = null;
  async function groupLabels() {
    if (!groupNames) {
      const page = await api(`${urls.groups}?per_page=200`).catch(() => null);
      groupNames = new Map((page?.items || []).map((g) => [g.name, g.display_name || g.name]));
    }
    return groupNames;
  }

  async function show(result) {
    const fields = await Promise.all(result.user_tasks.map(fieldsOf));
    const groups = await groupLabels();
    run = result;
    error.hidden = true;
    mark(result.user_tasks);
    const status = el("p", { class: "mb-1", id: "testrun-status", "data-status": result.status },
      el("strong", {}, t("Status")), ": ", t(`status:${result.status}`));
    taskData = result.user_tasks.map((task, i) => dataEditor({ fields: fields[i], idPrefix: `testrun-task-${task.id}`, json: asJson.checked }));
    const tasks = result.user_tasks.map((task, i) => {
      const who = [task.assignee, ...(task.candidate_groups || []).map((g) => groups.get(g) || g),
        ...(task.candidate_users || [])].filter(Boolean).join(", ");
      return el("div", { class: "border rounded p-2 mb-2 bg-white testrun-task", "data-bpmn-id": task.bpmn_id },
        el("div", { class: "mb-1" }, el("strong", {}, task.name || task.bpmn_id), " ",
          el("small", { class: "text-muted" }, `${t("offered to")} ${who || "—"}`)),
        taskData[i].node,
        el("button", {
          type: "button", class: "btn btn-sm btn-primary testrun-complete",
          onclick: () => complete(task, taskData[i]),
        }, t("Complete")));
    });
    // On the reader's clock, as every other time on the page (the server sends UTC).
    const timers = result.timers.map((timer) => el("li", { "data-timer": timer.bpmn_id }, `${timer.name || timer.bpmn_id}: ${timer.due}`));
    const log = result.log.map((entry) => el("li", { class: `testrun-log-${entry.event}` }, describe(entry)));
    body.replaceChildren(...[
      status,
      result.error ? el("div", { class: "alert alert-danger py-1" }, `${result.error.element_name || result.error.element_id || ""}: ${result.error.message}`) : null,
      ...tasks,
      timers.length ? el("div", {}, el("strong", {}, t("Waiting timers")), el("ul", { class: "mb-1" }, timers)) : null,
      el("strong", {}, t("What happened")),
      el("ol", { class: "mb-0 small", id: "testrun-log" }, log),
    ].filter(Boolean));
    // On a narrow screen the panel is one column: bring the waiting task into view.
    tasks[0]?.scrollIntoView({ block: "nearest" });
  }

  function describe(entry) {
    const name = entry.name || entry.element_id || "";
    if (entry.event === "operation") return [`${t("Would call")} ${entry.operation} (${name})`, keyValues(entry.params)];
    if (entry.event === "completed_task") return [`${t("Completed")} ${name}`, keyValues(entry.data)];
    if (entry.event === "started") return [t("Started with"), keyValues(entry.data)];
    if (entry.event === "error") return `${t("Error")}: ${entry.message}`;
    return t(`status:${entry.event}`);
  }

  function fail(e) {
    error.textContent = [e.message, ...(e.details || []).map((d) => `${d.element_id || d.field || ""} ${d.message}`)].join(" · ");
    error.hidden = false;
  }

  async function start() {
    let data;
    try {
      data = startData.read();
    } catch (e) {
      fail(e);
      return;
    }
    if (!(await save())) return;
    await discard();
    api(urls.testRuns, { method: "POST", body: { data } }).then(show).catch(fail);
  }

  function complete(task, editor) {
    let data;
    try {
      data = editor.read();
    } catch (e) {
      fail(e);
      return;
    }
    api(`${urls.testRunBase}${run.id}/tasks/${task.id}/complete`, { method: "POST", body: { data } }).then(show).catch(fail);
  }

  async function discard() {
    if (!run) return;
    const id = run.id;
    run = null;
    taskData = [];
    mark([]);
    body.replaceChildren();
    await api(`${urls.testRunBase}${id}`, { method: "DELETE" }).catch(() => {});
  }

  // One switch for every editor in the panel; going back to the forms waits until all JSON is an object.
  asJson.addEventListener("change", () => {
    const editors = [startData, ...taskData];
    if (!asJson.checked) {
      try {
        editors.forEach((editor) => editor.read());
      } catch (e) {
        asJson.checked = true;
        fail(e);
        return;
      }
    }
    error.hidden = true;
    editors.forEach((editor) => editor.setJson(asJson.checked));
  });
  panel.querySelector("#testrun-start").addEventListener("click", start);
  panel.querySelector("#testrun-close").addEventListener("click", () => {
    discard();
    panel.hidden = true;
  });
  window.addEventListener("pagehide", () => run && api(`${urls.testRunBase}${run.id}`, { method: "DELETE", keepalive: true }).catch(() => {}));

  return {
    toggle() {
      panel.hidden = !panel.hidden;
      if (!panel.hidden && !startData) {
        newStartData();
        offerFill();
      }
    },
  };
}
