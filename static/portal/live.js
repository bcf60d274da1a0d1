// Live pages. An element marked data-live shows a fragment the server renders
// (data-refresh-url); pushes over the websocket say which stations changed,
// and the fragment is fetched again at most once a second. With data-station
// only that station's changes count. The fragment is HTML Django rendered and
// escaped: nothing here builds markup out of data, and markup set through
// innerHTML never runs scripts.
(function () {
  "use strict";

  const MIN_GAP_MS = 1000;

  function follow(el) {
    const station = el.dataset.station === undefined ? undefined : Number(el.dataset.station);
    let pending = false, busy = false, last = 0;

    async function refresh() {
      pending = false; busy = true; last = Date.now();
      try {
        const response = await fetch(el.dataset.refreshUrl, {credentials: "same-origin"});
        if (response.ok) el.innerHTML = await response.text();
      } finally {
        busy = false;
      }
    }

    function schedule() {
      if (pending) return;
      pending = true;
      setTimeout(refresh, Math.max(0, MIN_GAP_MS - (Date.now() - last)));
    }

    // data-poll-every="N": a list whose rows change with work as much as with
    // stations (a board, a queue) is fetched again every N seconds while the
    // page is in view, and not on every push from any station of the network.
    const every = Number(el.dataset.pollEvery || 0);
    if (every > 0) {
      setInterval(() => {
        if (!busy && !pending && !document.hidden) schedule();
      }, every * 1000);
      document.addEventListener("visibilitychange", () => {
        if (!document.hidden) schedule();
      });
    }

    function changed(stations) {
      if (every > 0 && station === undefined) return;
      if (station === undefined || stations.includes(station)) schedule();
    }

    // Pushes refresh the fragment. When none arrive (a phone's connection asleep
    // or refused), look again every 2 s while a command waits for its answer,
    // and every 30 s otherwise.
    if (el.dataset.pollWhenQuiet !== undefined) {
      setInterval(() => {
        if (busy || pending || document.body.dataset.live === "on") return;
        if (el.querySelector("[data-open]") || Date.now() - last > 30000) schedule();
      }, 2000);
      last = Date.now();
    }

    return {changed, schedule};
  }

  function connect(followers) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/live/stations/`);
    socket.addEventListener("message", (event) => {
      const stations = JSON.parse(event.data).stations || [];
      followers.forEach((f) => f.changed(stations));
    });
    // Catch up on anything that changed between rendering the page and connecting.
    socket.addEventListener("open", () => {
      document.body.dataset.live = "on";
      followers.forEach((f) => f.schedule());
    });
    socket.addEventListener("close", () => {
      document.body.dataset.live = "off";
      setTimeout(() => connect(followers), 3000);
    });
  }

  function start() {
    const followers = Array.from(document.querySelectorAll("[data-live]"), follow);
    if (followers.length) connect(followers);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
