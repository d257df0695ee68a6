// Asks one value in a dialog made by the _ask_dialog.html macro (shared by the inbox and the
// designer bundles): resolves to the trimmed value, or null when cancelled.
export function askInDialog(dialog, { title, confirm, value = "" }) {
  const field = dialog.querySelector("[data-ask-value]");
  dialog.querySelector("[data-ask-title]").textContent = title;
  dialog.querySelector("[data-ask-confirm]").textContent = confirm;
  field.value = value;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm" ? field.value.trim() : null), { once: true });
  });
}
