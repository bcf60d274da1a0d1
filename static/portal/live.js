// Live pages: listen for "station changed" pushes and re-fetch the part of the
// page that shows it, at most once a second.
function liveRefresh({target, station}) {
  const el = document.getElementById(target);
  if (!el) return;
  let pending = false, last = 0;
  async function refresh() {
    pending = false; last = Date.now();
    const response = await fetch(el.dataset.refreshUrl, {credentials: "same-origin"});
    if (response.ok) el.innerHTML = await response.text();
  }
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(refresh, Math.max(0, 1000 - (Date.now() - last)));
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/live/stations/`);
    socket.onmessage = (event) => {
      const changed = JSON.parse(event.data).stations || [];
      if (station === undefined || changed.includes(station)) schedule();
    };
    // Catch up on anything that changed between rendering the page and connecting.
    socket.onopen = () => { document.body.dataset.live = "on"; schedule(); };
    socket.onclose = () => { document.body.dataset.live = "off"; setTimeout(connect, 3000); };
  }
  connect();
}
