// CRM pages: drag-and-drop on the pipeline board, import progress polling, drafts of record forms.
// (No inline scripts: the Content-Security-Policy allows only our own files.)

// Pipeline board: dropping a card on a column submits the card's own move form with that
// stage; without JS the select and button in each card do the same.
document.querySelectorAll(".pipeline-card").forEach((card) => {
  card.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", card.dataset.opportunity));
});
document.querySelectorAll(".pipeline-column").forEach((column) => {
  column.addEventListener("dragover", (event) => {
    event.preventDefault();
    column.classList.add("border", "border-primary");
  });
  column.addEventListener("dragleave", () => column.classList.remove("border", "border-primary"));
  column.addEventListener("drop", (event) => {
    event.preventDefault();
    column.classList.remove("border", "border-primary");
    const id = event.dataTransfer.getData("text/plain");
    const card = document.querySelector(`.pipeline-card[data-opportunity="${CSS.escape(id)}"]`);
    if (!card || card.closest(".pipeline-column") === column) return;
    const form = card.querySelector("form");
    form.querySelector("select[name=stage]").value = column.dataset.stage;
    form.submit();
  });
});

// CSV import: poll the import while the worker runs it; reload when done to show the errors.
const importBox = document.getElementById("import");
if (importBox && ["pending", "running"].includes(importBox.dataset.status)) {
  const bar = document.getElementById("import-bar");
  const tick = async () => {
    try {
      const job = await window.crmFetch(importBox.dataset.url);
      const percent = job.total_rows ? Math.floor((100 * job.processed_rows) / job.total_rows) : 100;
      bar.style.width = `${percent}%`;
      bar.textContent = `${percent}%`;
      bar.parentElement.setAttribute("aria-valuenow", String(percent));
      const summary = document.getElementById("import-summary");
      const counts = { done: job.processed_rows, total: job.total_rows, ok: job.imported_rows,
        updated: job.updated_rows, unchanged: job.unchanged_rows,
        bad: job.failed_rows };
      summary.textContent = summary.dataset.template.replace(/\{(\w+)\}/g, (_m, key) => String(counts[key]));
      if (job.status === "done" || job.status === "failed") {
        window.location.reload();
        return;
      }
    } catch (error) {
      // A failed poll is retried; the page keeps the last known progress.
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}


// Relation selects with many customers: the select holds the first ones (and the chosen one);
// typing in the search box above it fetches the matching customers into it.
document.querySelectorAll("input[data-customer-search]").forEach((box) => {
  const select = document.getElementById(box.dataset.customerSearch);
  let timer = null;
  let asked = 0;
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const question = ++asked;
      const params = new URLSearchParams({ q: box.value.trim(), per_page: "50", sort: "name" });
      let found;
      try {
        found = await window.crmFetch(`/api/v1/customers?${params}`);
      } catch (error) {
        return; // the select keeps what it had
      }
      if (question !== asked) return; // an answer to an older search
      const chosen = select.selectedOptions[0];
      const options = [new Option("—", "")];
      if (chosen && chosen.value && !found.items.some((c) => String(c.id) === chosen.value)) {
        options.push(new Option(chosen.textContent, chosen.value, true, true));
      }
      found.items.forEach((c) => options.push(new Option(c.city ? `${c.name} · ${c.city}` : c.name, String(c.id), false,
        chosen && String(c.id) === chosen.value)));
      select.replaceChildren(...options);
    }, 250);
  });
});

// Drafts: what is typed into a record form is kept in this tab until the server confirms the
// save (base.html's saved-form meta), so a session that ended meanwhile — logged out in
// another tab, a restarted browser — loses nothing: the form offers it back after the login.
// Not answers: the page's own bookkeeping (version, base, token), files, buttons, the customer search box.
const NOT_ANSWERS = new Set(["hidden", "file", "submit", "button", "search"]);
const draftForm = document.querySelector("form[data-draft-key]");
if (draftForm) keepDrafts(draftForm);

// A refused save: each marked field says so to a screen reader (its message tied to it), and
// the first one takes the focus, instead of the top of the page.
const refusals = [...document.querySelectorAll("#record-form [data-error-for]")];
refusals.forEach((said, index) => {
  const field = document.getElementById(`f-${said.dataset.errorFor}`);
  if (!field) return;
  said.id = said.id || `error-${index}`;
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-describedby", [field.getAttribute("aria-describedby"), said.id].filter(Boolean).join(" "));
});
document.querySelector("#record-form [aria-invalid=true]")?.focus();

function answers(form) {
  const values = {};
  for (const field of form.elements) {
    if (!field.name || NOT_ANSWERS.has(field.type)) continue;
    if (field.type === "checkbox" || field.type === "radio") {
      values[field.name] = [...(values[field.name] || []), ...(field.checked ? [field.value] : [])];
    } else if (field.multiple) {
      values[field.name] = [...field.selectedOptions].map((option) => option.value);
    } else {
      values[field.name] = field.value;
    }
  }
  return values;
}

function fillIn(form, values) {
  for (const field of form.elements) {
    if (!(field.name in values) || NOT_ANSWERS.has(field.type)) continue;
    const value = values[field.name];
    if (field.type === "checkbox" || field.type === "radio") field.checked = value.includes(field.value);
    else if (field.multiple) [...field.options].forEach((option) => { option.selected = value.includes(option.value); });
    else field.value = value;
  }
}

function keepDrafts(form) {
  const key = `crm-draft:${form.dataset.draftKey}`;
  const shown = JSON.stringify(answers(form));
  // The server answered the save (a refusal, or someone else's changes merged in): the form
  // holds what was typed already, and the stale draft would undo the merge.
  if ("draftAnswered" in form.dataset) sessionStorage.removeItem(key);
  let stored = null;
  try {
    stored = JSON.parse(sessionStorage.getItem(key) || "null");
  } catch {
    sessionStorage.removeItem(key);
  }
  const keep = () => {
    const now = answers(form);
    if (JSON.stringify(now) === shown) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify({ at: Date.now(), values: now }));
  };
  form.addEventListener("input", keep);
  form.addEventListener("change", keep);
  if (!stored?.values || JSON.stringify(stored.values) === shown) return;
  const time = new Date(stored.at).toLocaleTimeString(document.documentElement.lang || undefined,
    { hour: "2-digit", minute: "2-digit" });
  const banner = document.createElement("div");
  banner.className = "alert alert-warning d-flex flex-wrap align-items-center gap-2";
  banner.id = "draft-found";
  banner.setAttribute("role", "status");
  const text = document.createElement("span");
  text.textContent = form.dataset.draftFound.replace("{time}", time);
  const restore = document.createElement("button");
  restore.type = "button";
  restore.className = "btn btn-sm btn-warning";
  restore.textContent = form.dataset.draftRestore;
  restore.addEventListener("click", () => { fillIn(form, stored.values); banner.remove(); });
  const discard = document.createElement("button");
  discard.type = "button";
  discard.className = "btn btn-sm btn-outline-secondary";
  discard.textContent = form.dataset.draftDiscard;
  discard.addEventListener("click", () => { sessionStorage.removeItem(key); banner.remove(); });
  banner.append(text, restore, discard);
  form.prepend(banner);
}

// A contract's opportunity is one of its customer's: choosing the customer narrows the list
// (the server refuses another customer's opportunity anyway).
const customerSelect = document.getElementById("f-customer_id");
const opportunitySelect = document.getElementById("f-opportunity_id");
if (customerSelect && opportunitySelect) {
  const narrow = () => {
    const chosen = customerSelect.value;
    for (const option of opportunitySelect.options) {
      if (!option.dataset.customer) continue; // "—"
      option.hidden = Boolean(chosen) && option.dataset.customer !== chosen;
      if (option.hidden && option.selected) opportunitySelect.value = "";
    }
  };
  customerSelect.addEventListener("change", narrow);
  narrow();
}
