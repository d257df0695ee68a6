import { PROPERTIES_PANEL_PATTERNS_ZH, PROPERTIES_PANEL_TYPED, PROPERTIES_PANEL_ZH } from "../shared/properties-panel-zh.js";
import { translateWhereShown } from "../shared/translate-where-shown.js";

// The form-js editor in Chinese. form-js-editor 1.23.0 has no translate service.
//
// Field types: registered again through the public FormFields.register (the extension point
// for custom fields) as the same component under a Chinese name, before the editor first
// renders; a new field's default label (and a text view's default text) is Chinese too.
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

// What else a new field of these types starts with in English.
const firstOptionZh = (field) => (Array.isArray(field.values)
  ? { values: field.values.map((option, index) => (option.label === "Value" ? { ...option, label: `选项 ${index + 1}` } : option)) }
  : {});
const NEW_FIELD_ZH = {
  text: (field, name, options) => (options.text ? {} : { text: `# ${name}` }),
  table: (field) => ({ columns: field.columns?.map((column) => ({ ...column, label: TABLE_COLUMNS_ZH[column.key] ?? column.label })) }),
  radio: firstOptionZh,
  select: firstOptionZh,
  checklist: firstOptionZh,
  taglist: firstOptionZh,
};
const TABLE_COLUMNS_ZH = { id: "编号", name: "名称", date: "日期" };

function renamed(Field, type, name) {
  // A function component calling the original keeps its hooks in this component's slot.
  const Renamed = (props) => Field(props);
  const { create, label } = Field.config;
  Renamed.config = {
    ...Field.config,
    name,
    ...(label ? { label: name } : {}), // the factory's default label for some types
    create: (options = {}, isNewField) => {
      const field = create(options, isNewField);
      if (isNewField === false) return field; // imported: as its schema says
      const labelled = field.label && !options.label ? { label: name } : {};
      return { ...field, ...labelled, ...NEW_FIELD_ZH[type]?.(field, name, options) };
    },
  };
  return Renamed;
}

function ChineseFieldNames(formFields) {
  for (const [type, name] of Object.entries(FIELD_NAMES_ZH)) {
    const Field = formFields.get(type);
    if (Field?.config) formFields.register(type, renamed(Field, type, name));
  }
}
ChineseFieldNames.$inject = ["formFields"];

export const chineseFieldNames = { __init__: ["chineseFieldNames"], chineseFieldNames: ["type", ChineseFieldNames] };

// The rest of what the editor says is rendered from English literals in the package (upstream
// bpmn-io/form-js#77): palette headings, the properties panel's groups, labels, options,
// descriptions, tooltips and messages. It is translated where it is shown (shared/
// translate-where-shown.js): only the editor's own chrome (CHROME), never what a designer
// typed (PROPERTIES_PANEL_TYPED). tests/forms/test_browser.py fails on any English left.
const PHRASES_ZH = {
  // palette and canvas
  Components: "组件",
  "Search components": "搜索组件",
  "Clear content": "清除",
  "No components found.": "没有找到组件。",
  Input: "输入",
  Selection: "选择",
  Presentation: "展示",
  Containers: "容器",
  Action: "操作",
  "Build your form": "设计表单",
  "Drag and drop components here to start designing.": "把左侧的组件拖到这里开始设计。",
  "Use the preview window to test your form.": "用预览检查表单。",
  "Drag and drop components here.": "把组件拖到这里。",
  "Remove form field": "删除字段",
  Form: "表单",
  // properties panel: groups
  General: "常规",
  Condition: "条件",
  Layout: "布局",
  Appearance: "外观",
  Validation: "校验",
  Constraints: "约束",
  Serialization: "序列化",
  "Custom properties": "自定义属性",
  "Static options": "固定选项",
  "Dynamic options": "动态选项",
  "Options source": "选项来源",
  "Options expression": "选项表达式",
  "Header items": "表头列",
  "Headers source": "表头来源",
  "Security attributes": "安全属性",
  // properties panel: labels
  ID: "ID",
  "Version tag": "版本标签",
  "Field label": "字段标签",
  "Field description": "字段说明",
  "Group label": "分组标题",
  "Table label": "表格标题",
  Label: "标签",
  Key: "键",
  Path: "路径",
  "Default value": "默认值",
  Required: "必填",
  "Read only": "只读",
  Disabled: "禁用",
  "Hide if": "隐藏条件",
  "Deactivate if": "禁用条件",
  "Condition under which the field is hidden": "满足此条件时隐藏字段",
  "Condition under which the field is deactivated": "满足此条件时禁用字段",
  Columns: "列宽",
  Auto: "自动",
  Prefix: "前缀",
  Suffix: "后缀",
  "Minimum length": "最短长度",
  "Maximum length": "最大长度",
  Minimum: "最小值",
  Maximum: "最大值",
  "Validation pattern": "校验规则",
  Custom: "自定义",
  Email: "电子邮件",
  Phone: "电话",
  "Custom regular expression": "自定义正则表达式",
  "Custom error message": "自定义错误提示",
  "Decimal digits": "小数位数",
  Increment: "步长",
  "Output as string": "以文本输出",
  "Allows arbitrary precision values": "可保存任意精度的数值",
  Subtype: "子类型",
  Date: "日期",
  Time: "时间",
  "Date & Time": "日期和时间",
  "Date label": "日期标签",
  "Time label": "时间标签",
  "Use 24h": "24 小时制",
  "Time format": "时间格式",
  "UTC offset": "带时区偏移",
  "UTC normalized": "转换为 UTC",
  "No timezone": "不带时区",
  "Time interval": "时间间隔",
  "Disallow past dates": "不允许过去的日期",
  Searchable: "可搜索",
  "List of items": "选项列表",
  Static: "固定",
  "Input data": "输入数据",
  Expression: "表达式",
  "Input values key": "输入值的键",
  "Define which input property to populate the values from": "从哪个输入属性取选项",
  "Define an expression to populate the options from.": "用表达式生成选项。",
  Value: "值",
  Checked: "已勾选",
  "Not checked": "未勾选",
  Text: "文本",
  Content: "内容",
  "Supports markdown and templating.": "支持 Markdown 和模板。",
  "Supports HTML, styling, and templating. Styles are automatically scoped to the HTML component.":
    "支持 HTML、样式和模板；样式只作用于本组件。",
  "Learn more": "了解更多",
  "Image source": "图片来源",
  "Expression or static value (link/data URI)": "表达式或固定值（链接或 data URI）",
  "Alternative text": "替代文本",
  Height: "高度",
  "Height of the container in pixels.": "容器高度（像素）。",
  URL: "网址",
  Title: "标题",
  Type: "类型",
  Submit: "提交",
  Reset: "重置",
  "Show outline": "显示边框",
  "Vertical alignment": "垂直对齐",
  Top: "顶部",
  Center: "居中",
  Bottom: "底部",
  "Binds to a form variable": "绑定到表单变量",
  "Where the child variables of this component are pathed to.": "本组件的子字段存放在哪个路径下。",
  "Allow add/delete items": "允许增删条目",
  "Disable collapse": "不折叠",
  "Default number of items": "默认条目数",
  "Number of non-collapsing items": "不折叠的条目数",
  "Data source": "数据来源",
  "Specify the source from which to populate the table": "表格数据从哪里来",
  "Specify an expression to populate column items": "用表达式生成列",
  Pagination: "分页",
  "Number of rows per page": "每页行数",
  Column: "列",
  "Column 1": "第 1 列",
  "Column 2": "第 2 列",
  "Column 3": "第 3 列",
  "Target value": "目标值",
  "Compute on": "计算时机",
  "Value changes": "值变化时",
  "Form submission": "提交表单时",
  "Define an expression to calculate the value of this field": "用表达式计算本字段的值",
  "Supported file formats": "支持的文件格式",
  "A comma-separated list of": "以逗号分隔的",
  "file type specifiers": "文件类型说明符",
  "Upload multiple files": "允许上传多个文件",
  "Document reference": "文档引用",
  "Max height of preview container": "预览区最大高度",
  "Allow same origin": "允许同源访问",
  "Camera access": "允许使用摄像头",
  "Microphone access": "允许使用麦克风",
  Geolocation: "允许获取位置",
  "Forms submission": "允许提交表单",
  "Open in fullscreen": "允许全屏",
  "Open modal windows": "允许打开对话框",
  "Open popups": "允许弹出窗口",
  "Script execution": "允许运行脚本",
  "Storage access by user": "允许访问存储",
  "Top level navigation": "允许跳转整个页面",
  "These options can incur security risks, especially if used in combination with dynamic links. Ensure that you are aware of them, that you trust the source url and only enable what your use case requires.":
    "这些选项可能带来安全风险，与动态链接一起使用时尤甚。请确认您了解这些风险、信任来源网址，并只开启确实需要的选项。",
  // messages
  "Must not be empty.": "不能为空。",
  "Must not be empty": "不能为空",
  "Must be unique.": "必须唯一。",
  "Must not contain spaces.": "不能包含空格。",
  "Must be a variable or a dot separated path.": "必须是变量名或以点分隔的路径。",
  "Must not contain numerical path segments.": "路径各段不能是数字。",
  "Must not be a prohibited path.": "不能使用此路径。",
  "Must not cause two binding paths to collide": "不能与其他字段的绑定路径冲突",
  "Must be a valid QName.": "必须是合法的 QName。",
  "Must be number": "必须是数字",
  "Should be a valid number": "应为有效数字",
  "Should be a valid number.": "应为有效数字。",
  "Should be an integer.": "应为整数。",
  "Should be greater than zero.": "应大于零。",
  "Should be greater than or equal to zero.": "应大于或等于零。",
  "Value must be a number.": "值必须是数字。",
  "A number is required.": "请填写数字。",
  "The document data source is required.": "请填写文档数据来源。",
  // tooltips
  'Use a unique "key" to link the form element and the related input/output data. When dealing with nested data, break it down in the user task\'s input mapping before using it.':
    "用唯一的“键”把表单元素和流程数据对应起来。嵌套的数据请先在用户任务的输入映射中拆开。",
  "Make this field read-only when it cannot be edited by the end-user, but its content is important for them to see. Its data will still be submitted.":
    "用户不能修改、但需要看到内容时设为只读；它的数据仍会提交。",
  "Disable this field when it should not be interactive for end-users. Its data will not be submitted. This setting takes precedence over read-only.":
    "用户不应操作此字段时禁用它；它的数据不会提交。此设置优先于只读。",
  "Add properties directly to the form schema, useful to configure functionality in custom-built task applications and form renderers.":
    "直接写入表单定义的属性，供自建的任务应用和表单渲染使用。",
  "Descriptive text for screen reader accessibility.": "供读屏软件朗读的说明文字。",
  "Link referring to a hosted image, or use a data URI directly to embed image data into the form.":
    "指向图片的链接，或直接用 data URI 把图片嵌入表单。",
  "The built-in phone validation pattern is based on the E.164 standard with no spaces. Ex: +491234567890":
    "内置的电话校验遵循 E.164 标准，不含空格，例如 +8613800138000。",
  '"List of items" defines a constant, predefined set of form options.\n\n"Expression" defines options that are populated from a FEEL expression.':
    "“选项列表”是一组固定的选项。\n\n“表达式”用 FEEL 表达式生成选项。",
  '"Static" defines a constant, predefined set of form options.\n\n"Input data" defines options that are populated dynamically, adjusting based on variable data for flexible responses to different conditions or inputs.\n\n"Expression" defines options that are populated from a FEEL expression.':
    "“固定”是一组事先定好的选项。\n\n“输入数据”从流程变量动态取选项，随数据变化。\n\n“表达式”用 FEEL 表达式生成选项。",
  "The input property may be an array of simple values or alternatively follow this schema:":
    "输入属性可以是简单值的数组，也可以是下面这种结构：",
  "The expression may result in an array of simple values or alternatively follow this schema:":
    "表达式的结果可以是简单值的数组，也可以是下面这种结构：",
  "Enter a form input variable that contains the data for the table or define an expression to populate the data dynamically.":
    "填写存放表格数据的表单输入变量，或用表达式动态生成数据。",
  "Routes the children of this component into a form variable, may be left empty to route at the root level.":
    "把本组件的子字段放到一个表单变量下；留空则放在顶层。",
  "Routes the children of this component into a form variable.": "把本组件的子字段放到一个表单变量下。",
  "Documents whose height exceeds the defined value in pixels will be vertically scrollable":
    "高度超过此像素值的文档可上下滚动",
  "A source is a JSON object containing metadata for a document or an array of documents.":
    "来源是一个描述文档的 JSON 对象，或这类对象的数组。",
  "Each entry must include a document ID, name, and MIME type.": "每一项必须包含文档 ID、名称和 MIME 类型。",
  "Additional details are optional. The expected format is as follows:": "其他信息可选。格式如下：",
  "When using Camunda Tasklist UI, additional document reference attributes are automatically handled. Modifying the document reference may affect the document preview functionality.":
    "在 Camunda Tasklist 中，其他文档引用属性会自动处理；修改文档引用可能影响文档预览。",
  "Learn more in our": "详见",
  documentation: "文档",
  "Enter a HTTPS URL to a source or populate it dynamically via a template or an expression (e.g., to pass a value from the variable).":
    "填写 HTTPS 网址，或用模板、表达式动态生成（例如取变量的值）。",
  "Please make sure that the URL is safe as it might impose security risks.": "请确认网址安全，否则可能带来安全风险。",
  "Not all external sources can be displayed in the iFrame. Read more about it in the":
    "并非所有外部网页都能嵌入显示，详见",
  "X-FRAME-OPTIONS documentation": "X-FRAME-OPTIONS 文档",
  "Allow the iframe to access more functionality of your browser, details regarding the various options can be found in the":
    "允许内嵌网页使用浏览器的更多功能，各选项的说明见",
  "MDN iFrame documentation.": "MDN 的 iframe 文档。",
};

// Phrases with a part the editor fills in.
const PATTERNS_ZH = [
  [/^Create an? (.+) element$/, "添加「$1」"],
  [/^Remove (.+)$/, "删除「$1」"],
];

// The editor's own parts; a table on the canvas shows placeholder cells until the form runs.
const CHROME = ".fjs-palette, .fjs-properties-container, .fjs-empty-editor, .fjs-empty-component, .fjs-context-pad, " +
  ".fjs-table-body";

export function translateEditorChrome(container) {
  translateWhereShown(container, {
    phrases: { ...PROPERTIES_PANEL_ZH, ...PHRASES_ZH },
    patterns: [...PROPERTIES_PANEL_PATTERNS_ZH, ...PATTERNS_ZH],
    chrome: CHROME,
    typed: PROPERTIES_PANEL_TYPED,
  });
}
