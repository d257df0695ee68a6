// bpmnlint's "recommended" rules, packed for the browser by hand (what bpmnlint-pack-config
// would generate): a static resolver over the rule modules the config names.
import recommended from "bpmnlint/config/recommended";
import StaticResolver from "bpmnlint/lib/resolver/static-resolver";

import adHocSubProcess from "bpmnlint/rules/ad-hoc-sub-process";
import conditionalFlows from "bpmnlint/rules/conditional-flows";
import endEventRequired from "bpmnlint/rules/end-event-required";
import eventBasedGateway from "bpmnlint/rules/event-based-gateway";
import eventSubProcessTypedStartEvent from "bpmnlint/rules/event-sub-process-typed-start-event";
import fakeJoin from "bpmnlint/rules/fake-join";
import global from "bpmnlint/rules/global";
import labelRequired from "bpmnlint/rules/label-required";
import linkEvent from "bpmnlint/rules/link-event";
import noBpmndi from "bpmnlint/rules/no-bpmndi";
import noComplexGateway from "bpmnlint/rules/no-complex-gateway";
import noDisconnected from "bpmnlint/rules/no-disconnected";
import noDuplicateSequenceFlows from "bpmnlint/rules/no-duplicate-sequence-flows";
import noGatewayJoinFork from "bpmnlint/rules/no-gateway-join-fork";
import noImplicitSplit from "bpmnlint/rules/no-implicit-split";
import noImplicitEnd from "bpmnlint/rules/no-implicit-end";
import noImplicitStart from "bpmnlint/rules/no-implicit-start";
import noInclusiveGateway from "bpmnlint/rules/no-inclusive-gateway";
import noOverlappingElements from "bpmnlint/rules/no-overlapping-elements";
import singleBlankStartEvent from "bpmnlint/rules/single-blank-start-event";
import singleEventDefinition from "bpmnlint/rules/single-event-definition";
import startEventRequired from "bpmnlint/rules/start-event-required";
import subProcessBlankStartEvent from "bpmnlint/rules/sub-process-blank-start-event";
import superfluousGateway from "bpmnlint/rules/superfluous-gateway";
import superfluousLabel from "bpmnlint/rules/superfluous-label";
import superfluousTermination from "bpmnlint/rules/superfluous-termination";

const rules = {
  "ad-hoc-sub-process": adHocSubProcess,
  "conditional-flows": conditionalFlows,
  "end-event-required": endEventRequired,
  "event-based-gateway": eventBasedGateway,
  "event-sub-process-typed-start-event": eventSubProcessTypedStartEvent,
  "fake-join": fakeJoin,
  global,
  "label-required": labelRequired,
  "link-event": linkEvent,
  "no-bpmndi": noBpmndi,
  "no-complex-gateway": noComplexGateway,
  "no-disconnected": noDisconnected,
  "no-duplicate-sequence-flows": noDuplicateSequenceFlows,
  "no-gateway-join-fork": noGatewayJoinFork,
  "no-implicit-split": noImplicitSplit,
  "no-implicit-end": noImplicitEnd,
  "no-implicit-start": noImplicitStart,
  "no-inclusive-gateway": noInclusiveGateway,
  "no-overlapping-elements": noOverlappingElements,
  "single-blank-start-event": singleBlankStartEvent,
  "single-event-definition": singleEventDefinition,
  "start-event-required": startEventRequired,
  "sub-process-blank-start-event": subProcessBlankStartEvent,
  "superfluous-gateway": superfluousGateway,
  "superfluous-label": superfluousLabel,
  "superfluous-termination": superfluousTermination,
};

// Ours: an exclusive gateway whose every way out has a condition but none is the default stops
// its process with an error the day no condition holds (a decision typed "maybe").
const NO_DEFAULT = "Exclusive gateway has no default flow: when no condition holds, the process stops with an error";
function gatewayNeedsDefault() {
  function check(node, reporter) {
    if (node.$type !== "bpmn:ExclusiveGateway" || node.default) return;
    const outgoing = node.outgoing || [];
    if (outgoing.length > 1 && outgoing.every((flow) => flow.conditionExpression)) reporter.report(node.id, NO_DEFAULT);
  }
  return { check };
}

const cache = {
  "config:bpmnlint/recommended": recommended,
  "rule:bpmnlint-plugin-crm/gateway-needs-default": gatewayNeedsDefault,
};
for (const [name, rule] of Object.entries(rules)) cache[`rule:bpmnlint/${name}`] = rule;

// Every rule of "recommended" must be in the cache, or bpmnlint would fail at lint time.
for (const name of Object.keys(recommended.rules)) {
  if (!rules[name]) throw new Error(`bpmnlint rule ${name} is not packed`);
}

// Drawing hints, all of them warnings: what blocks deploying is the product's own check, listed
// above the canvas. bpmnlint's "errors" (an unnamed start event, a gateway both joining and
// forking) beside "No problems block deploying" left designers unsure which list mattered.
const asHints = Object.fromEntries(Object.entries(recommended.rules)
  .map(([name, level]) => [name, level === "off" || level === 0 ? "off" : "warn"]));

export default {
  resolver: new StaticResolver(cache),
  config: {
    extends: "bpmnlint:recommended",
    // "recommended" warns against inclusive gateways because many engines lack them; ours
    // runs them, joins included (tests/engine/test_parallel_join.py).
    rules: { ...asHints, "no-inclusive-gateway": "off", "crm/gateway-needs-default": "warn" },
  },
};
