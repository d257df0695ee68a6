// The modeler page: bpmn-js + properties panel, server-side drafts with debounced autosave,
// the engine's checks as markers and a list, deploy as an explicit step.
import BpmnModeler from "bpmn-js/lib/Modeler";
import { layoutProcess } from "bpmn-auto-layout";
import {
  BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaBehaviorsModule from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import TokenSimulationModule from "bpmn-js-token-simulation";
import MinimapModule from "diagram-js-minimap";
import LintingModule from "bpmn-js-bpmnlint";

import CrmPropertiesProvider from "./crm-properties.js";
import lintConfig from "./lint-config.js";
import { setupTestRun } from "./test-run.js";
import translateFor, { translateWidgets } from "./zh.js";
import { api, debounce, downloadText, el, pageData, t } from "./util.js";

const AUTOSAVE_MS = 1500;

// Fit the whole diagram, keeping it clear of the palette (left), the simulation toggle (top)
// and the lint button and watermark (bottom).
export function fitDiagram(canvas, margins = { left: 90, right: 30, top: 60, bottom: 60 }) {
  canvas.zoom("fit-viewport", "auto");
  const { inner, outer } = canvas.viewbox();
  if (!inner.width || !inner.height) return;
  const freeWidth = outer.width - margins.left - margins.right;
  const freeHeight = outer.height - margins.top - margins.bottom;
  const scale = Math.min(1, freeWidth / inner.width, freeHeight / inner.height);
  // Centred in the free area (a small diagram is not zoomed beyond 100 %).
  const padX = margins.left + (freeWidth - inner.width * scale) / 2;
  const padY = margins.top + (freeHeight - inner.height * scale) / 2;
  canvas.viewbox({
    x: inner.x - padX / scale,
    y: inner.y - padY / scale,
    width: outer.width / scale,
    height: outer.height / scale,
  });
}

export function startModeler(root) {
  const urls = JSON.parse(root.dataset.urls);
  const draft = pageData("designer-draft");
  const locale = document.documentElement.lang;
  const state = { version: draft.version, pending: 0, dirty: false, problems: [], conflict: false };

  const modeler = new BpmnModeler({
    container: root.querySelector("#designer-canvas"),
    propertiesPanel: { parent: root.querySelector("#designer-properties") },
    additionalModules: [
      BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule, TokenSimulationModule, MinimapModule, LintingModule,
      { __init__: ["crmPropertiesProvider"], crmPropertiesProvider: ["type", CrmPropertiesProvider] },
      { translate: ["value", translateFor(locale)] },
    ],
    moddleExtensions: { camunda: camundaModdle },
    linting: { bpmnlint: lintConfig, active: true },
    crm: { urls, fields: pageData("designer-fields") || [] },
  });
  window.designer = { modeler, state, save, check, deploy }; // used by tests and the console
  if (locale.toLowerCase().startsWith("zh")) translateWidgets(root);

  const status = root.querySelector("#designer-status");
  const setStatus = (text, kind = "muted") => {
    status.textContent = text;
    status.className = `small text-${kind}`;
  };

  // --- saving ------------------------------------------------------------------------------
  // Saves run one after another: each sends the version the previous one got back.
  let queue = Promise.resolve(true);
  function save(options = {}) {
    state.pending = (state.pending || 0) + 1;
    const run = queue.then(() => saveNow(options)).finally(() => { state.pending -= 1; });
    queue = run.catch(() => false);
    return run;
  }

  async function saveNow({ autosave = false, keepalive = false } = {}) {
    if (state.conflict) return false;
    if (!state.dirty) return true; // nothing new since the last save
    const { xml } = await modeler.saveXML({ format: true });
    state.dirty = false;
    state.lastSize = xml.length * 1.1; // JSON escaping of quotes and newlines
    setStatus(t("Saving…"));
    try {
      const saved = await api(urls.draft, { method: "PATCH", keepalive, body: { xml, version: state.version, autosave } });
      state.version = saved.version;
      root.dataset.version = saved.version;
      state.saveFailed = false;
      setStatus(autosave ? t("Autosaved") : t("Saved"), "success");
      scheduleCheck(xml);
      return true;
    } catch (error) {
      state.dirty = true;
      if (error.status === 409) {
        state.conflict = true;
        setStatus(t("Someone else changed this draft. Reload to see their version."), "danger");
        root.querySelector("#designer-conflict").hidden = false;
        updateDeploy();
      } else {
        state.saveFailed = true;  // the session ended, the network went: leaving would lose the drawing
        setStatus(`${t("Not saved")}: ${error.message}`, "danger");
      }
      return false;
    }
  }
  const autosave = debounce(() => save({ autosave: true }), AUTOSAVE_MS);

  modeler.on("commandStack.changed", () => {
    state.dirty = true;
    setStatus(t("Unsaved changes"), "warning");
    autosave();
    updateUndo();
    // The lists follow the drawing at once: a problem of an element just removed goes, and the
    // check runs again on what is drawn (it waited for the autosave, naming deleted steps).
    if (state.problems.some((p) => p.element_id && !registry.get(p.element_id))) {
      showProblems(state.problems.filter((p) => !p.element_id || registry.get(p.element_id)));
    }
    scheduleCheck();
  });
  // A closing tab still sends what was typed in the last second.
  const flush = () => {
    if (state.dirty && !state.conflict) {
      autosave.pending() && autosave.flush();
      if (state.dirty) save({ autosave: true, keepalive: true });
    }
  };
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && flush());
  // Browsers cap keepalive bodies at 64 KB: for bigger diagrams ask before leaving instead.
  window.addEventListener("beforeunload", (event) => {
    if (!(state.dirty || state.pending)) return;
    flush();
    if (state.conflict || state.saveFailed || state.lastSize > 60000) event.preventDefault();
  });

  // --- engine checks: markers on the elements and a list ------------------------------------
  const overlays = modeler.get("overlays");
  const canvas = modeler.get("canvas");
  const registry = modeler.get("elementRegistry");
  let marked = [];

  // The problem and hint lists sit above the canvas: shown, hidden or grown, they moved the
  // drawing under the pointer mid-edit (clicks landed on the wrong element). The diagram is
  // scrolled back by as much as the canvas moved.
  function keepingTheDrawingInPlace(change) {
    const box = canvas.getContainer();
    const before = box.getBoundingClientRect().top;
    change();
    const moved = box.getBoundingClientRect().top - before;
    if (moved) {
      canvas.resized();
      canvas.scroll({ dx: 0, dy: -moved });
    }
  }

  function showProblems(problems) {
    keepingTheDrawingInPlace(() => listProblems(problems));
  }

  function listProblems(problems) {
    state.problems = problems;
    marked.forEach((id) => registry.get(id) && canvas.removeMarker(id, "crm-problem"));
    overlays.remove({ type: "crm-problem" });
    marked = [];
    const list = root.querySelector("#designer-problems");
    const items = root.querySelector("#designer-problem-list");
    items.replaceChildren();
    const byElement = new Map();
    for (const p of problems) {
      const id = p.element_id && registry.get(p.element_id) ? p.element_id : null;
      if (id) {
        if (!byElement.has(id)) byElement.set(id, []);
        byElement.get(id).push(p.message);
      }
      items.append(el("li", { class: "crm-problem-item", "data-element-id": p.element_id || "" },
        el("button", { type: "button", class: "btn btn-link btn-sm p-0 text-start", onclick: () => id && focus(id) },
          id ? `${label(id)}: ` : "", p.message)));
    }
    for (const [id, messages] of byElement) {
      canvas.addMarker(id, "crm-problem");
      marked.push(id);
      overlays.add(id, "crm-problem", {
        position: badgePosition(registry.get(id)),
        html: el("div", { class: "crm-problem-badge", title: messages.join("\n") }, String(messages.length)),
      });
    }
    list.hidden = problems.length === 0;
    root.querySelector("#designer-problem-count").textContent = String(problems.length);
    root.dataset.problems = String(problems.length);
    updateDeploy();
  }

  // Shapes: top-right corner (top-left belongs to bpmnlint). Flows: the middle of their first
  // segment, so the badge sits on the flow itself, not on a shape it touches.
  function badgePosition(element) {
    if (!element.waypoints) return { top: -10, right: 8 };
    const [a, b] = element.waypoints;
    const x = Math.min(...element.waypoints.map((p) => p.x));
    const y = Math.min(...element.waypoints.map((p) => p.y));
    return { left: (a.x + b.x) / 2 - x - 9, top: (a.y + b.y) / 2 - y - 9 };
  }

  // An element as the designer knows it: its name; an unnamed flow by the steps it joins.
  function label(id) {
    const element = registry.get(id);
    if (!element) return id;
    if (element.businessObject.name) return element.businessObject.name;
    const { sourceRef, targetRef } = element.businessObject;
    if (sourceRef && targetRef) return `${sourceRef.name || sourceRef.id} → ${targetRef.name || targetRef.id}`;
    return id;
  }

  function focus(id) {
    const element = registry.get(id);
    modeler.get("selection").select(element);
    canvas.scrollToElement(element);
  }

  // Hints do not block deploying (a condition reading a variable nothing gives the process):
  // listed under the problems, each leading to its element.
  function showHints(hints) {
    keepingTheDrawingInPlace(() => listHints(hints));
  }

  function listHints(hints) {
    state.hints = hints;
    root.querySelector("#designer-hint-list").replaceChildren(...hints.map((h) => {
      const id = h.element_id && registry.get(h.element_id) ? h.element_id : null;
      return el("li", { class: "crm-hint-item", "data-element-id": h.element_id || "" },
        el("button", { type: "button", class: "btn btn-link btn-sm p-0 text-start", onclick: () => id && focus(id) },
          id ? `${label(id)}: ` : "", h.message));
    }));
    root.querySelector("#designer-hints").hidden = hints.length === 0;
    root.querySelector("#designer-hint-count").textContent = String(hints.length);
  }

  let checkSeq = 0;
  let lastCheck = Promise.resolve();
  // The newest check's findings are the ones shown: one started meanwhile (an edit, an
  // autosave) has the last word, and whoever reports on them waits for it (see lint).
  function check(xml) {
    lastCheck = runCheck(xml);
    return lastCheck;
  }
  async function runCheck(xml) {
    const mine = ++checkSeq;
    if (!xml) ({ xml } = await modeler.saveXML());
    try {
      const result = await api(`${urls.check}?key=${encodeURIComponent(draft.key)}`, { method: "POST", body: { xml } });
      state.checkFailed = false;
      if (mine === checkSeq) { showProblems(result.problems); showHints(result.hints || []); }
      return result.problems;
    } catch (error) {
      if (mine !== checkSeq) return state.problems;
      if (error.details && error.details.length) showProblems(error.details);
      else {
        state.checkFailed = true;  // not a problem of the diagram, and no all-clear either
        setStatus(`${t("Not checked")}: ${error.message}`, "danger");
      }
      return state.problems;
    }
  }
  const scheduleCheck = debounce(check, 300);

  // --- deploy ------------------------------------------------------------------------------
  const deployButton = root.querySelector("#designer-deploy");
  function updateDeploy() {
    deployButton.disabled = state.problems.length > 0 || state.conflict;
    deployButton.title = state.problems.length ? t("Fix the problems before deploying.") : "";
  }

  // One deploy at a time: a double-click deployed the same diagram as two versions.
  let deploying = null;
  function deploy() {
    deploying = deploying || deployNow().finally(() => { deploying = null; });
    return deploying;
  }
  async function deployNow() {
    autosave.pending() && autosave.flush();
    if (!(await save())) return null;
    const problems = await check();
    if (problems.length) {
      setStatus(t("Fix the problems before deploying."), "danger");
      return null;
    }
    setStatus(t("Deploying…"));
    try {
      const result = await api(urls.deploy, { method: "POST", body: { version: state.version } });
      const fresh = await api(urls.draft); // the deploy updated the draft's record
      state.version = fresh.version;
      root.querySelector("#designer-deployed").textContent = `v${result.version}`;
      const deployed = t("Deployed as version {version}").replace("{version}", result.version);
      const behind = (result.left_behind || []).map((s) => t("{count} at “{step}”").replace("{count}", s.instances)
        .replace("{step}", s.step)).join(t(", "));
      // Instances waiting at a step this version removed go on under their own version.
      if (behind) setStatus(`${deployed}. ${t("Running instances wait at steps this version removed ({steps}): they go on under their own version.").replace("{steps}", behind)}`, "warning-emphasis");
      else setStatus(deployed, "success");
      return result.version;
    } catch (error) {
      if (error.details && error.details.length) showProblems(error.details);
      setStatus(`${t("Not deployed")}: ${error.message}`, "danger");
      return null;
    }
  }

  // --- toolbar -----------------------------------------------------------------------------
  const testRun = setupTestRun(root, modeler, urls, () => save());
  const commandStack = modeler.get("commandStack");
  const zoomScroll = modeler.get("zoomScroll");
  const actions = {
    save: () => save(),
    deploy: () => deploy(),
    undo: () => commandStack.undo(),
    redo: () => commandStack.redo(),
    "zoom-in": () => zoomScroll.stepZoom(1),
    "zoom-out": () => zoomScroll.stepZoom(-1),
    fit: () => fitDiagram(canvas),
    minimap: () => modeler.get("minimap").toggle(),
    simulate: () => modeler.get("toggleMode").toggleMode(),
    "test-run": () => testRun.toggle(),
    // Shows both checks, never hides them: the drawing hints (bpmnlint, whose own badge
    // toggles them) and the server's check that blocks deploying.
    lint: async () => {
      modeler.get("linting").toggle(true);
      await check();
      for (let settled = null; settled !== lastCheck;) {
        settled = lastCheck;
        await settled;
      }
      if (state.checkFailed) return;  // its "Not checked: …" stays
      const problems = state.problems;
      const hints = state.hints || [];
      setStatus(problems.length ? t("{count} problems block deploying.").replace("{count}", problems.length)
        : hints.length ? t("No problems block deploying; {count} hints below are worth a look.").replace("{count}", hints.length)
          : t("No problems block deploying."), problems.length ? "danger" : hints.length ? "warning-emphasis" : "success");
    },
    export: async () => {
      const { xml } = await modeler.saveXML({ format: true });
      downloadText(`${draft.key}.bpmn`, xml);
    },
    reload: () => window.location.reload(),
    discard: async () => {
      if (!window.confirm(root.querySelector("[data-action=discard]").dataset.confirm)) return;
      autosave.pending() && autosave.flush();
      await queue; // an autosave in flight must not recreate what is being discarded
      state.dirty = false;
      state.conflict = true; // nothing more is saved from this page
      await api(urls.draft, { method: "DELETE" }).catch(() => {});
      // Reopening makes a fresh draft from the deployed version; a never-deployed one is gone.
      window.location.href = root.querySelector("#designer-deployed").textContent.startsWith("v") ? window.location.href : urls.list;
    },
  };
  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button && actions[button.dataset.action]) actions[button.dataset.action]();
  });
  function updateUndo() {
    root.querySelector("[data-action=undo]").disabled = !commandStack.canUndo();
    root.querySelector("[data-action=redo]").disabled = !commandStack.canRedo();
  }
  // Ctrl/Cmd+S saves (bpmn-js binds undo/redo, copy/paste, zoom and tools to the canvas).
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    }
  });

  // --- start -------------------------------------------------------------------------------
  // A file from another tool may hold the process without its drawing (no BPMNDiagram):
  // lay it out, show it, and save the drawing with the draft.
  const drawn = /<([\w-]+:)?BPMNDiagram[\s>]/.test(draft.xml);
  return (drawn ? Promise.resolve(draft.xml) : withFlowRefs(modeler.get("moddle"), draft.xml).then(layoutProcess))
    .then((xml) => modeler.importXML(xml)
    .then(({ warnings }) => {
      fitDiagram(canvas);
      updateUndo();
      if (warnings.length) console.warn("import warnings", warnings);
      setStatus(draft.has_changes ? t("Draft (not deployed)") : t("Same as the deployed version"));
      root.dataset.ready = "true";
      if (drawn) return check(xml);
      state.dirty = true;
      return save().then((saved) => {
        // Not saved (too large, offline): its own status says why; claiming it saved lost the layout.
        if (saved) setStatus(t("The file had no drawing: it was laid out automatically and saved."), "info");
        return check(xml);
      });
    })).catch((error) => {
    setStatus(`${t("The diagram cannot be opened")}: ${error.message}`, "danger");
    root.dataset.ready = "error";
  });
}

// The layout follows each element's incoming/outgoing lists, which files from other tools
// often leave out (the flows alone name their ends): fill them in from the flows.
async function withFlowRefs(moddle, xml) {
  const { rootElement } = await moddle.fromXML(xml);
  const containers = [...(rootElement.rootElements || [])];
  while (containers.length) {
    const container = containers.pop();
    const elements = container.flowElements || [];
    elements.forEach((element) => {
      if (element.flowElements) containers.push(element);
      if (!element.$instanceOf("bpmn:SequenceFlow") || !element.sourceRef || !element.targetRef) return;
      const outgoing = element.sourceRef.get("outgoing");
      const incoming = element.targetRef.get("incoming");
      if (!outgoing.includes(element)) outgoing.push(element);
      if (!incoming.includes(element)) incoming.push(element);
    });
  }
  return (await moddle.toXML(rootElement, { format: true })).xml;
}
