// The test-run panel: start the saved draft in the server's sandbox with sample data,
// complete its tasks as anyone, see what the operations would have done, discard it.
import { api, el, processDataNames, t } from "./util.js";

export function setupTestRun(root, modeler, urls, save) {
  const panel = root.querySelector("#designer-testrun");
  const canvas = modeler.get("canvas");
  const registry = modeler.get("elementRegistry");
  let run = null;
  let marked = [];

  const dataField = panel.querySelector("#testrun-data");
  const body = panel.querySelector("#testrun-body");
  const error = panel.querySelector("#testrun-error");

  function sampleData() {
    const names = processDataNames(canvas.getRootElement().businessObject);
    return JSON.stringify(Object.fromEntries(names.map((n) => [n, ""])), null, 1);
  }

  function mark(tasks) {
    marked.forEach((id) => registry.get(id) && canvas.removeMarker(id, "crm-test-active"));
    marked = tasks.map((task) => task.bpmn_id).filter((id) => registry.get(id));
    marked.forEach((id) => canvas.addMarker(id, "crm-test-active"));
  }

  function show(result) {
    run = result;
    error.hidden = true;
    mark(result.user_tasks);
    const status = el("p", { class: "mb-1", id: "testrun-status", "data-status": result.status },
      el("strong", {}, t("Status")), ": ", t(`status:${result.status}`));
    const tasks = result.user_tasks.map((task) => {
      const input = el("textarea", { class: "form-control form-control-sm font-monospace", rows: 2 });
      input.value = JSON.stringify(Object.fromEntries(task.fields.map((f) => [f, f === "decision" ? "approve" : ""])));
      const who = [task.assignee, ...(task.candidate_groups || []), ...(task.candidate_users || [])].filter(Boolean).join(", ");
      return el("div", { class: "border rounded p-2 mb-2 testrun-task", "data-bpmn-id": task.bpmn_id },
        el("div", {}, el("strong", {}, task.name || task.bpmn_id), " ",
          el("small", { class: "text-muted" }, `${t("offered to")} ${who || "—"}`)),
        input,
        el("button", {
          type: "button", class: "btn btn-sm btn-primary mt-1 testrun-complete",
          onclick: () => complete(task, input.value),
        }, t("Complete")));
    });
    const timers = result.timers.map((timer) => el("li", {}, `${timer.name || timer.bpmn_id}: ${timer.due_at.replace("T", " ").slice(0, 16)} UTC`));
    const log = result.log.map((entry) => el("li", { class: `testrun-log-${entry.event}` }, describe(entry)));
    body.replaceChildren(...[
      status,
      result.error ? el("div", { class: "alert alert-danger py-1" }, `${result.error.element_id || ""}: ${result.error.message}`) : null,
      ...tasks,
      timers.length ? el("div", {}, el("strong", {}, t("Waiting timers")), el("ul", { class: "mb-1" }, timers)) : null,
      el("strong", {}, t("What happened")),
      el("ol", { class: "mb-0 small", id: "testrun-log" }, log),
    ].filter(Boolean));
  }

  function describe(entry) {
    const name = entry.name || entry.element_id || "";
    if (entry.event === "operation") {
      return `${t("Would call")} ${entry.operation} (${name}): ${JSON.stringify(entry.params)}`;
    }
    if (entry.event === "completed_task") return `${t("Completed")} ${name}: ${JSON.stringify(entry.data)}`;
    if (entry.event === "started") return `${t("Started with")} ${JSON.stringify(entry.data)}`;
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
      data = JSON.parse(dataField.value || "{}");
    } catch (e) {
      fail(new Error(t("Sample data must be a JSON object.")));
      return;
    }
    if (!(await save())) return;
    await discard();
    api(urls.testRuns, { method: "POST", body: { data } }).then(show).catch(fail);
  }

  function complete(task, text) {
    let data;
    try {
      data = JSON.parse(text || "{}");
    } catch (e) {
      fail(new Error(t("Sample data must be a JSON object.")));
      return;
    }
    api(`${urls.testRunBase}${run.id}/tasks/${task.id}/complete`, { method: "POST", body: { data } }).then(show).catch(fail);
  }

  async function discard() {
    if (!run) return;
    const id = run.id;
    run = null;
    mark([]);
    body.replaceChildren();
    await api(`${urls.testRunBase}${id}`, { method: "DELETE" }).catch(() => {});
  }

  panel.querySelector("#testrun-start").addEventListener("click", start);
  panel.querySelector("#testrun-close").addEventListener("click", () => {
    discard();
    panel.hidden = true;
  });
  window.addEventListener("pagehide", () => run && api(`${urls.testRunBase}${run.id}`, { method: "DELETE", keepalive: true }).catch(() => {}));

  return {
    toggle() {
      panel.hidden = !panel.hidden;
      if (!panel.hidden && !dataField.value) dataField.value = sampleData();
    },
  };
}
