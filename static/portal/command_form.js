// The station page's command form lists the fields of every action, so it
// works without this script. With it, only the chosen action's fields show,
// and those of the other actions are disabled so they are not sent. What each
// action needs comes from the catalogue the server puts in the page as JSON
// (<script type="application/json">, read here as data, never run).
(function () {
  "use strict";

  function setUp(form) {
    const source = document.getElementById(form.dataset.catalogue);
    const select = form.querySelector("select[name=action]");
    if (!source || !select) return;
    const catalogue = JSON.parse(source.textContent);
    const fieldsets = Array.from(form.querySelectorAll("fieldset[data-fields-for]"));

    function show() {
      const chosen = catalogue[select.value];
      fieldsets.forEach((fieldset) => {
        const on = chosen !== undefined && fieldset.dataset.fieldsFor === select.value;
        fieldset.hidden = !on;
        fieldset.disabled = !on;
      });
    }

    select.addEventListener("change", show);
    show();
  }

  function start() {
    document.querySelectorAll("form[data-catalogue]").forEach(setUp);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
