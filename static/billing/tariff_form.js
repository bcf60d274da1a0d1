// Time-of-use periods are rows of a Django formset: "Add a period" copies the
// empty row kept in a <template> and numbers it like the server would.
(function () {
  "use strict";
  const button = document.getElementById("add-period");
  const template = document.getElementById("period-template");
  const rows = document.getElementById("period-rows");
  const total = document.getElementById("id_periods-TOTAL_FORMS");
  const max = document.getElementById("id_periods-MAX_NUM_FORMS");
  if (!button || !template || !rows || !total) return;

  button.addEventListener("click", () => {
    const index = Number(total.value);
    if (max && index >= Number(max.value)) return;
    const row = template.content.firstElementChild.cloneNode(true);
    row.querySelectorAll("[name], [id], label[for]").forEach((element) => {
      for (const attribute of ["name", "id", "for"]) {
        const value = element.getAttribute(attribute);
        if (value) element.setAttribute(attribute, value.replace(/__prefix__/g, String(index)));
      }
    });
    rows.appendChild(row);
    total.value = String(index + 1);
    const first = row.querySelector("input[type=checkbox]");
    if (first) first.focus();
  });
})();
