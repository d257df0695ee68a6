// The process designer's pages: the list (create, import, duplicate), the modeler and the
// read-only viewer of a deployed version.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css";
import "diagram-js-minimap/assets/diagram-js-minimap.css";
import "bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css";
import "./designer.css";

import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";

import { askInDialog } from "../shared/ask-dialog.js";
import { fitDiagram, startModeler } from "./modeler.js";
import { api, pageData, t } from "./util.js";

function startViewer(root) {
  const viewer = new NavigatedViewer({ container: root.querySelector("#designer-canvas") });
  window.designer = { viewer };
  viewer.importXML(pageData("designer-xml").xml).then(() => {
    fitDiagram(viewer.get("canvas"), { left: 30, right: 30, top: 30, bottom: 50 });
    root.dataset.ready = "true";
  }).catch((error) => {
    root.querySelector("#designer-status").textContent = error.message;
    root.dataset.ready = "error";
  });
}

function startList(root) {
  const urls = JSON.parse(root.dataset.urls);
  const error = root.querySelector("#designer-error");
  const open = (key) => { window.location.href = urls.modeler.replace("__KEY__", encodeURIComponent(key)); };
  const fail = (e) => {
    error.textContent = [e.message, ...(e.details || []).map((d) => d.message)].join(" · ");
    error.hidden = false;
  };
  const create = (body) => api(urls.drafts, { method: "POST", body }).then((d) => open(d.key)).catch(fail);

  root.querySelector("#designer-new").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { key: form.get("key"), name: form.get("name") || null };
    if (form.get("template")) body.template = form.get("template");
    create(body);
  });
  root.querySelector("#designer-import").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    const xml = await file.text();
    error.hidden = true;
    try {
      open((await api(urls.drafts, { method: "POST", body: { xml } })).key);
    } catch (e) {
      // The file is a process that exists (exported, changed elsewhere): offer it as its next version.
      const key = e.details?.[0]?.message;
      if (e.code !== "key_taken" || !window.confirm(t("importAsNextVersion").replace("{key}", key))) { fail(e); return; }
      create({ xml, as_next_version: true });
    }
  });
  root.addEventListener("click", async (event) => {
    const copy = event.target.closest("[data-copy-of]");
    if (!copy) return;
    const key = await askInDialog(document.getElementById("copy-dialog"), {
      title: copy.dataset.copyPrompt, confirm: copy.textContent.trim(), value: `${copy.dataset.copyOf}_copy`,
    });
    if (key) create({ key, copy_of: copy.dataset.copyOf });
  });
}

// The editor fills the window below the navigation bar, whatever height the bar has.
function fillWindow(root) {
  const fit = () => { root.style.height = `${Math.max(420, window.innerHeight - root.getBoundingClientRect().top - window.scrollY)}px`; };
  fit();
  window.addEventListener("resize", fit);
}

const modelerRoot = document.getElementById("designer-modeler");
const viewerRoot = document.getElementById("designer-viewer");
const listRoot = document.getElementById("designer-list");
if (modelerRoot) { fillWindow(modelerRoot); startModeler(modelerRoot); }
if (viewerRoot) { fillWindow(viewerRoot); startViewer(viewerRoot); }
if (listRoot) startList(listRoot);
