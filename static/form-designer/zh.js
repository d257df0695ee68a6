// Chinese names for the form-js editor's field types (palette entries and the properties
// panel's header). form-js-editor 1.23.0 has no translate service, but field types are
// registered through its public FormFields.register (the extension point for custom fields):
// each type is registered again as the same component under a Chinese name, before the
// editor first renders. Palette group headings and the properties panel's own labels are
// literals in the package and stay English (upstream bpmn-io/form-js#77).
const FIELD_NAMES_ZH = {
  textfield: "文本框",
  textarea: "多行文本",
  number: "数字",
  datetime: "日期时间",
  checkbox: "复选框",
  checklist: "复选框组",
  radio: "单选按钮组",
  select: "下拉选择",
  taglist: "标签列表",
  filepicker: "文件上传",
  text: "文本说明",
  html: "HTML 内容",
  expression: "表达式",
  image: "图片",
  table: "表格",
  iframe: "内嵌网页",
  documentPreview: "文档预览",
  separator: "分隔线",
  spacer: "间距",
  group: "分组",
  dynamiclist: "动态列表",
  button: "按钮",
};

function renamed(Field, name) {
  // A function component calling the original keeps its hooks in this component's slot.
  const Renamed = (props) => Field(props);
  Renamed.config = { ...Field.config, name };
  return Renamed;
}

function ChineseFieldNames(formFields) {
  for (const [type, name] of Object.entries(FIELD_NAMES_ZH)) {
    const Field = formFields.get(type);
    if (Field?.config) formFields.register(type, renamed(Field, name));
  }
}
ChineseFieldNames.$inject = ["formFields"];

export const chineseFieldNames = { __init__: ["chineseFieldNames"], chineseFieldNames: ["type", ChineseFieldNames] };
