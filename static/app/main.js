// The base UI: Bootstrap's behaviours, the language switch and a CSRF-aware fetch helper.
import "bootstrap/dist/css/bootstrap.min.css";
import "./app.css";
import * as bootstrap from "bootstrap";

window.bootstrap = bootstrap;

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// fetch() for the UI's own API calls: sends the session's CSRF token and JSON.
window.crmFetch = async (url, options = {}) => {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken(), ...(options.headers || {}) };
  if (options.body && typeof options.body !== "string" && !(options.body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.body) };
  }
  const response = await fetch(url, { credentials: "same-origin", ...options, headers });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.error?.message || response.statusText);
    error.status = response.status;
    error.details = data?.error?.details || [];
    throw error;
  }
  return data;
};

document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
