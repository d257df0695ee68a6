// What a page's own action did, said after the page reloads to show the new state
// (withdrawn, terminated, saved …), once, where the server's messages go.
const KEY = "crm-done";

// ``kind``: "warning" for what could not be done because the page was out of date (a task
// someone else took meanwhile): the reloaded page shows why, and how things stand now.
export function reloadSaying(text, kind = "success") {
  if (text) sessionStorage.setItem(KEY, JSON.stringify({ text, kind }));
  window.location.reload();
}

export function sayWhatWasDone() {
  const stored = sessionStorage.getItem(KEY);
  if (!stored) return;
  sessionStorage.removeItem(KEY);
  let said;
  try {
    said = JSON.parse(stored);
  } catch {
    said = { text: stored, kind: "success" };
  }
  const done = said.text;
  const alert = document.createElement("div");
  alert.className = `alert alert-${said.kind === "warning" ? "warning" : "success"}`;
  alert.setAttribute("role", "status");
  alert.id = "done-message";
  alert.textContent = done;
  document.getElementById("main")?.prepend(alert);
}
