// The rule form shows the fields the chosen kind uses. Which kind uses which
// field comes from the server as JSON data (json_script), never as code.
(function () {
  "use strict";

  function start() {
    const form = document.getElementById("rule-form");
    const data = document.getElementById("kind-fields");
    if (!form || !data) return;
    const byKind = JSON.parse(data.textContent);
    const specific = new Set(Object.values(byKind).flat());
    const kind = form.querySelector("[name=kind]");

    function show() {
      const wanted = new Set(byKind[kind.value] || []);
      form.querySelectorAll("[data-field]").forEach((row) => {
        const name = row.dataset.field;
        // A field with an error stays in view whatever the kind, so the message is seen.
        row.hidden = specific.has(name) && !wanted.has(name) && !row.querySelector(".errorlist");
      });
    }

    kind.addEventListener("change", show);
    show();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
