// The controls of @bpmn-io/properties-panel, which both designers (bpmn-js, form-js) use; it
// renders them from English literals that no translate service reaches.
export const PROPERTIES_PANEL_ZH = {
  Create: "添加",
  "Create new list item": "添加一项",
  "Delete item": "删除此项",
  "Toggle list item": "展开/收起此项",
  "Toggle section": "展开/收起",
  "Section contains edits": "此部分有改动",
  "Section contains an error": "此部分有错误",
  "<empty>": "<空>",
  "<none>": "<无>",
  "Open pop-up editor": "在弹出窗口中编辑",
  "Opened in editor": "已在编辑器中打开",
  "Open documentation": "打开文档",
  "FEEL expression is mandatory": "此处必须是 FEEL 表达式",
  "Click to set a dynamic value with FEEL expression": "点击改用 FEEL 表达式设置动态值",
  "Click to remove dynamic value with FEEL expression": "点击取消 FEEL 表达式的动态值",
  "Unparsable FEEL expression.": "无法解析的 FEEL 表达式。",
};

export const PROPERTIES_PANEL_PATTERNS_ZH = [[/^List contains (\d+) items?$/, "共 $1 项"]];

// What a designer types in the panel (a field's label in its header, list items' names, FEEL
// and template editors): never translated.
export const PROPERTIES_PANEL_TYPED = ".bio-properties-panel-header-label, .bio-properties-panel-collapsible-entry-header-title, " +
  ".cm-editor, [contenteditable], textarea";
