// CRM pages: drag-and-drop on the pipeline board, import progress polling, delete confirmation.
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

// Forms with data-confirm ask before submitting (delete buttons).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
