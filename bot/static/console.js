/* Agent console: plain JavaScript, no build step. Talks to the documented REST API (/docs) with the session
 * cookie + X-CSRF-Token, and listens to /console/ws for live updates. All text is inserted with textContent. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var S = { me: null, csrf: null, tab: "queue", lists: { queue: [], mine: [], history: [], search: [] }, sel: null, detail: null,
            seenQueued: null, canned: {}, teams: null, ws: null, retry: 0, audio: null, refreshTimer: null };

  // -- HTTP ------------------------------------------------------------------------------------------
  var api = SupportApi.client(function () { return S.csrf; }, function (status, path) {
    if (status === 401 && path !== "/api/auth/login") showLogin();
  });
  function showError(e) { $("action-error").textContent = e ? (e.message || String(e)) : ""; }

  // -- login -----------------------------------------------------------------------------------------
  function showLogin() {
    if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
    $("app").hidden = true; $("login").hidden = false; $("login-email").focus();
    document.title = "Agent console";
  }
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    initAudio();
    api("POST", "/api/auth/login", { email: $("login-email").value, password: $("login-password").value })
      .then(function (d) { S.csrf = d.csrf_token; $("login-password").value = ""; return api("GET", "/api/auth/me"); })
      .then(start)
      .catch(function (e) { $("login-error").textContent = e.message; });
  });
  $("logout").addEventListener("click", function () {
    api("POST", "/api/auth/logout").finally(function () { S.csrf = null; showLogin(); });
  });

  function start(me) {
    S.me = me.actor; S.csrf = me.csrf_token;
    $("me").textContent = S.me.display_name + (S.me.role === "admin" ? " (admin)" : "");
    $("reports-link").hidden = S.me.role !== "admin";
    $("login").hidden = true; $("app").hidden = false;
    connect(); refreshLists(); loadTeams();
    $("list").focus();
    if (location.hash.length > 1) openConversation(decodeURIComponent(location.hash.slice(1)));  // a link from elsewhere
  }

  // -- live updates ----------------------------------------------------------------------------------
  function connect() {
    var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/console/ws");
    S.ws = ws;
    ws.onopen = function () { S.retry = 0; $("conn").textContent = "live"; $("conn").classList.add("live"); refreshLists(); };
    ws.onmessage = function (ev) { var e; try { e = JSON.parse(ev.data); } catch (x) { return; } onEvent(e); };
    ws.onclose = function (ev) {
      $("conn").textContent = "reconnecting…"; $("conn").classList.remove("live");
      if (ev.code === 4401) { showLogin(); return; }
      setTimeout(function () { if (S.ws === ws) connect(); }, Math.min(15000, 500 * Math.pow(2, S.retry++)));
    };
  }
  setInterval(function () { if (S.ws && S.ws.readyState === 1) S.ws.send('{"type":"ping"}'); }, 25000);

  function onEvent(e) {
    var id = e.conversation_id;
    if (e.type === "message") {
      if (S.detail && id === S.sel) {
        appendMessage(e.message);
        if (e.message.sender === "customer") { markRead(); loadSuggestions(); }
      }
      scheduleRefresh();
      return;
    }
    if (e.type === "note" && S.detail && id === S.sel) { renderNotes(S.detail.notes.concat([e.note])); S.detail.notes.push(e.note); return; }
    scheduleRefresh();
    if (id === S.sel && ["assigned", "resolved", "handed_back", "queued", "csat"].indexOf(e.type) >= 0) openConversation(id, true);
  }
  function scheduleRefresh() { clearTimeout(S.refreshTimer); S.refreshTimer = setTimeout(refreshLists, 150); }

  // -- lists -----------------------------------------------------------------------------------------
  function refreshLists() {
    return Promise.all([api("GET", "/api/agent/queue"), api("GET", "/api/agent/conversations?mine=true&status=assigned")])
      .then(function (r) {
        var queue = r[0].conversations, mine = r[1].conversations;
        var fresh = queue.filter(function (c) { return S.seenQueued && !S.seenQueued.has(c.id); });
        if (S.seenQueued === null) S.seenQueued = new Set(queue.map(function (c) { return c.id; }));
        if (fresh.length) notify(fresh.length);
        S.lists.queue = queue; S.lists.mine = mine;
        renderLists();
      }).catch(function () {});
  }
  function unseenQueued() { return S.lists.queue.filter(function (c) { return !S.seenQueued || !S.seenQueued.has(c.id); }).length; }
  function renderLists() {
    $("count-queue").textContent = S.lists.queue.length;
    var unread = S.lists.mine.reduce(function (n, c) { return n + (c.id === S.sel ? 0 : c.unread || 0); }, 0);
    $("count-mine").textContent = S.lists.mine.length + (unread ? " · " + unread + " new" : "");
    if (S.tab === "queue" && document.hasFocus()) S.lists.queue.forEach(function (c) { S.seenQueued && S.seenQueued.add(c.id); });
    var pending = unseenQueued() + unread;
    document.title = (pending ? "(" + pending + ") " : "") + "Agent console";
    var items = S.lists[S.tab], list = $("list");
    list.textContent = "";
    if (!items.length) {
      var li = document.createElement("li"); li.className = "sub";
      li.textContent = { queue: "Nobody is waiting.", mine: "No conversations assigned to you.",
                         history: "No resolved conversations yet.", search: "Nothing found." }[S.tab];
      list.appendChild(li); return;
    }
    items.forEach(function (c) {
      var li = document.createElement("li");
      li.dataset.id = c.id; li.setAttribute("role", "option");
      li.setAttribute("aria-selected", c.id === S.sel ? "true" : "false");
      if (c.id === S.sel) li.className = "sel";
      var row = document.createElement("div"); row.className = "row";
      row.appendChild(span("who", c.customer_name || ("Visitor " + c.customer.slice(0, 6))));
      if (c.priority > 0) row.appendChild(span("badge prio", "P" + c.priority));
      if (c.unread && c.id !== S.sel) row.appendChild(span("badge unread", String(c.unread)));
      li.appendChild(row);
      var since = c.status === "queued" ? c.queued_at : c.status === "assigned" ? c.assigned_at : (c.last_message_at || c.updated_at);
      li.appendChild(span("sub", [S.tab === "search" ? c.status : null, c.channel, c.language, c.team || "no team",
                                  (c.handoff_reason || "").replace(/_/g, " "), since ? ago(since) : ""].filter(Boolean).join(" · ")));
      var last = c.last_message ? previewOf(c.last_message.sender, c.last_message.sender_name, c.last_message.text)
                                : (c.snippet || previewOf(c.last_sender, null, c.last_text));
      if (last) li.appendChild(span("preview", last));
      li.addEventListener("click", function () { openConversation(c.id); });
      list.appendChild(li);
    });
  }
  function previewOf(sender, name, text) {
    if (!text) return "";
    return (sender === "bot" ? "Bot: " : sender === "agent" ? (name || "Agent") + ": " : "") + text;
  }
  function setTab(tab) {
    S.tab = tab;
    ["queue", "mine", "history", "search"].forEach(function (t) { $("tab-" + t).setAttribute("aria-selected", t === tab ? "true" : "false"); });
    if (tab === "history") loadHistory();
    renderLists();
  }
  $("tab-queue").addEventListener("click", function () { setTab("queue"); });
  $("tab-mine").addEventListener("click", function () { setTab("mine"); });
  $("tab-history").addEventListener("click", function () { setTab("history"); });
  $("tab-search").addEventListener("click", function () { setTab("search"); });

  // -- search and history ----------------------------------------------------------------------------
  function searchParams(extra) {
    var p = new URLSearchParams(extra || {});
    if ($("search-channel").value) p.set("channel", $("search-channel").value);
    if ($("search-since").value) p.set("start", $("search-since").value);
    return p;
  }
  function loadHistory() {
    return api("GET", "/api/agent/search?" + searchParams({ status: "resolved", limit: "100" })).then(function (d) {
      S.lists.history = d.conversations; if (S.tab === "history") renderLists();
    }).catch(showError);
  }
  function runSearch() {
    var p = searchParams({ q: $("search").value.trim(), limit: "100" });
    if ($("search-status").value) p.set("status", $("search-status").value);
    return api("GET", "/api/agent/search?" + p).then(function (d) {
      S.lists.search = d.conversations; $("tab-search").hidden = false;
      $("count-search").textContent = d.conversations.length; setTab("search");
    }).catch(showError);
  }
  $("search-form").addEventListener("submit", function (ev) { ev.preventDefault(); runSearch(); });
  ["search-status", "search-channel", "search-since"].forEach(function (id) {
    $(id).addEventListener("change", function () { if (S.tab === "history") loadHistory(); else runSearch(); });
  });
  window.addEventListener("focus", renderLists);

  // -- notifications ---------------------------------------------------------------------------------
  function initAudio() { try { S.audio = S.audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) {} }
  function notify() {
    if (!S.audio) return;
    try {
      var o = S.audio.createOscillator(), g = S.audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(S.audio.destination);
      o.start(); o.stop(S.audio.currentTime + 0.15);
    } catch (e) {}
  }

  // -- one conversation ------------------------------------------------------------------------------
  function openConversation(id, keepScroll) {
    S.sel = id; showError(null);
    return api("GET", "/api/agent/conversations/" + encodeURIComponent(id)).then(function (d) {
      if (S.sel !== id) return;
      S.detail = d;
      var c = d.conversation, mine = c.status === "assigned" && c.assigned_agent === S.me.key;
      $("empty").hidden = true; $("conv-body").hidden = false;
      $("conv-title").textContent = (c.customer_name || "Visitor " + c.customer.slice(0, 6));
      $("conv-meta").textContent = [c.status + (c.assigned_agent ? " · " + c.assigned_agent : ""), c.channel, c.language,
        c.team ? "team " + c.team : null, d.queue_position ? "position " + d.queue_position : null].filter(Boolean).join(" · ");
      var admin = S.me.role === "admin";
      $("act-claim").disabled = c.status !== "queued";
      $("act-resolve").disabled = !(c.status === "queued" || mine || (admin && c.status === "assigned") || c.status === "bot");
      $("act-handback").disabled = !(c.status === "queued" || mine || (admin && c.status === "assigned"));
      $("act-transfer").disabled = !(c.status === "queued" || mine || (admin && c.status === "assigned"));
      $("reply").disabled = $("send").disabled = $("canned").disabled = !mine;
      $("reply").placeholder = mine ? "Reply to the customer (Enter sends, Shift+Enter new line)" : "Claim the conversation to reply";
      renderHandoff(d.handoff);
      var t = $("transcript"); t.textContent = "";
      d.messages.forEach(appendMessage);
      renderProfile(d.customer, c);
      renderNotes(d.notes);
      loadCanned(c.language);
      if (!keepScroll) loadSuggestions();
      if (mine) markRead();
      renderLists();
    }).catch(showError);
  }

  function renderHandoff(h) {
    var box = $("handoff"); box.textContent = "";
    if (!h) return;
    box.appendChild(div("reason", "Handed over: " + h.reason.replace(/_/g, " ") + (h.priority ? " · priority " + h.priority : "")));
    if (h.summary) box.appendChild(div("summary", h.summary));
    var det = h.details || {};
    if (det.intents && det.intents.length) {
      box.appendChild(div("intents", "Last intents: " + det.intents.slice(-5).map(function (i) {
        return (i.intent || i.name || "?") + (i.confidence != null ? " " + Number(i.confidence).toFixed(2) : "");
      }).join(", ")));
    }
    if (det.kb_candidates && det.kb_candidates.length) {
      box.appendChild(div("cands", "KB candidates shown: " + det.kb_candidates.map(function (k) {
        return (k.question || k.entry_id) + (k.score != null ? " (" + Number(k.score).toFixed(2) + ")" : "");
      }).join("; ")));
    }
  }

  function appendMessage(m) {
    var t = $("transcript");
    if (m.id && t.querySelector('[data-id="' + m.id + '"]')) return;
    var li = document.createElement("li");
    li.className = m.sender; li.dataset.id = m.id || ""; li.dataset.seq = m.seq || "";
    if (m.sender !== "system") {
      li.appendChild(span("by", m.sender === "customer" ? "Customer" : m.sender === "bot" ? "Bot" : (m.sender_name || "Agent")));
    }
    li.appendChild(document.createTextNode(m.text || ""));
    (m.media || []).forEach(function (f) { if (f.media_id) li.appendChild(mediaLink(f)); });
    if (m.sender !== "customer" && m.delivery_status) li.appendChild(span("delivery " + m.delivery_status, m.delivery_status));
    if (m.buttons && m.buttons.length) li.appendChild(span("nlu", "buttons: " + m.buttons.map(function (b) { return b.title; }).join(" | ")));
    if (m.sender === "customer" && m.intent) li.appendChild(span("nlu", "intent " + m.intent + (m.confidence != null ? " · " + Number(m.confidence).toFixed(2) : "")));
    if (m.sender === "bot") {
      var prev = null, all = (S.detail && S.detail.messages) || [];
      for (var i = all.length - 1; i >= 0; i--) { if (all[i].seq < m.seq && all[i].sender === "customer") { prev = all[i]; break; } }
      var bits = [];
      if (prev && prev.intent) bits.push("answering " + prev.intent + (prev.confidence != null ? " · " + Number(prev.confidence).toFixed(2) : ""));
      if (m.kb_entry_id) bits.push("KB " + m.kb_entry_id);
      if (bits.length) li.appendChild(span("nlu", bits.join(" · ")));
    }
    t.appendChild(li);
    if (S.detail && S.detail.messages.indexOf(m) < 0 && !S.detail.messages.some(function (x) { return x.id === m.id; })) S.detail.messages.push(m);
    t.scrollTop = t.scrollHeight;
  }

  // A customer's file (kept by the hub): images inline, anything else as a download link.
  function mediaLink(f) {
    var url = "/api/agent/media/" + encodeURIComponent(f.media_id), a = el("a");
    a.href = url; a.target = "_blank"; a.rel = "noopener"; a.className = "media";
    if (/^image\//.test(f.content_type || "")) { var img = el("img"); img.src = url; img.alt = f.file_name || "image"; a.appendChild(img); }
    else a.textContent = "📎 " + (f.file_name || "file") + (f.size ? " (" + Math.max(1, Math.round(f.size / 1024)) + " KB)" : "");
    return a;
  }

  function renderProfile(p, c) {
    var box = $("profile"); box.textContent = "";
    var dl = document.createElement("dl");
    [["Name", p.name || "—"], ["Channel", p.channel], ["Language", p.language], ["Id", p.id],
     ["Linked as", p.customer_key || "—"], ["Messages", String(p.messages)], ["Handoffs", String(p.handoffs)]]
      .forEach(function (kv) { dl.appendChild(el("dt", kv[0])); dl.appendChild(el("dd", kv[1])); });
    box.appendChild(dl);
    box.appendChild(el("div", p.conversations.length ? "Other conversations:" : "No other conversations."));
    var ul = document.createElement("ul");
    p.conversations.forEach(function (o) {
      var li = el("li", o.channel + " · " + o.status + " · " + (o.created_at || "").slice(0, 10) +
                        (o.handoff_reason ? " · " + o.handoff_reason.replace(/_/g, " ") : ""));
      li.style.cursor = "pointer"; li.addEventListener("click", function () { openConversation(o.id); });
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  function renderNotes(notes) {
    var ul = $("notes"); ul.textContent = "";
    notes.forEach(function (n) {
      var li = document.createElement("li");
      li.appendChild(span("by", n.author_name + " · " + (n.kind === "transfer" ? "transfer" : "note") + " · " + (n.created_at || "").slice(11, 16)));
      li.appendChild(document.createTextNode(n.text));
      ul.appendChild(li);
    });
  }

  function loadSuggestions() {
    var id = S.sel, ul = $("suggestions");
    ul.textContent = ""; ul.appendChild(el("li", "Searching…"));
    api("GET", "/api/agent/conversations/" + encodeURIComponent(id) + "/suggestions").then(function (d) {
      if (S.sel !== id) return;
      ul.textContent = "";
      if (d.error) { ul.appendChild(el("li", d.error)); return; }
      if (!d.hits.length) { ul.appendChild(el("li", "No suggestions.")); return; }
      d.hits.forEach(function (h) {
        var li = document.createElement("li");
        li.appendChild(div("q", h.question + " (" + Number(h.score).toFixed(2) + ")"));
        li.appendChild(div("a", plain(h.answer || "")));
        var use = el("button", "Use"); use.type = "button";
        use.addEventListener("click", function () { insertReply(plain(h.answer || "")); });
        li.appendChild(use);
        ul.appendChild(li);
      });
    }).catch(function (e) { ul.textContent = ""; ul.appendChild(el("li", e.message)); });
  }

  function loadCanned(language) {
    var fill = function (list) {
      var sel = $("canned"); sel.textContent = "";
      var first = el("option", "Canned…"); first.value = ""; sel.title = "Canned responses (Alt+1–9 in the reply box)"; sel.appendChild(first);
      list.forEach(function (c, i) { var o = el("option", (i + 1) + ". " + c.title); o.value = c.text; sel.appendChild(o); });
    };
    if (S.canned[language]) { fill(S.canned[language]); return; }
    api("GET", "/api/agent/canned?language=" + encodeURIComponent(language)).then(function (d) {
      S.canned[language] = d.responses; fill(d.responses);
    }).catch(function () {});
  }
  $("canned").addEventListener("change", function () { if (this.value) insertReply(this.value); this.value = ""; });
  function insertReply(text) {
    var r = $("reply"); if (r.disabled) return;
    r.value = r.value ? r.value.replace(/\s*$/, " ") + text : text; r.focus();
  }

  function markRead() {
    api("POST", "/api/agent/conversations/" + encodeURIComponent(S.sel) + "/read", {}).then(scheduleRefresh).catch(function () {});
  }

  function loadTeams() {
    return api("GET", "/api/agent/teams").then(function (d) { S.teams = d; }).catch(function () {});
  }

  // -- actions ---------------------------------------------------------------------------------------
  function act(path, body) {
    if (!S.sel) return Promise.resolve();
    showError(null);
    var id = S.sel;
    return api("POST", "/api/agent/conversations/" + encodeURIComponent(id) + "/" + path, body === undefined ? undefined : body)
      .then(function () { refreshLists(); return openConversation(id, true); })
      .catch(showError);
  }
  $("act-claim").addEventListener("click", function () { act("claim").then(function () { setTab("mine"); $("reply").focus(); }); });
  $("act-resolve").addEventListener("click", function () { act("resolve"); });
  $("act-handback").addEventListener("click", function () { act("hand-back"); });
  $("act-transfer").addEventListener("click", openTransfer);
  $("reply-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("reply").value.trim(); if (!text) return;
    var id = S.sel;
    api("POST", "/api/agent/conversations/" + encodeURIComponent(id) + "/reply", { text: text })
      .then(function (d) { $("reply").value = ""; appendMessage(d.message); })
      .catch(showError);
  });
  $("reply").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("reply-form").requestSubmit(); }
    if (ev.altKey && /^[1-9]$/.test(ev.key)) {
      var list = S.canned[S.detail && S.detail.conversation.language] || [];
      var c = list[Number(ev.key) - 1]; if (c) { ev.preventDefault(); insertReply(c.text); }
    }
  });
  $("note-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("note").value.trim(); if (!text || !S.sel) return;
    api("POST", "/api/agent/conversations/" + encodeURIComponent(S.sel) + "/notes", { text: text })
      .then(function () { $("note").value = ""; }).catch(showError);
  });
  $("available").addEventListener("change", function () { api("POST", "/api/agent/presence", { available: this.checked }).catch(showError); });

  function openTransfer() {
    loadTeams().then(function () {
      var sel = $("transfer-target"); sel.textContent = "";
      ((S.teams && S.teams.teams) || []).forEach(function (t) {
        var o = el("option", "Team: " + t.name + (t.open_now ? "" : " (closed now)")); o.value = "team:" + t.key; sel.appendChild(o);
      });
      ((S.teams && S.teams.agents) || []).forEach(function (a) {
        if (a.email === S.me.key) return;
        var o = el("option", "Agent: " + a.display_name + (a.online ? " · online" : " · offline") + " · " + a.load + " open");
        o.value = "agent:" + a.email; sel.appendChild(o);
      });
      $("transfer-note").value = "";
      $("transfer-dialog").showModal(); sel.focus();
    });
  }
  $("transfer-cancel").addEventListener("click", function () { $("transfer-dialog").close(); });
  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = $("transfer-target").value, note = $("transfer-note").value;
    $("transfer-dialog").close();
    var body = v.indexOf("team:") === 0 ? { team: v.slice(5), note: note } : { agent: v.slice(6), note: note };
    act("transfer", body);
  });
  $("help-btn").addEventListener("click", function () { $("help-dialog").showModal(); });

  // -- keyboard --------------------------------------------------------------------------------------
  function move(delta) {
    var items = S.lists[S.tab]; if (!items.length) return;
    var i = items.findIndex(function (c) { return c.id === S.sel; });
    i = Math.max(0, Math.min(items.length - 1, i < 0 ? 0 : i + delta));
    openConversation(items[i].id);
  }
  document.addEventListener("keydown", function (ev) {
    if ($("app").hidden || document.querySelector("dialog[open]")) return;
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var k = ev.key, click = function (id) { if (!$(id).disabled) $(id).click(); };
    if (k === "j" || k === "ArrowDown") { ev.preventDefault(); move(1); }
    else if (k === "k" || k === "ArrowUp") { ev.preventDefault(); move(-1); }
    else if (k === "Enter" && !S.sel) { move(0); }
    else if (k === "q") setTab("queue");
    else if (k === "m") setTab("mine");
    else if (k === "h") setTab("history");
    else if (k === "f") { ev.preventDefault(); $("search").focus(); }
    else if (k === "c") click("act-claim");
    else if (k === "r") click("act-resolve");
    else if (k === "b") click("act-handback");
    else if (k === "t") click("act-transfer");
    else if (k === "/") { ev.preventDefault(); if (!$("reply").disabled) $("reply").focus(); }
    else if (k === "n") { ev.preventDefault(); $("note").focus(); }
    else if (k === "?") $("help-dialog").showModal();
  });

  // -- helpers ---------------------------------------------------------------------------------------
  function el(tag, text) { var e = document.createElement(tag); if (text != null) e.textContent = text; return e; }
  function span(cls, text) { var e = el("span", text); e.className = cls; return e; }
  function div(cls, text) { var e = el("div", text); e.className = cls; return e; }
  function plain(md) { return md.replace(/\*\*(.+?)\*\*/g, "$1").replace(/\[([^\]]+)\]\(([^)]+)\)/g, "$1: $2").replace(/^#+\s*/gm, ""); }
  function ago(iso) {
    var s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    return s < 60 ? "just now" : s < 3600 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h";
  }
  setInterval(function () { if (!$("app").hidden) renderLists(); }, 30000);

  api("GET", "/api/auth/me").then(start).catch(function () { showLogin(); });
})();
