// A charger's public page: the status fragment (rendered and escaped by the
// server) is fetched again every data-poll-every seconds while the page is in
// view. Drivers have no account, so there is no live websocket here.
(function () {
  "use strict";

  function follow(el) {
    const every = Math.max(5, Number(el.dataset.pollEvery || 10)) * 1000;
    let busy = false;

    async function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(el.dataset.refreshUrl, {credentials: "same-origin"});
        if (response.ok) el.innerHTML = await response.text();
      } catch (error) {
        // Offline for a moment: the next round tries again.
      } finally {
        busy = false;
      }
    }

    setInterval(refresh, every);
    document.addEventListener("visibilitychange", refresh);
  }

  function start() {
    document.querySelectorAll("[data-public-live]").forEach(follow);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
