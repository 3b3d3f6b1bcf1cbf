/* Support bot web chat widget. Embed on any page with:
 *   <script src="https://YOUR-HUB/static/widget.js" data-title="Brightcart support" defer></script>
 * Options (data- attributes): data-hub (hub base URL; default: where this script came from),
 * data-title, data-lang (default: the browser's language), data-open="true" (start opened),
 * data-inline="true" (fill the page instead of a floating bubble).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var opts = (script && script.dataset) || {};
  var hub = (opts.hub || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/$/, "");
  var wsUrl = hub.replace(/^http/, "ws") + "/channels/web/ws";
  var storeKey = "supportbot:" + hub;
  var state = load();
  var socket = null, retry = 0, outbox = [], lastSeq = 0;
  var language = opts.lang || navigator.language || "en";

  function load() { try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; } }
  function save() { try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) {} }
  function uid() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, ""); }

  var css = "" +
    ".sb-root{font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330;z-index:2147483000}" +
    ".sb-float{position:fixed;right:16px;bottom:16px}" +
    ".sb-bubble{width:56px;height:56px;border-radius:50%;border:0;background:#2357d9;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
    ".sb-panel{display:none;flex-direction:column;background:#fff;border:1px solid #d6dbe6;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.18);overflow:hidden}" +
    ".sb-float .sb-panel{position:absolute;right:0;bottom:68px;width:min(370px,calc(100vw - 32px));height:min(560px,calc(100vh - 100px))}" +
    ".sb-inline .sb-panel{display:flex;width:100%;height:100%;border-radius:0;border:0}" +
    ".sb-open .sb-panel{display:flex}" +
    ".sb-head{background:#2357d9;color:#fff;padding:12px 14px;font-weight:600;display:flex;justify-content:space-between;align-items:center}" +
    ".sb-conn{font-size:12px;font-weight:400;opacity:.85}" +
    ".sb-log{flex:1;overflow-y:auto;padding:12px;background:#f5f7fb}" +
    ".sb-msg{max-width:82%;margin:6px 0;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".sb-customer{margin-left:auto;background:#2357d9;color:#fff;border-bottom-right-radius:3px}" +
    ".sb-bot,.sb-agent{background:#fff;border:1px solid #e1e5ee;border-bottom-left-radius:3px}" +
    ".sb-agent{border-color:#9cc3a8}" +
    ".sb-name{display:block;font-size:11px;color:#5c6b85;margin-bottom:2px}" +
    ".sb-system{max-width:100%;text-align:center;font-size:13px;color:#5c6b85;background:none}" +
    ".sb-error{color:#b3261e;font-size:13px;text-align:center;margin:4px 0}" +
    ".sb-buttons{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}" +
    ".sb-buttons button{border:1px solid #2357d9;color:#2357d9;background:#fff;border-radius:16px;padding:5px 11px;cursor:pointer;font:inherit;font-size:14px}" +
    ".sb-form{display:flex;border-top:1px solid #e1e5ee}" +
    ".sb-form textarea{flex:1;border:0;padding:11px;font:inherit;resize:none;height:44px}" +
    ".sb-form button{border:0;background:#2357d9;color:#fff;padding:0 16px;font:inherit;cursor:pointer}" +
    ".sb-pending{opacity:.6}" +
    ".sb-md{white-space:normal}.sb-md p{margin:0 0 6px}.sb-md p:last-child{margin-bottom:0}" +
    ".sb-md ul,.sb-md ol{margin:4px 0 6px;padding-left:20px}.sb-md a{color:#2357d9;text-decoration:underline}" +
    ".sb-md code{background:#eef1f6;border-radius:3px;padding:0 3px;font-size:13px}" +
    ".sb-md pre{background:#eef1f6;padding:6px;border-radius:6px;overflow-x:auto;white-space:pre}" +
    ".sb-typing{display:none;margin:6px 0;padding:8px 12px;background:#fff;border:1px solid #e1e5ee;border-radius:12px;width:max-content}" +
    ".sb-typing.sb-on{display:block}" +
    ".sb-typing span{display:inline-block;width:6px;height:6px;margin:0 2px;border-radius:50%;background:#8b97ad;animation:sb-blink 1.2s infinite}" +
    ".sb-typing span:nth-child(2){animation-delay:.2s}.sb-typing span:nth-child(3){animation-delay:.4s}" +
    "@keyframes sb-blink{0%,80%,100%{opacity:.25}40%{opacity:1}}";

  var root = document.createElement("div");
  root.className = "sb-root " + (opts.inline === "true" ? "sb-inline" : "sb-float");
  root.innerHTML =
    '<button class="sb-bubble" aria-label="Open chat">&#128172;</button>' +
    '<section class="sb-panel" role="dialog" aria-label="Support chat">' +
    '<header class="sb-head"><span class="sb-title"></span><span class="sb-conn">connecting…</span></header>' +
    '<div class="sb-log" aria-live="polite"></div>' +
    '<div class="sb-typing" aria-label="typing"><span></span><span></span><span></span></div>' +
    '<form class="sb-form"><textarea aria-label="Your message" placeholder="Type your message…"></textarea>' +
    '<button type="submit">Send</button></form></section>';
  var style = document.createElement("style");
  style.textContent = css;
  if (opts.inline === "true") { root.querySelector(".sb-bubble").style.display = "none"; root.style.height = "100%"; }
  var logEl = root.querySelector(".sb-log"), input = root.querySelector("textarea"), conn = root.querySelector(".sb-conn");
  var typing = root.querySelector(".sb-typing");
  // The bot is "typing" from the moment a message leaves until the hub acknowledges it (its answer comes first).
  function setTyping(on) { typing.classList.toggle("sb-on", on); if (on) logEl.appendChild(typing); logEl.scrollTop = logEl.scrollHeight; }
  root.querySelector(".sb-title").textContent = opts.title || "Support";
  root.querySelector(".sb-bubble").addEventListener("click", function () {
    root.classList.toggle("sb-open"); if (root.classList.contains("sb-open")) input.focus();
  });
  if (opts.open === "true") root.classList.add("sb-open");

  function render(m) {
    if (m.seq && m.seq > lastSeq) lastSeq = m.seq;
    if (m.id && logEl.querySelector('[data-id="' + m.id + '"]')) return;
    var el = document.createElement("div");
    el.className = "sb-msg sb-" + (m.sender || "bot");
    if (m.id) el.dataset.id = m.id;
    if (m.client_id) el.dataset.clientId = m.client_id;
    if (m.sender === "agent" && m.sender_name) {
      var name = document.createElement("span"); name.className = "sb-name"; name.textContent = m.sender_name; el.appendChild(name);
    }
    if (m.html && m.sender !== "customer") {
      // Rendered and sanitised by the hub (core/markdown.py: raw HTML escaped, unsafe links dropped).
      var body = document.createElement("div"); body.className = "sb-md"; body.innerHTML = m.html; el.appendChild(body);
    } else {
      el.appendChild(document.createTextNode(m.text || ""));
    }
    logEl.appendChild(el);
    var buttons = m.buttons || [];
    if (buttons.length) {
      var box = document.createElement("div"); box.className = "sb-buttons";
      buttons.forEach(function (b) {
        var btn = document.createElement("button"); btn.type = "button"; btn.textContent = b.title;
        btn.addEventListener("click", function () { box.remove(); sendFrame({ type: "button", title: b.title, payload: b.payload }); });
        box.appendChild(btn);
      });
      logEl.appendChild(box);
    }
    if (typing.classList.contains("sb-on")) logEl.appendChild(typing);  // keep the dots below the newest message
    logEl.scrollTop = logEl.scrollHeight;
  }
  function showError(text) {
    var el = document.createElement("div"); el.className = "sb-error"; el.textContent = text;
    logEl.appendChild(el); logEl.scrollTop = logEl.scrollHeight;
  }
  function sendFrame(frame) {
    frame.client_id = frame.client_id || uid();
    render({ sender: "customer", text: frame.type === "button" ? frame.title : frame.text, client_id: frame.client_id });
    var mine = logEl.querySelector('[data-client-id="' + frame.client_id + '"]');
    if (mine) mine.classList.add("sb-pending");
    outbox.push(frame);
    setTyping(true);
    flush();
  }
  function flush() {
    if (!socket || socket.readyState !== 1 || !state.ready) return;
    outbox.forEach(function (f) { socket.send(JSON.stringify(f)); });
  }
  function connect() {
    state.ready = false;
    socket = new WebSocket(wsUrl);
    socket.onopen = function () {
      retry = 0; conn.textContent = "online";
      socket.send(JSON.stringify({ type: "hello", token: state.token || null, language: language, after_seq: lastSeq }));
    };
    socket.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "welcome") {
        state.token = f.token; save(); state.ready = true;
        (f.history || []).forEach(render);
        flush();
      } else if (f.type === "message") {
        render(f);
      } else if (f.type === "ack") {
        outbox = outbox.filter(function (o) { return o.client_id !== f.client_id; });
        if (!outbox.length) setTyping(false);
        var mine = logEl.querySelector('[data-client-id="' + f.client_id + '"]');
        if (mine) { mine.classList.remove("sb-pending"); if (f.message_id) mine.dataset.id = f.message_id; }
      } else if (f.type === "error") {
        outbox = outbox.filter(function (o) { return o.client_id !== f.client_id; });
        if (!outbox.length) setTyping(false);
        showError(f.message || "Something went wrong.");
      }
    };
    socket.onclose = function (ev) {
      state.ready = false;
      if (ev.code === 1008) {  // this website is not on the hub's allow-list: retrying will not help
        conn.textContent = "unavailable"; setTyping(false);
        showError("Chat is not available on this website.");
        return;
      }
      conn.textContent = "reconnecting…";
      setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++)));
    };
  }
  root.querySelector("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    sendFrame({ type: "message", text: text });
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); root.querySelector("form").requestSubmit(); }
  });
  function mount() { document.head.appendChild(style); document.body.appendChild(root); connect(); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  window.SupportBot = { open: function () { root.classList.add("sb-open"); }, root: root };
})();
