// Forms that interrupt a station (or cancel work) ask first. The server refuses
// a disruptive command unless the form says it was confirmed.
//   <form data-confirm="question">: always asks that question.
//   a form inside [data-disruptive] (a JSON list of actions, data-station the
//   station's identity): asks when its action (data-action, or the chosen
//   <select name=action>) is in the list.
// The question is plain text shown by confirm(); it is never parsed as markup.
(function () {
  "use strict";

  function question(form) {
    if (form.dataset.confirm) return form.dataset.confirm;
    const panel = form.closest("[data-disruptive]");
    if (!panel) return "";
    const select = form.querySelector("select[name=action]");
    const action = form.dataset.action || (select ? select.value : "");
    const disruptive = JSON.parse(panel.dataset.disruptive);
    if (!disruptive.includes(action)) return "";
    return `Send ${action} to ${panel.dataset.station}? It interrupts the station.`;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const text = question(form);
    if (!text) return;
    if (!window.confirm(text)) {
      event.preventDefault();
      return;
    }
    const confirmed = form.querySelector("input[name=confirm]");
    if (confirmed) confirmed.value = "on";
  });
})();
