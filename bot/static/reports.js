/* Reports, review inbox and content gaps: plain JavaScript, no build step. Charts with Chart.js (vendored
 * through npm, served by the hub). Every chart element and tile drills down to the conversations behind it
 * (/api/reports/conversations?chart=…&bucket=…). All text is inserted with textContent. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var S = { me: null, csrf: null, tab: "reports", charts: {}, report: null, targets: null, reason: "" };
  var OUTCOME_LABELS = { confirmed: "Bot resolved (confirmed)", assumed: "Bot resolved (assumed)", pending: "Bot: waiting 24 h",
    unresolved: "Bot: not resolved", handed_off: "Handed to a person", no_bot_turn: "No bot turn" };
  var OUTCOME_COLORS = { confirmed: "#1f7a3d", assumed: "#64b07c", pending: "#c9d3e6", unresolved: "#e0a33a",
    handed_off: "#2357d9", no_bot_turn: "#9aa5b8" };
  var REASONS = { not_helpful: "Not helpful", handoff_after_answer: "Handoff after an answer", out_of_scope: "Out of scope",
    fallback: "Not understood", choices: "Choices offered", low_confidence: "Low confidence" };

  // -- HTTP ------------------------------------------------------------------------------------------
  var api = SupportApi.client(function () { return S.csrf; }, function (status, path) {
    if (status === 401 && path !== "/api/auth/login") showLogin();
  });
  function showError(e) { $("error").textContent = e ? (e.message || String(e)) : ""; }

  // -- login -----------------------------------------------------------------------------------------
  function showLogin() { $("app").hidden = true; $("login").hidden = false; $("login-email").focus(); }
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault(); $("login-error").textContent = "";
    api("POST", "/api/auth/login", { email: $("login-email").value, password: $("login-password").value })
      .then(function () { $("login-password").value = ""; return api("GET", "/api/auth/me"); })
      .then(start).catch(function (e) { $("login-error").textContent = e.message; });
  });
  $("logout").addEventListener("click", function () { api("POST", "/api/auth/logout").finally(showLogin); });

  function start(me) {
    S.me = me.actor; S.csrf = me.csrf_token;
    $("login").hidden = true; $("app").hidden = false;
    $("me").textContent = S.me.display_name + " (" + S.me.role + ")";
    if (S.me.role !== "editor" && S.me.role !== "admin") {
      showError(new Error("Reports and the review inbox are for editors and admins. Ask an admin for the editor role."));
      return;
    }
    var end = new Date(), startDay = new Date(Date.now() - 29 * 864e5);
    $("f-start").value = startDay.toISOString().slice(0, 10); $("f-end").value = end.toISOString().slice(0, 10);
    var hash = (location.hash || "").slice(1);
    setTab(["review", "gaps"].indexOf(hash) >= 0 ? hash : "reports");
    loadReport(); loadReviewCount();
  }

  // -- tabs ------------------------------------------------------------------------------------------
  function setTab(tab) {
    S.tab = tab;
    document.querySelectorAll(".rtabs [role=tab]").forEach(function (b) { b.setAttribute("aria-selected", b.dataset.tab === tab ? "true" : "false"); });
    ["reports", "review", "gaps"].forEach(function (t) { $("tab-" + t).hidden = t !== tab; });
    history.replaceState(null, "", tab === "reports" ? location.pathname : "#" + tab);
    if (tab === "review") loadReview();
    if (tab === "gaps") loadGaps();
  }
  document.querySelectorAll(".rtabs [role=tab]").forEach(function (b) { b.addEventListener("click", function () { setTab(b.dataset.tab); }); });

  // -- filters ---------------------------------------------------------------------------------------
  function params(extra) {
    var p = new URLSearchParams();
    [["start", "f-start"], ["end", "f-end"], ["channel", "f-channel"], ["language", "f-language"], ["team", "f-team"], ["agent", "f-agent"]]
      .forEach(function (kv) { if ($(kv[1]).value) p.set(kv[0], $(kv[1]).value); });
    Object.keys(extra || {}).forEach(function (k) { if (extra[k] != null) p.set(k, extra[k]); });
    return p.toString();
  }
  $("filters").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (S.tab === "reports") loadReport(); else if (S.tab === "gaps") loadGaps(); else loadReview();
  });
  function fillOptions(options) {
    ["channel", "language", "team", "agent"].forEach(function (name) {
      var sel = $("f-" + name), keep = sel.value; sel.textContent = "";
      var all = el("option", "All"); all.value = ""; sel.appendChild(all);
      (options[name] || []).forEach(function (v) { var o = el("option", v); o.value = v; sel.appendChild(o); });
      sel.value = keep;
    });
  }

  // -- reports ---------------------------------------------------------------------------------------
  function loadReport() {
    showError(null); $("status").textContent = "Loading…";
    $("export").href = "/api/reports/export.csv?" + params();
    return api("GET", "/api/reports?" + params()).then(function (r) {
      S.report = r; fillOptions(r.options); renderTiles(r); renderCharts(r);
      $("status").textContent = r.summary.conversations + " conversations";
    }).catch(function (e) { $("status").textContent = ""; showError(e); });
  }
  function pct(x) { return x == null ? "—" : Math.round(x * 1000) / 10 + "%"; }
  function dur(s) {
    if (s == null) return "—";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 86400) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }
  function tile(box, label, value, sub, chart, bucket) {
    var t = document.createElement("button"); t.type = "button"; t.className = "tile";
    t.appendChild(div("label", label)); t.appendChild(div("value", value)); if (sub) t.appendChild(div("sub", sub));
    t.addEventListener("click", function () { drill(chart, bucket, label); });
    box.appendChild(t);
  }
  function renderTiles(r) {
    var s = r.summary, box = $("tiles"); box.textContent = "";
    tile(box, "Conversations", String(s.conversations), s.bot_conversations + " with the bot", "summary", "conversations");
    tile(box, "Bot resolved", pct(s.bot_resolved_rate), s.bot_resolved_confirmed + " confirmed · " + s.bot_resolved_assumed + " assumed", "summary", "bot_resolved");
    tile(box, "Handed to a person", pct(s.handoff_rate), s.handed_off + " conversations", "summary", "handed_off");
    tile(box, "KB answered", String(r.kb.answered), r.kb.choices + " choices · " + r.kb.missed + " missed", "kb", "answered");
    tile(box, "CSAT 4–5", pct(s.csat_share_4_5), s.csat_good + " of " + s.csat_answers + " ratings", "summary", "csat_answers");
    tile(box, "Helpful answers", pct(s.helpful_share), s.feedback_yes + " yes · " + s.feedback_no + " no", "summary", "feedback");
    var tb = $("time-tiles"); tb.textContent = "";
    [["time_to_assignment", "Time to assignment"], ["first_response", "First response"], ["reply_time", "Reply time"], ["resolution", "Resolution time"]]
      .forEach(function (kv) {
        var t = r.times[kv[0]];
        tile(tb, kv[1], dur(t.avg_s), "in business hours " + dur(t.avg_bh_s) + " · " + t.n + (kv[0] === "reply_time" ? " replies" : " conversations"), "times", kv[0]);
      });
  }
  var PALETTE = ["#2357d9", "#1f7a3d", "#e0a33a", "#b3261e", "#6b4fb3", "#0f8b8d", "#d4608a", "#7d8597", "#3f88c5", "#a4c639"];
  function makeChart(name, type, labels, values, buckets, opts) {
    var canvas = $("c-" + name); if (!canvas || !window.Chart) return;
    if (S.charts[name]) S.charts[name].destroy();
    var colors = buckets.map(function (b, i) {
      return (opts && opts.colors && opts.colors[b]) || (type === "doughnut" ? PALETTE[i % PALETTE.length] : "#2357d9");
    });
    S.charts[name] = new window.Chart(canvas, {
      type: type,
      data: { labels: labels, datasets: [{ label: (opts && opts.label) || "Conversations", data: values, backgroundColor: type === "line" ? "#2357d9" : colors,
                                           borderColor: type === "line" ? "#2357d9" : undefined, maxBarThickness: 38 }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: opts && opts.horizontal ? "y" : "x",
        plugins: { legend: { display: type === "doughnut", position: "bottom", labels: { boxWidth: 12 } },
                   tooltip: { callbacks: opts && opts.percent ? { label: function (c) { return pct(c.raw) + " (" + c.dataset.counts[c.dataIndex] + " ratings)"; } } : {} } },
        scales: type === "doughnut" ? {} : { y: { beginAtZero: true, ticks: opts && opts.percent && !opts.horizontal ? { callback: function (v) { return pct(v); } } : { precision: 0 } },
                                             x: { beginAtZero: true, ticks: opts && opts.percent && opts.horizontal ? { callback: function (v) { return pct(v); } } : { precision: 0 } } },
        onClick: function (ev, elements) {
          if (!elements.length) return;
          var i = elements[0].index;
          drill((opts && opts.chart) || name, buckets[i], (opts && opts.title ? opts.title + ": " : "") + labels[i]);
        },
        onHover: function (ev, elements) { ev.native.target.style.cursor = elements.length ? "pointer" : "default"; }
      }
    });
    if (opts && opts.counts) S.charts[name].data.datasets[0].counts = opts.counts;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", labels.map(function (l, i) { return l + ": " + (opts && opts.percent ? pct(values[i]) : values[i]); }).join(", "));
  }
  function renderCharts(r) {
    var c = r.charts;
    var chart = function (name, type, opts) {
      var rows = c[name] || [];
      makeChart(name, type, rows.map(function (b) { return (opts && opts.labels && opts.labels[b.bucket]) || b.bucket.replace(/_/g, " "); }),
                rows.map(function (b) { return b.value; }), rows.map(function (b) { return b.bucket; }),
                Object.assign({ counts: rows.map(function (b) { return b.conversations; }) }, opts || {}));
    };
    chart("volume", "bar", { title: "Started on" });
    chart("outcome", "doughnut", { labels: OUTCOME_LABELS, colors: OUTCOME_COLORS, title: "Outcome" });
    makeChart("kb", "bar", ["Answered", "Choices offered", "Missed"], [r.kb.answered, r.kb.choices, r.kb.missed],
              ["answered", "choices", "missed"], { label: "Bot turns", title: "Knowledge base", colors: { answered: "#1f7a3d", choices: "#e0a33a", missed: "#b3261e" } });
    chart("handoff_reason", "bar", { horizontal: true, title: "Handoff reason" });
    chart("intent", "bar", { horizontal: true, title: "Topic" });
    chart("channel", "bar", { title: "Channel" });
    chart("language", "bar", { title: "Language" });
    chart("team", "bar", { title: "Team" });
    chart("csat_agent", "bar", { horizontal: true, percent: true, label: "Share of 4–5", title: "CSAT" });
    chart("csat_team", "bar", { horizontal: true, percent: true, label: "Share of 4–5", title: "CSAT" });
  }

  // -- drill-down ------------------------------------------------------------------------------------
  function drill(chart, bucket, title) {
    var q = params({ chart: chart, bucket: bucket });
    $("drill").hidden = false; $("drill-title").textContent = title + " — loading…";
    $("drill-csv").href = "/api/reports/export.csv?" + q;
    api("GET", "/api/reports/conversations?" + q + "&limit=500").then(function (d) {
      $("drill-title").textContent = title + " — " + d.total + " conversation" + (d.total === 1 ? "" : "s") +
        (d.total > d.conversations.length ? " (first " + d.conversations.length + " shown; the CSV has all)" : "");
      var body = $("drill-rows"); body.textContent = "";
      d.conversations.forEach(function (row) {
        var tr = document.createElement("tr"); tr.dataset.id = row.conversation_id;
        [(row.started_at || "").replace("T", " ").slice(0, 16), row.channel, row.language, row.team || "—", row.agent || "—",
         (row.intent || "—").replace(/_/g, " "), OUTCOME_LABELS[row.outcome] || row.outcome,
         dur(row.first_response_s), row.csat_score == null ? "—" : String(row.csat_score), row.last_text || ""]
          .forEach(function (v, i) { var td = el("td", v); if (i === 9) td.className = "last"; tr.appendChild(td); });
        body.appendChild(tr);
      });
      $("drill").scrollIntoView({ block: "nearest" });
    }).catch(showError);
  }
  $("drill-close").addEventListener("click", function () { $("drill").hidden = true; });

  // -- review inbox ----------------------------------------------------------------------------------
  function loadReviewCount() {
    api("GET", "/api/review/items?limit=1").then(function (d) { $("review-count").textContent = d.total; }).catch(function () {});
  }
  function loadTargets() {
    if (S.targets) return Promise.resolve(S.targets);
    return api("GET", "/api/review/targets").then(function (t) { S.targets = t; return t; });
  }
  function loadReview() {
    showError(null);
    var q = new URLSearchParams({ limit: "100" });
    if (S.reason) q.set("reason", S.reason);
    if ($("f-language").value) q.set("language", $("f-language").value);
    return Promise.all([api("GET", "/api/review/items?" + q), loadTargets()]).then(function (r) {
      renderReasons(r[0].counts); renderReview(r[0].items);
      $("review-count").textContent = Object.keys(r[0].counts).reduce(function (n, k) { return n + r[0].counts[k]; }, 0);
    }).catch(showError);
  }
  function renderReasons(counts) {
    var box = $("reasons"); box.textContent = "";
    var all = Object.keys(counts).reduce(function (n, k) { return n + counts[k]; }, 0);
    [""].concat(Object.keys(REASONS)).forEach(function (k) {
      var b = el("button", (k ? REASONS[k] : "All") + " " + (k ? counts[k] || 0 : all));
      b.type = "button"; b.className = "chip" + (S.reason === k ? " on" : ""); b.setAttribute("aria-pressed", S.reason === k ? "true" : "false");
      b.addEventListener("click", function () { S.reason = k; loadReview(); });
      box.appendChild(b);
    });
  }
  function reasoning(r) {
    var bits = [];
    if (r.intent) bits.push("intent " + r.intent + (r.confidence != null ? " · " + Number(r.confidence).toFixed(2) : ""));
    if (r.kb_decision === "answer") bits.push("KB answered “" + (r.kb_entry_question || r.kb_entry_id) + "”" + (r.kb_score != null ? " (" + Number(r.kb_score).toFixed(2) + ")" : ""));
    else if (r.kb_decision === "choices") bits.push("KB offered " + r.kb_choice_questions.map(function (q) { return "“" + q + "”"; }).join(", ") + (r.kb_score != null ? " (best " + Number(r.kb_score).toFixed(2) + ")" : ""));
    else if (r.kb_decision === "none") bits.push("KB found nothing" + (r.kb_score != null ? " (best " + Number(r.kb_score).toFixed(2) + ")" : ""));
    if (r.outcome) bits.push("outcome " + r.outcome.replace(/_/g, " "));
    return bits.join(" · ");
  }
  function renderReview(items) {
    var list = $("review-list"); list.textContent = "";
    if (!items.length) { list.appendChild(el("li", "Nothing to review. Well done.")); return; }
    items.forEach(function (it) {
      var li = document.createElement("li"); li.className = "item"; li.dataset.id = it.message_id;
      var head = div("head", "");
      head.appendChild(span("quote", "“" + it.text + "”"));
      head.appendChild(span("badge", it.language));
      it.reasons.forEach(function (r) { head.appendChild(span("badge reason " + r, REASONS[r] || r)); });
      head.appendChild(span("sub", it.channel + " · " + (it.created_at || "").replace("T", " ").slice(0, 16)));
      li.appendChild(head);
      li.appendChild(div("why", "Bot's reasoning: " + reasoning(it.reasoning)));
      if (it.bot_replies.length) li.appendChild(div("said", "Bot said: " + it.bot_replies.map(function (b) { return b.text + (b.buttons.length ? " [" + b.buttons.join(" | ") + "]" : ""); }).join(" / ")));
      var next = [];
      if (it.helpful === false) next.push("the customer said it did not help");
      if (it.helpful === true) next.push("the customer said it helped");
      if (it.handoff) next.push("handed to a person (" + it.handoff.reason.replace(/_/g, " ") + ")");
      if (next.length) li.appendChild(div("next", "Then: " + next.join("; ")));
      if (it.agent_reply) li.appendChild(div("agent", "Agent " + (it.agent_reply.by || "") + " replied: " + it.agent_reply.text));
      li.appendChild(actions(it));
      list.appendChild(li);
    });
  }
  function actions(it) {
    var box = div("acts", ""), form = document.createElement("form"); form.className = "act-form"; form.hidden = true;
    var msg = el("span", ""); msg.className = "act-msg"; msg.setAttribute("role", "status");
    var open = function (kind) {
      form.textContent = ""; form.hidden = false; form.dataset.kind = kind;
      var lang = it.language, t = S.targets || { intents: {}, entries: [] };
      var text = input("text", it.text, "Text");
      if (kind === "example") {
        var names = t.intents[lang] || t.intents.en || [];
        var guess = it.reasoning.intent && names.indexOf(it.reasoning.intent) >= 0 && it.reasoning.intent !== "out_of_scope" ? it.reasoning.intent : "faq";
        form.appendChild(labelled("Intent", select("intent", names.map(function (n) { return [n, n.replace(/_/g, " ")]; }), guess)));
        form.appendChild(labelled("Language", select("language", Object.keys(t.intents).map(function (l) { return [l, l]; }), lang)));
      } else if (kind === "phrasing") {
        var entries = t.entries.filter(function (e) { return e.language === lang; });
        var pick = it.reasoning.kb_entry_id || (it.reasoning.kb_choices || [])[0] || "";
        form.appendChild(labelled("FAQ entry", select("entry_id", entries.map(function (e) { return [e.id, e.question]; }), pick)));
      } else if (kind === "draft") {
        form.appendChild(labelled("Question", input("question", it.text)));
        var a = document.createElement("textarea"); a.name = "answer"; a.value = it.agent_reply ? it.agent_reply.text : ""; a.placeholder = "The answer customers should get";
        form.appendChild(labelled("Answer", a));
      }
      if (kind !== "draft") form.appendChild(labelled("Text", text));
      var ok = el("button", kind === "example" ? "Add example" : kind === "phrasing" ? "Add phrasing" : "Save draft"); ok.type = "submit";
      form.appendChild(ok);
    };
    [["example", "Add as example"], ["phrasing", "Add as FAQ phrasing"], ["draft", "New FAQ draft"]].forEach(function (kv) {
      var b = el("button", kv[1]); b.type = "button"; b.dataset.act = kv[0];
      b.addEventListener("click", function () { open(kv[0]); });
      box.appendChild(b);
    });
    var dismiss = el("button", "Dismiss"); dismiss.type = "button"; dismiss.dataset.act = "dismiss";
    dismiss.addEventListener("click", function () { send({ action: "dismiss" }); });
    box.appendChild(dismiss);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { action: form.dataset.kind };
      Array.prototype.forEach.call(form.elements, function (f) { if (f.name && f.value) body[f.name] = f.value; });
      send(body);
    });
    function send(body) {
      msg.textContent = "Saving…";
      api("POST", "/api/review/items/" + encodeURIComponent(it.message_id), body).then(function (d) {
        msg.textContent = body.action === "dismiss" ? "Dismissed." : "Saved in the studio (change " + d.change.revision +
          "): it goes live when an editor publishes. ";
        if (body.action !== "dismiss") { var go = el("a", "Open the studio"); go.href = "/studio"; msg.appendChild(go); }
        form.hidden = true; box.closest("li").classList.add("handled");
        setTimeout(loadReview, 1200);
      }).catch(function (e) { msg.textContent = e.message; msg.classList.add("error"); });
    }
    var wrap = div("actions-wrap", ""); wrap.appendChild(box); wrap.appendChild(form); wrap.appendChild(msg);
    return wrap;
  }

  // -- content gaps ----------------------------------------------------------------------------------
  function loadGaps() {
    showError(null);
    var list = $("gaps-list"); list.textContent = ""; list.appendChild(el("li", "Grouping questions by meaning… (the first time takes a few seconds)"));
    api("GET", "/api/review/gaps?" + params()).then(function (d) {
      list.textContent = "";
      $("gaps-note").textContent = d.questions + " questions the bot missed, refused, answered with low confidence or unhelpfully, in " +
        d.clusters.length + " groups by meaning, the largest first.";
      if (!d.clusters.length) { list.appendChild(el("li", "No gaps in this period.")); return; }
      d.clusters.forEach(function (g) {
        var li = document.createElement("li"); li.className = "gap";
        var head = div("head", "");
        head.appendChild(span("quote", "“" + g.label + "”"));
        head.appendChild(span("badge", g.count + " asked"));
        head.appendChild(span("badge trend " + g.trend, g.trend + " (" + g.first_half + " → " + g.second_half + ")"));
        Object.keys(g.languages).forEach(function (l) { head.appendChild(span("badge", l + " " + g.languages[l])); });
        li.appendChild(head);
        var ul = document.createElement("ul"); ul.className = "samples";
        g.samples.forEach(function (s) { ul.appendChild(el("li", s.text + " (" + s.language + (s.times > 1 ? ", ×" + s.times : "") + ")")); });
        li.appendChild(ul);
        g.agent_replies.forEach(function (r) { li.appendChild(div("agent", "Agent " + (r.by || "") + " resolved it with: " + r.text)); });
        list.appendChild(li);
      });
    }).catch(function (e) { list.textContent = ""; showError(e); });
  }

  // -- helpers ---------------------------------------------------------------------------------------
  function el(tag, text) { var e = document.createElement(tag); if (text != null) e.textContent = text; return e; }
  function span(cls, text) { var e = el("span", text); e.className = cls; return e; }
  function div(cls, text) { var e = el("div", text); e.className = cls; return e; }
  function input(name, value) { var i = document.createElement("input"); i.name = name; i.value = value || ""; return i; }
  function select(name, options, value) {
    var s = document.createElement("select"); s.name = name;
    options.forEach(function (o) { var opt = el("option", o[1]); opt.value = o[0]; s.appendChild(opt); });
    if (value) s.value = value; return s;
  }
  function labelled(text, field) { var l = el("label", text + " "); l.appendChild(field); return l; }

  api("GET", "/api/auth/me").then(start).catch(function () { showLogin(); });
})();
