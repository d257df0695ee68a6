// Properties in the product's language: people and groups picked from the directory, forms
// from the form library, due dates and timers as ISO-8601, gateway conditions built from
// rows, service-task operations from the engine's registry.  Everything is written as
// Camunda 7 attributes so Camunda Modeler diagrams interoperate.
import { h } from "@bpmn-io/properties-panel/preact";
import { useEffect, useRef, useState } from "@bpmn-io/properties-panel/preact/hooks";
import { is, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";

import {
  OPERATORS, UNITS, buildCondition, durationToIso, isExpression, isUnary, isoToDuration, isoToLocal,
  localToIso, parseCondition,
} from "./expressions.js";
import { api, processDataNames, t } from "./util.js";

const LOW_PRIORITY = 400;
// Stock Camunda groups our groups replace (same attributes, two editors would confuse).
const REPLACED = new Set(["CamundaPlatform__UserAssignment", "CamundaPlatform__Form", "CamundaPlatform__Condition"]);
// Stock Camunda groups for what this engine does not do (history clean-up, the job executor,
// listeners, Tasklist flags, external-task priority, connectors): a value set there would be
// saved and silently ignored, so they are not offered.
const NOT_RUN_HERE = new Set([
  "CamundaPlatform__HistoryCleanup", "CamundaPlatform__Tasklist", "CamundaPlatform__CandidateStarter",
  "CamundaPlatform__ExternalTask", "CamundaPlatform__JobExecution", "CamundaPlatform__AsynchronousContinuations",
  "CamundaPlatform__ExecutionListener", "CamundaPlatform__TaskListener", "CamundaPlatform__FieldInjection",
  "CamundaPlatform__ConnectorInput", "CamundaPlatform__ConnectorOutput", "CamundaPlatform__StartInitiator",
  "CamundaPlatform__BusinessKey", "CamundaPlatform__Errors",
]);

// --- directory look-ups (search as you type) ----------------------------------------------
const cache = new Map();
function lookup(kind, q, urls) {
  const key = `${kind}:${q}`;
  if (!cache.has(key)) {
    const url = `${urls[kind]}?per_page=8&q=${encodeURIComponent(q)}`;
    cache.set(key, api(url).then((page) => (page.items || []).map((item) => {
      if (kind === "users") return { value: item.username, label: item.display_name || item.username };
      if (kind === "groups") return { value: item.name, label: item.display_name || item.name };
      return { value: item.key, label: item.name || item.key };
    })).catch((error) => {
      cache.delete(key);
      if (kind === "forms" && error.status === 404) return null; // no form library: plain text
      return [];
    }));
  }
  return cache.get(key);
}

function entryShell(id, label, description, children) {
  return h("div", { class: "bio-properties-panel-entry crm-entry", "data-entry-id": id }, [
    label ? h("label", { class: "bio-properties-panel-label", for: `crm-${id}` }, label) : null,
    ...children,
    description ? h("div", { class: "bio-properties-panel-description" }, description) : null,
  ]);
}

// A text field with suggestions from the directory. ``multi``: comma-separated list, the
// suggestions complete the last item.  Text in ${...} is an expression and gets none.
function SuggestEntry(props) {
  const { id, element, label, description, kind, multi, urls, getValue, setValue, extra } = props;
  const value = getValue(element) || "";
  const [text, setText] = useState(value);
  const [items, setItems] = useState([]);
  const [open, setOpen] = useState(false);
  const seq = useRef(0);
  useEffect(() => setText(value), [value, element]);

  const term = multi ? text.split(",").pop().trim() : text.trim();
  useEffect(() => {
    if (!open || isExpression(text)) {
      setItems([]);
      return undefined;
    }
    const mine = ++seq.current;
    const timer = setTimeout(() => {
      lookup(kind, term, urls).then((found) => {
        if (mine !== seq.current) return;
        const list = (extra || []).filter((x) => !term || x.value.includes(term)).concat(found || []);
        setItems(list);
      });
    }, 150);
    return () => clearTimeout(timer);
  }, [term, open]);

  const commit = (next) => {
    setText(next);
    if (next !== value) setValue(element, next.trim() || undefined);
  };
  const pick = (item) => {
    let next = item.value;
    if (multi && !isExpression(item.value)) {
      const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
      if (term) parts.pop();
      if (!parts.includes(item.value)) parts.push(item.value);
      next = parts.join(",");
    }
    commit(next);
    setOpen(false);
  };
  return entryShell(id, label, description, [
    h("input", {
      id: `crm-${id}`, class: "bio-properties-panel-input", type: "text", value: text, autocomplete: "off",
      spellcheck: false, "data-kind": kind,
      onInput: (e) => { setText(e.target.value); setOpen(true); },
      onFocus: () => setOpen(true),
      onBlur: (e) => { commit(e.target.value); setTimeout(() => setOpen(false), 200); },
      onKeyDown: (e) => { if (e.key === "Enter") { e.preventDefault(); commit(e.target.value); setOpen(false); } },
    }),
    open && items.length ? h("ul", { class: "crm-suggestions", role: "listbox" }, items.map((item) => h("li", {
      role: "option", "data-value": item.value, onMouseDown: (e) => { e.preventDefault(); pick(item); },
    }, [h("strong", null, item.label), item.label !== item.value ? h("small", null, ` ${item.value}`) : null]))) : null,
  ]);
}

// Duration / date / expression → a valid ISO-8601 value (or ${...}).
function IsoEntry(props) {
  const { id, element, label, description, getValue, setValue, modes } = props;
  const value = getValue(element) || "";
  const initialMode = !value ? modes[0] : isExpression(value) ? "expression" : isoToDuration(value) ? "duration"
    : /^\d{4}-/.test(value) ? "date" : "expression";
  const [mode, setMode] = useState(initialMode);
  useEffect(() => setMode(initialMode), [element, value]);
  const duration = isoToDuration(value) || { amount: "", unit: "D" };
  const write = (next) => setValue(element, next || undefined);
  const controls = [];
  if (mode === "duration") {
    controls.push(h("div", { class: "crm-row" }, [
      h("input", {
        class: "bio-properties-panel-input crm-amount", type: "number", min: 1, value: duration.amount,
        "aria-label": t("How many"),
        onChange: (e) => write(durationToIso(e.target.value, duration.unit)),
      }),
      h("select", {
        class: "bio-properties-panel-input crm-unit", value: duration.unit, "aria-label": t("Unit"),
        onChange: (e) => write(durationToIso(duration.amount || 1, e.target.value)),
      }, Object.entries(UNITS).map(([u, name]) => h("option", { value: u }, t(name)))),
    ]));
  } else if (mode === "date") {
    controls.push(h("input", {
      class: "bio-properties-panel-input crm-date", type: "datetime-local", value: isoToLocal(value),
      onChange: (e) => write(localToIso(e.target.value)),
    }));
  } else {
    controls.push(h("input", {
      class: "bio-properties-panel-input crm-expression", type: "text", value, placeholder: "${...}",
      spellcheck: false, onChange: (e) => write(e.target.value.trim()),
    }));
  }
  return entryShell(id, label, description, [
    h("div", { class: "crm-row" }, [
      h("select", {
        id: `crm-${id}`, class: "bio-properties-panel-input crm-mode", value: mode,
        onChange: (e) => setMode(e.target.value),
      }, modes.map((m) => h("option", { value: m }, t(m)))),
    ]),
    ...controls,
    value ? h("code", { class: "crm-value" }, value) : null,
  ]);
}

// --- condition builder --------------------------------------------------------------------
const KEYWORDS = new Set(["and", "or", "not", "in", "true", "false", "null", "None", "True", "False"]);

// Process data this diagram already uses: "Process data: a, b" in the process documentation
// and the names in its conditions, offered besides the usual record fields.
function diagramFields(injector, fields) {
  const names = new Set(fields.map((f) => f.name));
  const out = [...fields];
  const add = (name) => { if (!names.has(name) && !KEYWORDS.has(name)) { names.add(name); out.push({ name, label: name }); } };
  processDataNames(injector.get("canvas").getRootElement().businessObject).forEach(add);
  injector.get("elementRegistry").filter((e) => e.businessObject && e.businessObject.conditionExpression).forEach((e) => {
    const body = (e.businessObject.conditionExpression.body || "").replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "");
    (body.match(/[A-Za-z_][\w.]*/g) || []).forEach(add);
  });
  return out;
}

function ConditionEntry(props) {
  const { id, element, injector } = props;
  const fields = diagramFields(injector, props.fields);
  const modeling = injector.get("modeling");
  const bpmnFactory = injector.get("bpmnFactory");
  const bo = getBusinessObject(element);
  const gateway = bo.sourceRef;
  const isDefault = gateway.default === bo;
  const body = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
  const parsed = parseCondition(body);
  const [raw, setRaw] = useState(parsed === null);
  const [rows, setRows] = useState(parsed ? parsed.rows : []);
  const [join, setJoin] = useState(parsed ? parsed.join : "&&");
  useEffect(() => {
    const again = parseCondition(body);
    if (again) { setRows(again.rows.length ? again.rows : [{ field: "", op: "==", value: "" }]); setJoin(again.join); }
    setRaw(again === null);
  }, [element, body]);

  const writeExpression = (text) => {
    const props = { conditionExpression: text ? bpmnFactory.create("bpmn:FormalExpression", { body: text }) : undefined };
    modeling.updateProperties(element, props);
  };
  const writeRows = (nextRows, nextJoin) => {
    setRows(nextRows);
    setJoin(nextJoin);
    const expr = buildCondition(nextRows, nextJoin);
    if (expr !== null && expr !== body) writeExpression(expr);
  };
  const setDefault = (on) => {
    if (on) {
      // The default flow carries no condition (the engine ignores it there anyway).
      modeling.updateProperties(element, { conditionExpression: undefined });
      modeling.updateProperties(element.source, { default: bo });
    } else {
      modeling.updateProperties(element.source, { default: undefined });
    }
  };

  const children = [
    h("label", { class: "crm-check" }, [
      h("input", { type: "checkbox", class: "crm-default", checked: isDefault, onChange: (e) => setDefault(e.target.checked) }),
      ` ${t("Default flow (taken when no condition holds)")}`,
    ]),
  ];
  if (!isDefault) {
    children.push(h("label", { class: "crm-check" }, [
      h("input", { type: "checkbox", class: "crm-raw", checked: raw, onChange: (e) => setRaw(e.target.checked) }),
      ` ${t("Raw expression")}`,
    ]));
    if (raw) {
      children.push(h("textarea", {
        class: "bio-properties-panel-input crm-raw-text", rows: 3, spellcheck: false, value: body,
        placeholder: "${amount > 10000 && province == '福建'}",
        onChange: (e) => writeExpression(e.target.value.trim()),
      }));
    } else {
      const shown = rows.length ? rows : [{ field: "", op: "==", value: "" }];
      children.push(h("datalist", { id: `crm-fields-${element.id}` }, fields.map((f) => h("option", { value: f.name }, f.label))));
      shown.forEach((row, index) => {
        const update = (patch) => writeRows(shown.map((r, i) => (i === index ? { ...r, ...patch } : r)), join);
        children.push(h("div", { class: "crm-row crm-condition-row", "data-index": index }, [
          index > 0 ? h("select", {
            class: "bio-properties-panel-input crm-join", value: join, "aria-label": t("and / or"),
            onChange: (e) => writeRows(shown, e.target.value),
          }, [h("option", { value: "&&" }, t("and")), h("option", { value: "||" }, t("or"))]) : null,
          h("input", {
            class: "bio-properties-panel-input crm-field", type: "text", list: `crm-fields-${element.id}`, value: row.field,
            placeholder: t("field"), spellcheck: false, onChange: (e) => update({ field: e.target.value.trim() }),
          }),
          h("select", {
            class: "bio-properties-panel-input crm-op", value: row.op, onChange: (e) => update({ op: e.target.value }),
          }, OPERATORS.map((op) => h("option", { value: op }, t(`op:${op}`)))),
          isUnary(row.op) ? null : h("input", {
            class: "bio-properties-panel-input crm-value-input", type: "text", value: row.value, placeholder: t("value"),
            onChange: (e) => update({ value: e.target.value }),
          }),
          h("button", {
            type: "button", class: "crm-remove", title: t("Remove"),
            onClick: () => writeRows(shown.filter((_, i) => i !== index), join),
          }, "×"),
        ]));
      });
      children.push(h("button", {
        type: "button", class: "crm-add",
        onClick: () => setRows([...shown, { field: "", op: "==", value: "" }]),
      }, `+ ${t("Add condition")}`));
      if (body) children.push(h("code", { class: "crm-value" }, body));
    }
  }
  return h("div", { class: "bio-properties-panel-entry crm-entry crm-condition", "data-entry-id": id }, children);
}

// --- service task operation ---------------------------------------------------------------
let operationsPromise = null;
function OperationEntry(props) {
  const { id, element, injector, urls } = props;
  const modeling = injector.get("modeling");
  const bpmnFactory = injector.get("bpmnFactory");
  const bo = getBusinessObject(element);
  const [operations, setOperations] = useState([]);
  useEffect(() => {
    operationsPromise = operationsPromise || api(urls.operations).then((r) => r.items).catch(() => []);
    operationsPromise.then(setOperations);
  }, []);
  const current = bo.get("camunda:type") === "external" ? bo.get("camunda:topic") || "" : "";
  const op = operations.find((o) => o.name === current);
  const ext = bo.extensionElements;
  const io = ext && (ext.values || []).find((v) => is(v, "camunda:InputOutput"));
  const params = io ? io.inputParameters || [] : [];
  const paramValue = (name) => {
    const p = params.find((x) => x.name === name);
    return p ? p.value || "" : "";
  };

  const choose = (name) => {
    modeling.updateProperties(element, name
      ? { "camunda:type": "external", "camunda:topic": name, "camunda:class": undefined,
        "camunda:expression": undefined, "camunda:delegateExpression": undefined }
      : { "camunda:type": undefined, "camunda:topic": undefined });
  };
  const setParam = (name, value) => {
    let extension = getBusinessObject(element).extensionElements;
    if (!extension) {
      extension = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
      modeling.updateProperties(element, { extensionElements: extension });
    }
    let inout = (extension.values || []).find((v) => is(v, "camunda:InputOutput"));
    if (!inout) {
      inout = bpmnFactory.create("camunda:InputOutput", { inputParameters: [], outputParameters: [] });
      inout.$parent = extension;
      modeling.updateModdleProperties(element, extension, { values: [...(extension.values || []), inout] });
    }
    const existing = (inout.inputParameters || []).find((p) => p.name === name);
    if (existing && value) {
      modeling.updateModdleProperties(element, existing, { value });
    } else if (existing) {
      modeling.updateModdleProperties(element, inout, { inputParameters: inout.inputParameters.filter((p) => p !== existing) });
    } else if (value) {
      const param = bpmnFactory.create("camunda:InputParameter", { name, value });
      param.$parent = inout;
      modeling.updateModdleProperties(element, inout, { inputParameters: [...(inout.inputParameters || []), param] });
    }
  };

  const names = op ? [...op.required, ...op.optional] : [];
  const extraNames = params.map((p) => p.name).filter((n) => !names.includes(n));
  return entryShell(id, null, op ? op.description : t("What this step does in the CRM."), [
    h("select", {
      id: `crm-${id}`, class: "bio-properties-panel-input crm-operation", value: current,
      onChange: (e) => choose(e.target.value),
    }, [h("option", { value: "" }, `— ${t("choose")} —`),
      ...operations.map((o) => h("option", { value: o.name }, o.description ? `${o.name} · ${o.description}` : o.name)),
      current && !op ? h("option", { value: current }, current) : null]),
    ...[...names, ...extraNames].map((name) => h("div", { class: "crm-param" }, [
      // What the parameter is, then its name in the diagram (what an expression or the XML uses).
      h("label", { class: "bio-properties-panel-label", for: `crm-param-${id}-${name}` },
        [op?.labels?.[name] ? [op.labels[name], " ", h("code", {}, name)] : name, op && op.required.includes(name) ? " *" : ""]),
      h("input", {
        id: `crm-param-${id}-${name}`,
        class: "bio-properties-panel-input crm-param-input", type: "text", "data-param": name, value: paramValue(name),
        placeholder: t("text or ${expression}"), spellcheck: false,
        list: op?.suggestions?.[name] ? `crm-param-${id}-${name}-values` : undefined,
        onChange: (e) => setParam(name, e.target.value.trim()),
      }),
      // What the server offers for it (a record's fields, the report statuses); typing stays free.
      op?.suggestions?.[name] ? h("datalist", { id: `crm-param-${id}-${name}-values` },
        op.suggestions[name].map((o) => h("option", { value: o.value }, o.label))) : null,
    ])),
  ]);
}

// --- timers -------------------------------------------------------------------------------
function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.eventDefinitions || []).find((d) => is(d, "bpmn:TimerEventDefinition"));
}

function timerAccessors(injector) {
  const modeling = injector.get("modeling");
  const bpmnFactory = injector.get("bpmnFactory");
  return {
    getValue: (element) => {
      const def = timerDefinition(element);
      const expr = def && (def.timeDuration || def.timeDate || def.timeCycle);
      return expr ? expr.body : "";
    },
    setValue: (element, value) => {
      const def = timerDefinition(element);
      const kind = !value ? "timeDuration" : isoToDuration(value) ? "timeDuration"
        : /^\d{4}-/.test(value) ? "timeDate" : (def.timeCycle ? "timeCycle" : def.timeDate ? "timeDate" : "timeDuration");
      const props = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
      if (value) props[kind] = bpmnFactory.create("bpmn:FormalExpression", { body: value });
      modeling.updateModdleProperties(element, def, props);
    },
  };
}

// --- the provider -------------------------------------------------------------------------
function attr(name, modelingOf) {
  return {
    getValue: (element) => getBusinessObject(element).get(name),
    setValue: (element, value) => modelingOf().updateProperties(element, { [name]: value }),
  };
}

export default function CrmPropertiesProvider(propertiesPanel, injector, config) {
  this._injector = injector;
  this._urls = (config && config.urls) || {};
  this._fields = (config && config.fields) || [];
  propertiesPanel.registerProvider(LOW_PRIORITY, this);
}
CrmPropertiesProvider.$inject = ["propertiesPanel", "injector", "config.crm"];

CrmPropertiesProvider.prototype.getGroups = function (element) {
  return (groups) => {
    const injector = this._injector;
    const urls = this._urls;
    const modelingOf = () => injector.get("modeling");
    const add = [];
    groups = groups.filter((g) => !NOT_RUN_HERE.has(g.id));
    if (is(element, "bpmn:UserTask")) {
      groups = groups.filter((g) => !REPLACED.has(g.id));
      const ownerExpr = [{ value: "${owner}", label: t("Record owner") }, { value: "${reporter}", label: t("Reporter") }];
      add.push({
        id: "crm-assignment", label: t("Who does it"), entries: [
          { id: "crm-assignee", component: SuggestEntry, kind: "users", urls, label: t("Assignee"),
            description: t("A user, or an expression such as ${owner}."), extra: ownerExpr,
            ...attr("camunda:assignee", modelingOf) },
          { id: "crm-candidate-groups", component: SuggestEntry, kind: "groups", urls, multi: true,
            label: t("Candidate groups"), description: t("Anyone in these groups may claim the task."),
            ...attr("camunda:candidateGroups", modelingOf) },
          { id: "crm-candidate-users", component: SuggestEntry, kind: "users", urls, multi: true,
            label: t("Candidate users"), ...attr("camunda:candidateUsers", modelingOf) },
        ],
      });
      add.push({
        id: "crm-form", label: t("Form and due date"), entries: [
          { id: "crm-form-key", component: SuggestEntry, kind: "forms", urls, label: t("Form"),
            description: t("The form the assignee fills in."), ...attr("camunda:formKey", modelingOf) },
          { id: "crm-due-date", component: IsoEntry, label: t("Due"), modes: ["duration", "date", "expression"],
            description: t("Relative to when the task opens, a fixed date, or an expression."),
            ...attr("camunda:dueDate", modelingOf) },
        ],
      });
    }
    if (is(element, "bpmn:SequenceFlow") && element.source
        && (is(element.source, "bpmn:ExclusiveGateway") || is(element.source, "bpmn:InclusiveGateway"))) {
      groups = groups.filter((g) => !REPLACED.has(g.id));
      add.push({ id: "crm-condition", label: t("Condition"), entries: [
        { id: "crm-condition-builder", component: ConditionEntry, injector, fields: this._fields },
      ] });
    }
    if (is(element, "bpmn:ServiceTask")) {
      groups = groups.filter((g) => g.id !== "CamundaPlatform__Implementation" && g.id !== "CamundaPlatform__Input");
      add.push({ id: "crm-operation", label: t("Operation"), entries: [
        { id: "crm-operation-select", component: OperationEntry, injector, urls },
      ] });
    }
    if (timerDefinition(element)) {
      add.push({ id: "crm-timer", label: t("When"), entries: [
        { id: "crm-timer-value", component: IsoEntry, label: t("Timer"), modes: ["duration", "date", "expression"],
          description: t("A duration after the timer starts, or a date (ISO-8601)."), ...timerAccessors(injector) },
      ] });
    }
    // Our groups go right after "General" so they are the first thing a designer sees.
    const generalIndex = groups.findIndex((g) => g.id === "general");
    groups.splice(generalIndex + 1, 0, ...add);
    return groups;
  };
};
