// Live chat, on a charger's public page (data-chat-side="driver") and beside a
// ticket in the console (data-chat-side="agent"). Everything that arrives is
// text from people, some of them hostile: it reaches the page through
// textContent only, never as markup.
(function () {
  "use strict";

  const root = document.getElementById("support-chat");
  if (!root) return;
  const side = root.dataset.chatSide;
  const log = root.querySelector("[data-chat-log]");
  const form = root.querySelector("[data-chat-form]");
  const textarea = form.querySelector("textarea[name=body]");
  const presence = root.querySelector("[data-chat-presence]");
  const errorBox = root.querySelector("[data-chat-error]");
  const contact = root.querySelector("[data-chat-contact]");
  const follow = root.querySelector("[data-chat-follow]");
  const driverState = root.querySelector("[data-chat-driver]");
  const storageKey = root.dataset.storageKey;
  const seen = new Set();
  const KINDS = new Set(["driver", "reply", "note", "system"]);

  let socket = null;
  let retries = 0;
  let lastSent = "";
  let token = side === "driver" && storageKey ? sessionStorage.getItem(storageKey) : null;

  function address() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = token ? "?ticket=" + encodeURIComponent(token) : "";
    return scheme + "//" + location.host + root.dataset.wsPath + query;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function add(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    const item = document.createElement("li");
    item.className = "chat-message " + (KINDS.has(message.kind) ? message.kind : "other");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = side === "driver" && message.kind === "driver" ? "You" : message.author;
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = message.body;
    item.append(who, body);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    if (message.kind === side || (side === "agent" && message.kind === "reply")) lastSent = "";
  }

  function setPresence(agentsOnline) {
    if (side !== "driver") return;
    root.dataset.agentsOnline = agentsOnline ? "yes" : "no";
    presence.textContent = agentsOnline
      ? "An agent is online: write and they answer here."
      : "No agent is online right now. Write anyway: your message becomes a support request, " +
        "and we answer on its page (and by email if you leave your address).";
  }

  function joined(data) {
    if (side === "driver") {
      token = data.token;
      if (storageKey) sessionStorage.setItem(storageKey, token);
      const link = follow.querySelector("a");
      // Only a path of our own follow pages becomes a link.
      if (typeof data.follow_url === "string" && data.follow_url.startsWith("/support/t/")) {
        link.href = data.follow_url;
      }
      link.textContent = data.reference;
      follow.hidden = false;
      if (contact) contact.hidden = true;
    } else {
      setDriver(data.driver_online);
      presence.textContent = "Connected.";
    }
    (data.messages || []).forEach(add);
  }

  function setDriver(online) {
    if (!driverState) return;
    driverState.textContent = online ? "driver is here" : "driver is not on the chat";
    root.dataset.driverOnline = online ? "yes" : "no";
  }

  function handle(data) {
    switch (data.type) {
      case "presence": setPresence(data.agents_online); break;
      case "ticket": joined(data); break;
      case "message": add(data.message); break;
      case "driver": setDriver(data.online); break;
      case "error":
        showError(data.error);
        if (lastSent && !textarea.value) textarea.value = lastSent;
        lastSent = "";
        break;
      case "status":
        if (typeof data.label === "string") {
          presence.textContent = side === "driver"
            ? "Your request is now: " + data.label.toLowerCase() + "."
            : "Ticket: " + data.label.toLowerCase() + ".";
          root.dataset.ticketStatus = String(data.status);
        }
        break;
      case "closed":
        token = null;
        if (storageKey) sessionStorage.removeItem(storageKey);
        follow.hidden = true;
        if (contact) contact.hidden = false;
        break;
    }
  }

  function connect() {
    socket = new WebSocket(address());
    socket.addEventListener("open", () => {
      retries = 0;
      root.dataset.chat = "on";
    });
    socket.addEventListener("message", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && typeof data === "object") handle(data);
    });
    socket.addEventListener("close", () => {
      root.dataset.chat = "off";
      presence.textContent = "Reconnecting…";
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries++));
    });
  }

  function send() {
    const body = textarea.value.trim();
    if (!body) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected yet; trying again…");
      return;
    }
    const payload = {type: "message", body: body};
    if (side === "driver" && !token && contact) {
      payload.name = contact.querySelector("input[name=name]").value;
      payload.email = contact.querySelector("input[name=email]").value;
    }
    showError("");
    lastSent = body;
    socket.send(JSON.stringify(payload));
    textarea.value = "";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  connect();
})();
