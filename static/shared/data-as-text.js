import { FeelersTemplating } from "@bpmn-io/form-js-viewer";

// A text block's {{ }} templates put the process's data (what a salesperson typed: a customer's
// name) into its Markdown, where "[同意](https://…)" or "# 已批准" became a live link or a heading
// in the approver's form. form-js escapes such values only in HTML blocks; here text blocks too
// (":" and "@" as well: a bare address would become a link, and show the escapes in it).
const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const asMarkdownText = (value) => (value === null || value === undefined ? value
  : String(value).replace(/[&<>"]/g, (c) => ENTITIES[c]).replace(/[\\`*_{}[\]()#+\-.!|~:@]/g, "\\$&"));

class DataAsTextTemplating extends FeelersTemplating {
  evaluate(template, context, options = {}) {
    // form-js' text block passes `strict` and no sanitizer; labels pass neither, HTML blocks their own.
    const markdown = "strict" in options && !options.sanitizer;
    return super.evaluate(template, context, markdown ? { ...options, sanitizer: asMarkdownText } : options);
  }
}

export const dataAsText = { templating: ["type", DataAsTextTemplating] };
