// What a page's own action did, said after the page reloads to show the new state
// (withdrawn, terminated, saved …), once, where the server's messages go.
const KEY = "crm-done";

export function reloadSaying(text) {
  if (text) sessionStorage.setItem(KEY, text);
  window.location.reload();
}

export function sayWhatWasDone() {
  const done = sessionStorage.getItem(KEY);
  if (!done) return;
  sessionStorage.removeItem(KEY);
  const alert = document.createElement("div");
  alert.className = "alert alert-success";
  alert.setAttribute("role", "status");
  alert.id = "done-message";
  alert.textContent = done;
  document.getElementById("main")?.prepend(alert);
}
