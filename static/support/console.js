// The ticket page's macros: choosing one puts its text (placeholders already
// filled in by the server) into the reply box at the cursor, to edit before
// sending. The macros arrive as JSON data (json_script); the text is set as the
// textarea's value, never parsed as markup. Without this script the "Insert"
// button asks the server to do the same.
(function () {
  "use strict";

  function start() {
    const data = document.getElementById("ticket-macros");
    const select = document.getElementById("id_macro");
    const body = document.getElementById("id_body");
    const button = document.getElementById("macro-insert");
    if (!data || !select || !body) return;
    const macros = new Map(JSON.parse(data.textContent).map((m) => [String(m.id), m.body]));

    function insert() {
      const text = macros.get(select.value);
      if (text === undefined) return false;
      const at = body.selectionStart ?? body.value.length;
      const end = body.selectionEnd ?? at;
      const before = body.value.slice(0, at);
      const gap = before && !before.endsWith("\n") ? "\n\n" : "";
      body.value = before + gap + text + body.value.slice(end);
      const cursor = (before + gap + text).length;
      body.focus();
      body.setSelectionRange(cursor, cursor);
      select.value = "";
      return true;
    }

    select.addEventListener("change", insert);
    if (button) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        insert();
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
