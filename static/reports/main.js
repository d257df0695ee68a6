// The efficiency reports: charts (Chart.js) from the report JSON embedded in the page, the
// heat overlay on the process diagram (bpmn-js NavigatedViewer: each step coloured by its
// median time in step), and the "minutes by hand per action" settings of the automation report.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn.css";
import "./reports.css";

import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip } from "chart.js";
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";

import { reloadSaying } from "../shared/done-message.js";

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip);
Chart.defaults.animation = false; // the browser test reads the canvas right away

function pageData(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

const strings = pageData("report-i18n") || {};
const t = (key) => strings[key] || key;
// A chart of times reads in minutes while its longest time is under an hour (steps of a few
// minutes would round to 0.0 h), else in hours; one unit per chart.
function timeUnit(...seconds) {
  const longest = Math.max(0, ...seconds.flat(Infinity).filter((s) => s != null));
  const [size, label] = longest < 3600 ? [60, "minutes"] : [3600, "hours"];
  return { label: t(label), of: (s) => (s == null ? null : Math.round((s / size) * 10) / 10) };
}
const COLORS = { blue: "#0d6efd", teal: "#20c997", orange: "#fd7e14", red: "#dc3545", grey: "#adb5bd" };

function chart(id, config, timeLabel) {
  const canvas = document.getElementById(id);
  if (!canvas) return null;
  const instance = new Chart(canvas, { ...config, options: { maintainAspectRatio: false, ...config.options } });
  if (timeLabel) canvas.dataset.timeUnit = timeLabel; // what its time axis counts in
  canvas.dataset.ready = "true";
  return instance;
}

function timeAxis(label) {
  return { beginAtZero: true, title: { display: true, text: label } };
}

function processCharts(report) {
  const weekly = timeUnit(report.weekly.map((w) => [w.median_s, w.p90_s]));
  chart("chart-weekly", {
    data: {
      labels: report.weekly.map((w) => w.week),
      datasets: [
        { type: "bar", label: t("started"), data: report.weekly.map((w) => w.started), backgroundColor: COLORS.grey, yAxisID: "count" },
        { type: "bar", label: t("completed"), data: report.weekly.map((w) => w.completed), backgroundColor: COLORS.teal, yAxisID: "count" },
        { type: "line", label: `${t("median")} (${weekly.label})`, data: report.weekly.map((w) => weekly.of(w.median_s)), borderColor: COLORS.blue, backgroundColor: COLORS.blue, yAxisID: "time" },
        { type: "line", label: `${t("p90")} (${weekly.label})`, data: report.weekly.map((w) => weekly.of(w.p90_s)), borderColor: COLORS.orange, backgroundColor: COLORS.orange, yAxisID: "time" },
      ],
    },
    options: { scales: { count: { position: "left", beginAtZero: true }, time: { ...timeAxis(weekly.label), position: "right", grid: { drawOnChartArea: false } } } },
  }, weekly.label);
  const steps = report.steps.filter((s) => s.runs > 0);
  const perStep = timeUnit(steps.map((s) => [s.waiting_median_s, s.handling_median_s]));
  chart("chart-steps", {
    type: "bar",
    data: {
      labels: steps.map((s) => s.name),
      datasets: [
        { label: t("waiting"), data: steps.map((s) => perStep.of(s.waiting_median_s)), backgroundColor: COLORS.orange },
        { label: t("handling"), data: steps.map((s) => perStep.of(s.handling_median_s)), backgroundColor: COLORS.blue },
      ],
    },
    options: { indexAxis: "y", scales: { x: timeAxis(perStep.label) } },
  }, perStep.label);
}

// Green (fast) → yellow → red (slow), relative to the slowest step.
function heatColour(share) {
  const hue = Math.round(120 * (1 - Math.min(1, Math.max(0, share))));
  return `hsla(${hue}, 85%, 50%, 0.45)`;
}

// The same units as the tables (the server's "%(n)s min" / "%(n)s h" / "%(n)s d", translated).
function formatHours(seconds) {
  const unit = (key, n) => t(key).replace("%(n)s", n);
  if (seconds == null) return t("no_data");
  if (seconds < 60) return unit("unit_s", Math.round(seconds));
  if (seconds < 3600) return unit("unit_min", Math.round(seconds / 60));
  if (seconds < 2 * 86400) return unit("unit_h", (seconds / 3600).toFixed(1));
  return unit("unit_d", (seconds / 86400).toFixed(1));
}

async function heatOverlay(report) {
  const root = document.getElementById("heat-canvas");
  const xml = pageData("report-xml");
  if (!root || !xml) return;
  const viewer = new NavigatedViewer({ container: root });
  window.reportViewer = viewer;
  try {
    await viewer.importXML(xml.xml);
  } catch (error) {
    root.dataset.ready = "error";
    root.textContent = error.message;
    return;
  }
  const canvas = viewer.get("canvas");
  canvas.zoom("fit-viewport", "auto");
  const registry = viewer.get("elementRegistry");
  const overlays = viewer.get("overlays");
  const slowest = Math.max(0, ...report.steps.map((s) => s.in_step_median_s || 0));
  let drawn = 0;
  for (const step of report.steps) {
    const element = registry.get(step.id);
    if (!element) continue;
    const box = document.createElement("div");
    box.className = "heat-box";
    box.dataset.step = step.id;
    box.style.width = `${element.width}px`;
    box.style.height = `${element.height}px`;
    box.style.background = step.in_step_median_s == null ? "rgba(173, 181, 189, 0.25)" : heatColour(step.in_step_median_s / (slowest || 1));
    if (step.bottleneck) box.classList.add("heat-bottleneck");
    box.title = `${step.name}: ${t("median_time")} ${formatHours(step.in_step_median_s)}`;
    const label = document.createElement("span");
    label.className = "heat-label";
    label.textContent = formatHours(step.in_step_median_s);
    box.appendChild(label);
    overlays.add(step.id, "heat", { position: { top: 0, left: 0 }, html: box });
    drawn += 1;
  }
  root.dataset.ready = "true";
  root.dataset.overlays = String(drawn);
}

function peopleCharts(report) {
  const people = report.people.filter((p) => p.open || p.overdue || p.completed);
  chart("chart-people", {
    type: "bar",
    data: {
      labels: people.map((p) => p.label),
      datasets: [
        { label: t("open"), data: people.map((p) => p.open), backgroundColor: COLORS.blue },
        { label: t("overdue"), data: people.map((p) => p.overdue), backgroundColor: COLORS.red },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function automationCharts(report) {
  chart("chart-automation", {
    type: "bar",
    data: {
      labels: report.weekly.map((w) => w.week),
      datasets: [{ label: t("hours_saved"), data: report.weekly.map((w) => w.hours_saved), backgroundColor: COLORS.teal }],
    },
    options: { scales: { y: timeAxis(t("hours")) } },
  });
  document.querySelectorAll(".minutes-form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = form.querySelector(".minutes-status");
      const settings = [...form.querySelectorAll("input[type=number]")]
        .map((input) => ({ index: Number(input.name), minutes: Number(input.value || 0) }));
      try {
        await window.crmFetch(form.dataset.url, { method: "PUT", body: { settings } });
        // The hours saved and the totals follow the new minutes: the page reloads and says so.
        reloadSaying(t("saved"));
      } catch (error) {
        status.className = "small minutes-status text-danger";
        status.textContent = [error.message, ...(error.details || []).map((d) => d.message)].join(" · ");
      }
    });
  });
}

const page = document.getElementById("reports-page");
const report = pageData("report-data");
if (page && report) {
  const kind = page.dataset.kind;
  if (kind === "processes") {
    processCharts(report);
    heatOverlay(report);
  } else if (kind === "people") {
    peopleCharts(report);
  } else if (kind === "automation") {
    automationCharts(report);
  }
}
